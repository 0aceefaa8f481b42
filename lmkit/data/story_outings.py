"""Plots that take their characters out: a walk in the park, shopping, a trip, a film…

Introduced in chapter 2. Each plot fills a :class:`~lmkit.data.story_draft.Draft` with events
and returns the story's one-line summary as ``(template id, bindings)``;
:mod:`lmkit.data.story_plots` lists every plot with its weight.
"""

from __future__ import annotations

from collections.abc import Callable

from lmkit.data.story_cast import Group
from lmkit.data.story_draft import (
    Draft,
    acts_at,
    animal_acts,
    animals_at,
    by_key,
    cities,
    goods,
    places,
)
from lmkit.data.story_lexicon import TYPES
from lmkit.data.story_opinions import opinion, pick_like
from lmkit.data.story_tables import read_json
from lmkit.data.story_templates import Phrase

_ORG_SHOPS: dict[str, str] = read_json("plots")["org_shops"]  # which shop an organisation is


def _outing(p: Draft) -> tuple[str, dict]:
    hero = p.person()
    when = p.pre(0.6)
    if p.chance(0.3):  # the weather sentence says when, so the next one does not
        tid = p.pick(["weather_when", "weather_city"])
        p.add(
            tid,
            weather=p.key("WEATHER", "sunny warm"),
            timef=p.entry("TIME_END"),
            city=p.entry("CITY"),
        )
        when = p.pre(0.0, 0.0, 0.5)
    else:
        p.intro(hero, 0.4)
    place = p.pick(places("out"))
    friend = p.person() if p.chance(0.3) else None
    if friend:
        p.add("go_with", when, S=hero, place=place, O=friend)
    elif p.chance(0.25):
        p.add("go_by", when, S=hero, vehicle=p.entry("LOCAL_VEHICLE"), place=place)
    else:
        p.add("go", when or p.pre(0.0, 0.0, 0.6), S=hero, place=place)
    summary, reason = None, None
    animals = animals_at(place.key)
    if animals and p.chance(0.8):
        anp = p.pick(animals)
        base = by_key("ANIMAL")[anp.attrs["animal"]]
        r = p.rng.random()
        if r < 0.4:
            p.add("see_there", p.pre(0.0, 0.3, 0.2), S=hero, anp=anp)
        elif r < 0.75:
            p.add("see", p.pre(0.0, 0.0, 0.3), S=hero, anp=anp, where=place)
        else:  # several of them; later sentences talk about one
            p.add(
                "see_many",
                p.pre(0.0, 0.0, 0.3),
                S=hero,
                num=p.entry("NUM"),
                animal=base,
                where=place,
            )
            anp = base
        the = anp if p.chance(0.4) else base  # "the white dog" or just "the dog"
        if p.chance(0.5):
            p.add("anim_act", p.pre(0.0, 0.2), anp=the, aact=p.pick(animal_acts(base.key)))
        else:
            p.add(p.pick(["anim_adj", "anim_adj_very"]), anp=the, aadj=p.entry("ANIMAL_ADJ"))
        if p.chance(0.6):
            tid = p.pick(["feed", "play_anim", "photo_anim"])
            p.add(tid, p.pre(0.0, 0.4), S=hero, anp=base, food=p.animal_food())
        summary = ("sum_see", {"S": hero, "place": place, "anp": anp})
        reason = Phrase(
            p.pick(["r_cute", "r_saw"]), {"S": hero, "anp": base if p.chance(0.5) else anp}
        )
    acts = acts_at(place.key)
    if acts and (summary is None or p.chance(0.35)):
        act = p.pick(acts)
        if friend and p.chance(0.5):
            p.add("act_with", p.pre(0.0, 0.4), S=hero, act=act, O=friend)
        else:
            p.add("act_at", p.pre(0.0, 0.4, 0.3), S=hero, act=act, where=place)
        summary = summary or ("sum_act", {"S": hero, "place": place, "act": act})
    if reason is None and p.chance(0.5):
        p.add(
            "fun_with" if friend else "fun_at", p.pre(0.0, 0.3, 0.3), S=hero, O=friend, where=place
        )
    else:
        p.feel(hero, reason, "happy glad excited", pre=0.3)
    if p.chance(0.5):
        p.home(hero, friend)
    return summary or ("go", {"S": hero, "place": place})


