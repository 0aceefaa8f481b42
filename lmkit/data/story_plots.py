"""Story plots: what happens in a story, planned before it is written in any language.

Introduced in chapter 2. A plot picks characters and lexicon entries and lists the sentence
templates to use, in order: a *frame*. Coherence comes from the plot (the dog seen in the park is
the dog that is later fed; a feeling comes with a reason that fits it), grammar from
:mod:`lmkit.data.story_grammar`, words from :mod:`lmkit.data.story_lexicon`. All randomness
comes from the ``random.Random`` passed in. This module holds the plots at home, at school and
at work, and :data:`PLOTS`, the list of every plot; the outings are in
:mod:`lmkit.data.story_outings`, the tools a plot writes with in :mod:`lmkit.data.story_draft`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lmkit.data.story_cast import Character, Group
from lmkit.data.story_draft import Draft, acts_at, animal_acts, by_key, cities, drop_none
from lmkit.data.story_lexicon import TYPES, Entry
from lmkit.data.story_opinions import opinion
from lmkit.data.story_outings import OUTINGS
from lmkit.data.story_tables import read_json
from lmkit.data.story_templates import TEMPLATES, Phrase


@dataclass(frozen=True)
class Frame:
    """A planned story, before it has a language: the plot's name, its events and a summary."""

    plot: str
    events: tuple[tuple[str, Mapping[str, Any]], ...]
    summary: tuple[str, Mapping[str, Any]]

    def describe(self) -> list[tuple[str, dict[str, str]]]:
        """The events as (template id, {slot: entry key or character}) for reading."""
        return [(tid, {k: _describe(v) for k, v in b.items()}) for tid, b in self.events]


def _describe(value: Any) -> str:
    if isinstance(value, Entry):
        return value.key
    if isinstance(value, Phrase):
        return f"{value.tid}({', '.join(_describe(v) for v in value.bindings.values())})"
    return str(value)


REASON_FEELINGS: dict[str, str] = read_json("plots")["reason_feelings"]
"""Which feelings each reason can explain (r_weather depends on the weather)."""
_ROLE_ORGS: dict[str, str] = read_json("plots")["role_orgs"]  # where each job is done
_PETS: tuple[str, ...] = tuple(read_json("plots")["pets"])


# ---------------------------------------------------------------- plots at home, school and work
def _narrator(p: Draft) -> tuple[str, dict]:
    me, mum = Character("I", "m", narrator=True), p.relative()
    food = p.food()
    p.add("like_food", S=me, food=food)
    tags = food.attrs["tags"]
    if "fruit" in tags and p.chance(0.3):
        p.add("fruit_kind", fruit=food)
    elif "veg" in tags and p.chance(0.6):
        p.add("veg_kind", veg=food)
    if p.chance(0.5):
        p.add("habit_eat", S=me, food=p.food(), habit=p.entry("HABIT"))
    if "count" in tags and p.chance(0.7):
        shop = p.key("SHOP", "market supermarket fruitshop")
        if p.chance(0.4):
            p.add("habit_buy", S=mum, count=food, shop=shop)
        else:
            who = Group((mum, me)) if p.chance(0.4) else mum
            p.add("buy_count", p.pre(0.7), S=who, num=p.entry("NUM"), count=food, shop=shop)
    treat = None
    if p.chance(0.5) or len(p.events) < 3:
        treat = Phrase("r_treat", {"S": mum, "O": me, "food": p.food()})
        p.add("give_food", p.pre(0.3, 0.3), **treat.bindings)
    if p.chance(0.3):
        p.add("like_drink", S=me, drink=p.entry("DRINK"))
    if p.chance(0.3):
        p.add("dislike_food", S=me, food=p.entry("FOOD"))
    p.feel(me, treat, "happy glad")
    return "sum_like", {"S": me, "food": food}