def _shopping(p: Draft) -> tuple[str, dict]:
    hero = p.person()
    friend = p.person() if p.chance(0.6) else None
    org = p.entry("SHOP_ORG") if p.chance(0.35) else None
    shop = by_key("PLACE")[_ORG_SHOPS[org.key]] if org else p.entry("SHOP")
    things, foods = goods(shop.key)
    if org:
        p.add("go_org", p.pre(0.7), S=hero, org=org)
    elif friend:
        p.add("go_with", p.pre(0.7), S=hero, place=shop, O=friend)
    else:
        p.add("go", p.pre(0.7), S=hero, place=shop)
    where = {"org": org} if org else {"shop": shop}
    suffix = "_org" if org else ""
    if foods and (not things or p.chance(0.5)):
        fruit = (
            p.food("COUNT") if by_key("FOOD")["apple"] in foods and p.chance(0.5) else p.pick(foods)
        )
        summary = (
            "buy_count" + suffix,
            {"S": hero, "num": p.entry("NUM"), "count": fruit, **where},
        )
    else:
        summary = ("buy" + suffix, {"S": hero, "thing": p.pick(things), **where})
    p.add(summary[0], **summary[1])
    if friend and things:
        if p.chance(0.5):
            p.add("buy" + suffix, S=friend, thing=p.pick(things), **where)
        else:
            p.add("buy_thing", p.pre(0.0, 0.3), S=friend, thing=p.pick(things))
        if p.chance(0.4):
            p.add("give_thing", p.pre(0.0, 0.5), S=hero, O=friend, thing=p.pick(things))
    who = Group((hero, friend)) if friend else hero
    if p.chance(0.5):
        p.add(
            p.pick(["eat", "drink"]),
            p.pre(0.0, 0.5, 0.4),
            S=who,
            food=p.food(),
            drink=p.entry("DRINK"),
        )
    p.home(who)
    bought = summary[1].get("thing")
    reason = Phrase("r_bought", {"S": hero, "thing": bought}) if bought and who is hero else None
    p.feel(who, reason, "happy glad excited" if reason else "happy glad tired")
    if not org:
        summary = ("sum_shop_food" if "count" in summary[1] else "sum_shop", summary[1])
    return summary


def _bad_weather(p: Draft) -> tuple[str, dict]:
    hero = p.person()
    weather = p.key("WEATHER", "rain heavyrain windy cold hot foggy")
    if p.chance(0.35):
        p.add("live", S=hero, city=p.pick(cities("cn")))
        p.add(
            "weather_city", weather=weather, city=p.events[-1][1]["city"], timef=p.entry("TIME_END")
        )
    elif p.chance(0.85):
        p.add("weather_when", weather=weather, timef=p.entry("TIME_END"))
    else:
        p.add("weather", weather=weather)
    place = p.pick(places("out"))
    if p.chance(0.2) and "rain" in weather.key:
        p.add("umbrella", S=hero, weather=weather)
        p.add("go", S=hero, place=place)
        p.feel(hero, None, "happy glad tired")
        return "umbrella", {"S": hero, "weather": weather}
    p.add(p.pick(["rain_no_go", "rain_stay"]), S=hero, weather=weather, place=place)
    act = p.pick(acts_at("home"))
    if p.chance(0.3):
        p.add(p.pick(["read_about", "read_city", "watch_about"]), S=hero, animal=p.entry("ANIMAL"),
              city=p.entry("CITY"))  # fmt: skip
    else:
        p.add("act_at", S=hero, act=act, where=by_key("IN_PLACE")["home"])
    if p.chance(0.5):
        friend = p.person()
        if p.chance(0.5):
            p.add("call", p.pre(0.0, 0.5), S=hero, O=friend)
        else:
            p.add("visit", p.pre(0.0, 0.5), S=friend, O=hero)
        p.add("feel_again", p.pre(0.0, 0.4, 0.3), S=hero, feel=p.key("FEEL", "happy glad"))
    else:
        reason = (
            Phrase("r_nothing", {"S": hero})
            if p.chance(0.5)
            else Phrase("r_weather", {"weather": weather})
        )
        p.feel(hero, reason, "bored sad", because=0.8)
    return "sum_rain", {"weather": weather, "S": hero, "act": act}


def _trip(p: Draft) -> tuple[str, dict]:
    hero = p.person()
    home = p.pick(cities("cn"))
    dest = p.pick([c for c in TYPES["CITY"] if c is not home])
    p.add(p.pick(["live", "born"]), S=hero, city=home)
    vehicle = p.key("TRAVEL_VEHICLE", "train plane bus") if dest.attrs["kind"] == "cn" else None
    vehicle = vehicle or by_key("TRAVEL_VEHICLE")["plane"]
    summary = ("travel", {"S": hero, "vehicle": vehicle, "city": dest})
    p.add("travel", p.pre(0.8), **summary[1])
    if p.chance(0.3):
        timef = p.timef()
        if timef:
            p.add("weather_city", weather=p.entry("WEATHER"), city=dest, timef=timef)
    if p.chance(0.5):
        friend = p.person()
        p.add("visit", p.pre(0.0, 0.5), S=hero, O=friend)
        summary = ("sum_trip", {"S": hero, "city": dest, "O": friend})
        p.feel(hero, Phrase("r_see_again", {"S": hero, "O": friend}), "happy glad excited")
    else:
        place = p.pick(places("out"))
        p.add("go", p.pre(0.0, 0.5), S=hero, place=place)
        if p.chance(0.6):
            p.add("act", S=hero, act=p.pick(acts_at(place.key)))
        if p.chance(0.5):
            p.add("eat_at", p.pre(0.0, 0.3, 0.3), S=hero, food=p.food(), where=place)
        p.feel(hero, None, "excited happy glad tired")
    return summary


def _pair(p: Draft) -> tuple[str, dict]:
    a, b = p.person(), p.person()
    pair = Group((a, b))
    p.add("friends", N=a, N2=b)
    place = p.pick(places("out"))
    p.add("go", p.pre(0.7), S=pair, place=place)
    act = p.pick(acts_at(place.key))
    p.add(p.pick(["act_together", "act_at"]), p.pre(0.0, 0.3, 0.3), S=pair, act=act, where=place)
    animals = animals_at(place.key)
    if animals and p.chance(0.5):
        p.add("see_there", S=pair, anp=p.pick(animals))
    if p.chance(0.4):
        p.add("fun_at", p.pre(0.0, 0.3, 0.3), S=pair, where=place)
    else:
        p.feel(
            pair,
            Phrase("r_weather", {"weather": p.key("WEATHER", "sunny warm")}),
            "happy glad excited",
        )
    if p.chance(0.5):
        p.home(pair)
    return "sum_together", {"S": pair, "act": act, "where": place}


def _movie(p: Draft) -> tuple[str, dict]:
    hero, friend = p.person(), p.person()
    pair = Group((hero, friend))
    p.add("go_with", p.pre(0.7), S=hero, place=by_key("PLACE")["cinema"], O=friend)
    p.add("watch_about", p.pre(0.0, 0.3, 0.3), S=pair, animal=p.entry("ANIMAL"))
    movie = by_key("TARGET_story")["the movie"]
    tid, bindings, label, _ = opinion(p.rng, "story", movie, hero, shapes=("single", "but", "and"))
    p.add(tid, **bindings)
    like = pick_like(p.rng, label)
    if p.chance(0.5):
        p.add("s_story_like", S=friend, like=pick_like(p.rng, int(p.chance(0.5))), t=movie)
    p.home(pair)
    return "s_story_like", {"S": hero, "like": like, "t": movie}


OUTINGS: dict[str, Callable[[Draft], tuple[str, dict]]] = {
    "outing": _outing,
    "shopping": _shopping,
    "bad_weather": _bad_weather,
    "trip": _trip,
    "pair": _pair,
    "movie": _movie,
}
"""The plots of this module by name (their weights are in :data:`lmkit.data.story_plots.PLOTS`)."""

__all__ = ["OUTINGS"]