def _work(p: Draft) -> tuple[str, dict]:
    hero = p.person()
    role = p.pick([e for e in TYPES["ROLE"] if e.key in _ROLE_ORGS])
    org = p.key("ORG", _ROLE_ORGS[role.key])
    if p.chance(0.5):
        p.add("role_at", S=hero, role=role, org=org)
    else:
        p.add("role", S=hero, role=role)
        p.add("work", S=hero, org=org)
    city = p.pick(cities("cn"))
    summary = ("sum_work", {"S": hero, "org": org, "city": city})
    if p.chance(0.5):
        p.add("org_city", org=org, city=city)
    elif p.chance(0.5):
        p.add("live", S=hero, city=city)
    else:
        summary = ("work", {"S": hero, "org": org})
    reason = Phrase(p.pick(["r_work", "r_bus", "r_sleep", "r_walk"]), {"S": hero})
    feel, _ = p.feel(hero, reason, REASON_FEELINGS[reason.tid], because=0.8)
    p.home(hero)
    if feel.key in ("hungry", "thirsty") or p.chance(0.5):
        tid = "drink" if feel.key == "thirsty" else p.pick(["eat", "eat_at"])
        p.add(tid, p.pre(0.0, 0.0, 0.4), S=hero, food=p.food(), drink=p.entry("DRINK"),
              where=by_key("IN_PLACE")["home"])  # fmt: skip
        if feel.key in ("hungry", "thirsty"):
            p.add("feel_no_more", p.pre(0.0, 0.3, 0.3), S=hero, feel=feel)
    return summary


def _school(p: Draft) -> tuple[str, dict]:
    hero, friend = p.person(), p.person()
    intro = [
        ("age", {"S": hero, "age": p.entry("AGE")}),
        ("study", {"S": hero, "org": p.entry("SCHOOL_ORG")}),
    ]
    for tid, bindings in intro[:: p.pick([1, -1])][: p.pick([1, 2])]:
        p.add(tid, **bindings)
    if p.chance(0.5):
        p.add("go", p.pre(0.8), S=hero, place=by_key("PLACE")["school"])
        reason = Phrase(p.pick(["r_exam", "r_exam_bad"]), {"S": hero})
    else:
        act = p.key("ACT", "football basketball pingpong chess")
        p.add("act_with", p.pre(0.8), S=hero, act=act, O=friend)
        reason = Phrase(p.pick(["r_win", "r_lose_game"]), {"S": hero})
    feel, _ = p.feel(hero, reason, REASON_FEELINGS[reason.tid], because=1.0)
    if p.chance(0.5):
        p.home(hero)
    if p.chance(0.4):
        p.add("want_act", S=hero, act=p.entry("ACT"))
    return "feel_because", {"S": hero, "feel": feel, "reason": reason}


def _lost(p: Draft) -> tuple[str, dict]:
    hero, friend = p.person(), p.person()
    first = p.entry("THING")
    thing = by_key("THING")[first.attrs["object"]]  # "her red hat", later just "her hat"
    p.add("lose", p.pre(0.6), S=hero, thing=first)
    p.feel(
        hero,
        Phrase("r_lost", {"S": hero, "thing": thing}) if p.chance(0.2) else None,
        "sad worried",
    )
    if p.chance(0.5):
        p.add("look", S=hero, thing=thing)
    p.add("help_look", p.pre(0.0, 0.4), S=friend, O=hero)
    spot = p.entry("SPOT")
    p.add("find", p.pre(0.0, 0.5), S=hero, thing=thing, spot=spot)
    if p.chance(0.4):
        p.add("feel_again", p.pre(0.0, 0.4, 0.3), S=hero, feel=p.key("FEEL", "happy glad"))
    else:
        p.feel(hero, Phrase("r_found", {"S": hero, "thing": thing}), "happy glad", because=1.0)
    tid = p.pick(["thank", "thank_help", "thank_gift", "home_with"])
    p.add(tid, p.pre(0.0, 0.3), S=hero, O=friend, food=p.food())
    return "sum_lost", {"S": hero, "thing": first, "spot": spot}


def _cooking(p: Draft) -> tuple[str, dict]:
    hero, guest = p.person(), p.person()
    summary = ("cook", {"S": hero, "dish": p.entry("DISH"), "O": guest})
    p.add("cook", p.pre(0.7), **summary[1])
    target = by_key("TARGET_food")[p.pick(["the meal", "the dish"])]
    tid, bindings, label, _ = opinion(p.rng, "food", target, guest)
    p.add(tid, **bindings)
    p.add("thank", S=guest, O=hero)
    p.feel(hero, None, "happy glad proud" if label else "sad surprised")
    return summary


def _pet(p: Draft) -> tuple[str, dict]:
    hero = p.person()
    anp = p.pick([e for e in TYPES["ANP"] if e.attrs["animal"] in _PETS])
    base = by_key("ANIMAL")[anp.attrs["animal"]]
    p.add("pet", S=hero, anp=anp)
    p.add(p.pick(["anim_adj", "anim_adj_very"]), anp=base, aadj=p.entry("ANIMAL_ADJ"))
    tid = p.pick(["play_anim", "feed", "photo_anim"])
    p.add(tid, p.pre(0.0, 0.3), S=hero, anp=base, food=p.animal_food())
    if p.chance(0.6):
        p.add("anim_act", anp=base, aact=p.pick(animal_acts(base.key)))
    p.feel(hero, Phrase("r_cute", {"anp": base}), "happy glad", because=0.7)
    return "pet", {"S": hero, "anp": anp}


def _day(p: Draft) -> tuple[str, dict]:
    hero, friend = p.person(), p.person()
    where = p.pick([e for e in TYPES["IN_PLACE"] if acts_at(e.key)])
    p.add("act_at", p.pre(0.8), S=hero, act=p.pick(acts_at(where.key)), where=where)
    tid = p.pick(["r_party", "r_letter", "r_moved", "r_ill", "r_wait", "r_dark", "r_noise", "r_gift",
                  "r_walk", "r_breakfast", "r_sleep", "r_bus"])  # fmt: skip
    if tid in ("r_moved", "r_ill"):
        bindings = {"S": friend, "city": p.entry("CITY")}
    elif tid == "r_gift":
        bindings = {"S": friend, "O": hero, "thing": p.entry("THING")}
    else:
        bindings = {"S": hero, "O": friend}
    reason = Phrase(tid, {k: v for k, v in bindings.items() if k in TEMPLATES[tid].types})
    feel, _ = p.feel(hero, reason, REASON_FEELINGS[tid], because=1.0)
    if feel.key == "hungry":
        p.add("eat", p.pre(0.0, 0.5, 0.4), S=hero, food=p.food())
        p.add("feel_no_more", p.pre(0.0, 0.3, 0.3), S=hero, feel=feel)
    elif feel.key == "thirsty":
        p.add("drink", p.pre(0.0, 0.5), S=hero, drink=p.entry("DRINK"))
        p.add("feel_no_more", p.pre(0.0, 0.3, 0.3), S=hero, feel=feel)
    elif feel.attrs["valence"] == "-":
        p.add("call", p.pre(0.0, 0.5), S=hero, O=p.person())
    else:
        p.add("share", S=hero, O=p.person(), food=p.food())
    return "feel_because", {"S": hero, "feel": feel, "reason": reason}


PLOTS: dict[str, tuple[float, Callable[[Draft], tuple[str, dict]]]] = {
    "outing": (3.0, OUTINGS["outing"]),
    "narrator": (2.0, _narrator),
    "shopping": (2.0, OUTINGS["shopping"]),
    "bad_weather": (1.5, OUTINGS["bad_weather"]),
    "work": (1.5, _work),
    "school": (1.5, _school),
    "lost": (1.5, _lost),
    "trip": (1.5, OUTINGS["trip"]),
    "pair": (1.5, OUTINGS["pair"]),
    "movie": (1.0, OUTINGS["movie"]),
    "cooking": (1.0, _cooking),
    "pet": (1.0, _pet),
    "day": (1.5, _day),
}
"""Each plot's weight and function."""


def plan(rng: random.Random) -> Frame:
    """Choose a plot and plan one story (3-8 sentences) with it."""
    names, weights = list(PLOTS), [w for w, _ in PLOTS.values()]
    name = rng.choices(names, weights)[0]
    p = Draft(rng)
    tid, bindings = PLOTS[name][1](p)
    events = drop_none(p.events)
    return Frame(name, events, (tid, {k: v for k, v in bindings.items() if v is not None}))


__all__ = ["PLOTS", "REASON_FEELINGS", "Character", "Frame", "Group", "opinion", "plan"]
