"""Story plots: what happens in a story, planned before it is written in any language.

Introduced in chapter 2. A plot picks characters and lexicon entries and lists the sentence
templates to use, in order: a *frame*. Coherence comes from the plot (the dog seen in the park is
the dog that is later fed; a feeling comes with a reason that fits it), grammar from
:mod:`lmkit.data.story_grammar`, words from :mod:`lmkit.data.story_lexicon`. All randomness
comes from the ``random.Random`` passed in.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from lmkit.data.story_grammar import TEMPLATES, Phrase
from lmkit.data.story_lexicon import OPINION_CATEGORIES, TYPES, Entry


@dataclass(frozen=True, eq=False)
class Character:
    """A person in a story: a named character, a family member ("my mother") or the narrator."""

    key: str
    gender: str
    name: Entry | None = None
    family: Entry | None = None
    narrator: bool = False

    @property
    def person(self) -> str:
        return "i" if self.narrator else self.gender

    def __str__(self) -> str:
        return "I" if self.narrator else (self.name or self.family).en["n"]  # type: ignore[union-attr]


@dataclass(frozen=True, eq=False)
class Group:
    """Two people acting together: "Tom and Lucy" / they, or "my mother and I" / we."""

    members: tuple[Character, ...]

    @property
    def person(self) -> str:
        return "we" if any(m.narrator for m in self.members) else "they"

    @property
    def all_female(self) -> bool:
        return all(m.gender == "f" for m in self.members)

    def __str__(self) -> str:
        return " and ".join(map(str, self.members))


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


# ---------------------------------------------------------------- word pools (cached, ordered)
@cache
def _by_key(type_name: str) -> dict[str, Entry]:
    return {e.key: e for e in TYPES[type_name]}


@cache
def _edible(type_name: str) -> tuple[Entry, ...]:
    # nobody eats a raw potato or a whole watermelon in one go
    return tuple(e for e in TYPES[type_name] if e.key not in ("potato", "watermelon"))


@cache
def _goods(shop: str) -> tuple[tuple[Entry, ...], tuple[Entry, ...]]:
    """What a shop sells: (things, countable foods)."""
    things = _SHOP_THINGS.get(shop, "").split()
    foods = _SHOP_FOODS.get(shop, "").split()
    return (
        tuple(e for e in TYPES["THING"] if e.attrs["object"] in things),
        tuple(
            e for e in TYPES["COUNT"] if e.key in foods or (foods == ["*"] and e.key != "sandwich")
        ),
    )


@cache
def _places(tag: str) -> tuple[Entry, ...]:
    return tuple(e for e in TYPES["PLACE"] if tag in e.attrs["tags"])


@cache
def _animals_at(place: str) -> tuple[Entry, ...]:
    allowed = _by_key("IN_PLACE")[place].attrs["animals"]
    return tuple(e for e in TYPES["ANP"] if e.attrs["animal"] in allowed)


@cache
def _animal_acts(animal: str) -> tuple[Entry, ...]:
    return tuple(
        e for e in TYPES["ANIMAL_ACT"] if "*" in e.attrs["animals"] or animal in e.attrs["animals"]
    )


@cache
def _acts_at(place: str) -> tuple[Entry, ...]:
    return tuple(e for e in TYPES["ACT"] if place in e.attrs["places"])


@cache
def _cities(kind: str) -> tuple[Entry, ...]:
    return tuple(e for e in TYPES["CITY"] if e.attrs["kind"] == kind)


REASON_FEELINGS = {
    "r_found": "happy glad", "r_lost": "sad worried", "r_gift": "happy glad surprised excited",
    "r_saw": "happy excited surprised", "r_sleep": "tired sleepy", "r_breakfast": "hungry",
    "r_win": "happy proud excited", "r_lose_game": "sad angry", "r_bus": "worried angry",
    "r_exam": "happy proud", "r_exam_bad": "sad worried", "r_walk": "tired thirsty hungry",
    "r_work": "tired", "r_party": "happy excited", "r_cute": "happy glad",
    "r_letter": "happy glad surprised", "r_dark": "scared", "r_noise": "scared",
    "r_nothing": "bored", "r_moved": "sad lonely", "r_wait": "angry bored", "r_ill": "worried sad",
    "r_bought": "happy glad excited", "r_treat": "happy glad", "r_see_again": "happy glad excited",
}  # fmt: skip
"""Which feelings each reason can explain (r_weather depends on the weather)."""

_ROLE_ORGS = {
    "doctor": "riverside", "nurse": "riverside", "teacher": "redstar sunshine_ms hope greenhill rainbow",
    "cook": "springtea ocean luckynoodle maple", "waiter": "springtea ocean luckynoodle maple",
    "baker": "sunbakery", "pilot": "bluesky", "reporter": "morningstar", "writer": "morningstar",
    "driver": "swift", "postman": "swift", "farmer": "happyfarm", "singer": "moonlight",
    "worker": "goldenapple swift", "engineer": "goldenapple bluesky", "scientist": "goldenapple",
}  # fmt: skip
_PETS = ("dog", "puppy", "cat", "kitten", "rabbit", "bird", "fish", "turtle")
_LATER = tuple(e for e in TYPES["TIME"] if e.attrs["later"])
_SHOP_THINGS = {
    "bookstore": "book pen pencil notebook map", "toyshop": "ball kite toycar doll teddy",
    "supermarket": "cup umbrella box pen pencil notebook ball",
    "market": "hat scarf cup umbrella schoolbag sweater dress coat",
}  # fmt: skip
_SHOP_FOODS = {
    "market": "*", "supermarket": "*", "bakery": "bun sandwich",
    "fruitshop": "apple banana orange pear peach watermelon mango strawberry",
}  # fmt: skip
_ORG_SHOPS = {
    "sunbakery": "bakery",
    "greenleaf": "bookstore",
    "startoys": "toyshop",
    "pandamarket": "supermarket",
}
_ANIMAL_FOOD = ("bread", "cookie", "carrot", "rice", "apple", "banana")


class _Plot:
    """Scratch space for one plot: the random generator, the events so far, names in use."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.events: list[tuple[str, dict]] = []
        self.used: set[str] = set()
        self.dated = False  # has the story said which day it is?
        self.hour: float | None = None  # the latest hour of the day the story has reached

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, seq: Sequence[Any]) -> Any:
        return seq[self.rng.randrange(len(seq))]

    def entry(self, type_name: str) -> Entry:
        return self.pick(TYPES[type_name])

    def key(self, type_name: str, keys: str) -> Entry:
        return _by_key(type_name)[self.pick(keys.split())]

    def food(self, type_name: str = "FOOD") -> Entry:
        apple = _by_key("FOOD")["apple"]
        if apple in TYPES[type_name] and self.chance(0.3):  # 苹果 is the book's running example
            return apple
        return self.pick(_edible(type_name))

    def timef(self) -> Entry | None:
        """A time for the end of a sentence that does not contradict the story's day so far."""
        if not self.dated:
            return self.entry("TIME_END")
        later = [e for e in _LATER if self.hour is None or e.attrs["hour"] > self.hour]
        return self.pick(later) if later else None

    def person(self, gender: str | None = None) -> Character:
        pool = TYPES["NAME" if gender is None else "NAME_" + gender.upper()]
        while True:
            entry = self.pick(pool)
            if entry.key not in self.used:
                self.used.add(entry.key)
                return Character(entry.key, entry.attrs["gender"], name=entry)

    def relative(self) -> Character:
        entry = self.entry("FAMILY")
        return Character(entry.key, entry.attrs["gender"], family=entry)

    def pre(self, p_time: float = 0.0, p_seq: float = 0.0, p_later: float = 0.0) -> str | None:
        """Which opening a sentence gets: a time ("time"), a later time of day ("later"),
        "after that" and friends ("seq"), or none."""
        r = self.rng.random()
        if r < p_time:
            return "time"
        if r < p_time + p_seq:
            return "seq"
        return "later" if r < p_time + p_seq + p_later else None

    def add(self, tid: str, pre: str | None = None, **bindings: Any) -> None:
        """Append an event; ``pre`` asks for an opening ("time", "later" or "seq") if it fits.

        One story is one day: once a day is named, a new "time" becomes a later hour of that
        day, and when the day is over it becomes "after that".
        """
        if pre == "time" and self.dated:
            pre = "later"
        if pre == "later":
            later = [e for e in _LATER if self.hour is None or e.attrs["hour"] > self.hour]
            if later and tid + "+time" in TEMPLATES:
                tid, bindings["time"] = tid + "+time", self.pick(later)
            pre = None if "time" in bindings else "seq"
        elif pre == "time" and tid + "+time" in TEMPLATES:
            tid, bindings["time"] = tid + "+time", self.entry("TIME")
        if pre == "seq" and tid + "+seq" in TEMPLATES:
            tid, bindings["seq"] = tid + "+seq", self.entry("SEQ")
        when = bindings.get("time") or bindings.get("timef")
        if when is not None:
            self.dated = True
            self.hour = when.attrs["hour"] if when.attrs["hour"] is not None else self.hour
        types = TEMPLATES[tid].types  # plots pass spare words; keep the template's own slots
        self.events.append((tid, {k: v for k, v in bindings.items() if k in types}))

    def home(self, who: Any, friend: Any = None) -> None:
        """ "…went home", maybe "in the evening" or "after that" (never a new day)."""
        tid = self.pick(["home", "home", "home_by"] + (["home_with"] * 2 if friend else []))
        self.hour = max(self.hour or 0.0, 14.0)  # nobody goes home at eight in the morning
        self.add(
            tid, self.pre(0.0, 0.45, 0.45), S=who, O=friend, vehicle=self.entry("LOCAL_VEHICLE")
        )

    def intro(self, hero: Character, p: float, kid: bool = False) -> None:
        if not self.chance(p):
            return
        r = self.rng.random()
        if r < 0.2:
            self.add(
                "age" if kid else "born", S=hero, age=self.entry("AGE"), city=self.entry("CITY")
            )
        elif r < 0.4 and not kid:
            self.add(
                "role", S=hero, role=self.pick([e for e in TYPES["ROLE"] if not e.attrs["kid"]])
            )
        elif r < 0.6:
            self.add("live", S=hero, city=self.entry("CITY"))
        elif r < 0.8:
            self.add("like_act", S=hero, act=self.entry("ACT"))
        else:
            self.add("like_food", S=hero, food=self.food())

    def feel(
        self, who: Any, reason: Phrase | None, feelings: str, because: float = 0.5, pre: float = 0.0
    ) -> tuple[Entry, Phrase | None]:
        """Add a feeling sentence, with its reason when ``reason`` is given and the dice agree."""
        feel = self.key("FEEL", feelings)
        degrees = "very really so little" if feel.attrs["valence"] == "-" else "very really so"
        deg = self.key("DEG", degrees) if self.chance(0.5) else None
        if reason is not None and self.chance(because):
            tid = self.pick(["feel_because", "because_feel"])
            self.add(
                tid.replace("feel", "feel_deg") if deg else tid,
                S=who,
                feel=feel,
                deg=deg,
                reason=reason,
            )
            return feel, reason
        self.add("feel_deg" if deg else "feel", self.pre(0.0, pre, 0.5), S=who, feel=feel, deg=deg)
        return feel, None


def _drop_none(events: list[tuple[str, dict]]) -> tuple[tuple[str, dict], ...]:
    return tuple((tid, {k: v for k, v in b.items() if v is not None}) for tid, b in events)


# ---------------------------------------------------------------- the plots
def _outing(p: _Plot) -> tuple[str, dict]:
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
    place = p.pick(_places("out"))
    friend = p.person() if p.chance(0.3) else None
    if friend:
        p.add("go_with", when, S=hero, place=place, O=friend)
    elif p.chance(0.25):
        p.add("go_by", when, S=hero, vehicle=p.entry("LOCAL_VEHICLE"), place=place)
    else:
        p.add("go", when or p.pre(0.0, 0.0, 0.6), S=hero, place=place)
    summary, reason = None, None
    animals = _animals_at(place.key)
    if animals and p.chance(0.8):
        anp = p.pick(animals)
        base = _by_key("ANIMAL")[anp.attrs["animal"]]
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
            p.add("anim_act", p.pre(0.0, 0.2), anp=the, aact=p.pick(_animal_acts(base.key)))
        else:
            p.add(p.pick(["anim_adj", "anim_adj_very"]), anp=the, aadj=p.entry("ANIMAL_ADJ"))
        if p.chance(0.6):
            tid = p.pick(["feed", "play_anim", "photo_anim"])
            p.add(
                tid, p.pre(0.0, 0.4), S=hero, anp=base, food=p.key("FOOD", " ".join(_ANIMAL_FOOD))
            )
        summary = ("sum_see", {"S": hero, "place": place, "anp": anp})
        reason = Phrase(
            p.pick(["r_cute", "r_saw"]), {"S": hero, "anp": base if p.chance(0.5) else anp}
        )
    acts = _acts_at(place.key)
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


def _narrator(p: _Plot) -> tuple[str, dict]:
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


def _shopping(p: _Plot) -> tuple[str, dict]:
    hero = p.person()
    friend = p.person() if p.chance(0.6) else None
    org = p.entry("SHOP_ORG") if p.chance(0.35) else None
    shop = _by_key("PLACE")[_ORG_SHOPS[org.key]] if org else p.entry("SHOP")
    things, foods = _goods(shop.key)
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
            p.food("COUNT")
            if _by_key("FOOD")["apple"] in foods and p.chance(0.5)
            else p.pick(foods)
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


def _bad_weather(p: _Plot) -> tuple[str, dict]:
    hero = p.person()
    weather = p.key("WEATHER", "rain heavyrain windy cold hot foggy")
    if p.chance(0.35):
        p.add("live", S=hero, city=p.pick(_cities("cn")))
        p.add(
            "weather_city", weather=weather, city=p.events[-1][1]["city"], timef=p.entry("TIME_END")
        )
    elif p.chance(0.85):
        p.add("weather_when", weather=weather, timef=p.entry("TIME_END"))
    else:
        p.add("weather", weather=weather)
    place = p.pick(_places("out"))
    if p.chance(0.2) and "rain" in weather.key:
        p.add("umbrella", S=hero, weather=weather)
        p.add("go", S=hero, place=place)
        p.feel(hero, None, "happy glad tired")
        return "umbrella", {"S": hero, "weather": weather}
    p.add(p.pick(["rain_no_go", "rain_stay"]), S=hero, weather=weather, place=place)
    act = p.pick(_acts_at("home"))
    if p.chance(0.3):
        p.add(p.pick(["read_about", "read_city", "watch_about"]), S=hero, animal=p.entry("ANIMAL"),
              city=p.entry("CITY"))  # fmt: skip
    else:
        p.add("act_at", S=hero, act=act, where=_by_key("IN_PLACE")["home"])
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


def _work(p: _Plot) -> tuple[str, dict]:
    hero = p.person()
    role = p.pick([e for e in TYPES["ROLE"] if e.key in _ROLE_ORGS])
    org = p.key("ORG", _ROLE_ORGS[role.key])
    if p.chance(0.5):
        p.add("role_at", S=hero, role=role, org=org)
    else:
        p.add("role", S=hero, role=role)
        p.add("work", S=hero, org=org)
    city = p.pick(_cities("cn"))
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
              where=_by_key("IN_PLACE")["home"])  # fmt: skip
        if feel.key in ("hungry", "thirsty"):
            p.add("feel_no_more", p.pre(0.0, 0.3, 0.3), S=hero, feel=feel)
    return summary


def _school(p: _Plot) -> tuple[str, dict]:
    hero, friend = p.person(), p.person()
    intro = [
        ("age", {"S": hero, "age": p.entry("AGE")}),
        ("study", {"S": hero, "org": p.entry("SCHOOL_ORG")}),
    ]
    for tid, bindings in intro[:: p.pick([1, -1])][: p.pick([1, 2])]:
        p.add(tid, **bindings)
    if p.chance(0.5):
        p.add("go", p.pre(0.8), S=hero, place=_by_key("PLACE")["school"])
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


def _lost(p: _Plot) -> tuple[str, dict]:
    hero, friend = p.person(), p.person()
    first = p.entry("THING")
    thing = _by_key("THING")[first.attrs["object"]]  # "her red hat", later just "her hat"
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


def _trip(p: _Plot) -> tuple[str, dict]:
    hero = p.person()
    home = p.pick(_cities("cn"))
    dest = p.pick([c for c in TYPES["CITY"] if c is not home])
    p.add(p.pick(["live", "born"]), S=hero, city=home)
    vehicle = p.key("TRAVEL_VEHICLE", "train plane bus") if dest.attrs["kind"] == "cn" else None
    vehicle = vehicle or _by_key("TRAVEL_VEHICLE")["plane"]
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
        place = p.pick(_places("out"))
        p.add("go", p.pre(0.0, 0.5), S=hero, place=place)
        if p.chance(0.6):
            p.add("act", S=hero, act=p.pick(_acts_at(place.key)))
        if p.chance(0.5):
            p.add("eat_at", p.pre(0.0, 0.3, 0.3), S=hero, food=p.food(), where=place)
        p.feel(hero, None, "excited happy glad tired")
    return summary


def _pair(p: _Plot) -> tuple[str, dict]:
    a, b = p.person(), p.person()
    pair = Group((a, b))
    p.add("friends", N=a, N2=b)
    place = p.pick(_places("out"))
    p.add("go", p.pre(0.7), S=pair, place=place)
    act = p.pick(_acts_at(place.key))
    p.add(p.pick(["act_together", "act_at"]), p.pre(0.0, 0.3, 0.3), S=pair, act=act, where=place)
    animals = _animals_at(place.key)
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


def _movie(p: _Plot) -> tuple[str, dict]:
    hero, friend = p.person(), p.person()
    pair = Group((hero, friend))
    p.add("go_with", p.pre(0.7), S=hero, place=_by_key("PLACE")["cinema"], O=friend)
    p.add("watch_about", p.pre(0.0, 0.3, 0.3), S=pair, animal=p.entry("ANIMAL"))
    movie = _by_key("TARGET_story")["the movie"]
    tid, bindings, label, _ = opinion(p.rng, "story", movie, hero, shapes=("single", "but", "and"))
    p.add(tid, **bindings)
    like = _like(p.rng, label)
    if p.chance(0.5):
        p.add("s_story_like", S=friend, like=_like(p.rng, int(p.chance(0.5))), t=movie)
    p.home(pair)
    return "s_story_like", {"S": hero, "like": like, "t": movie}


def _cooking(p: _Plot) -> tuple[str, dict]:
    hero, guest = p.person(), p.person()
    summary = ("cook", {"S": hero, "dish": p.entry("DISH"), "O": guest})
    p.add("cook", p.pre(0.7), **summary[1])
    target = _by_key("TARGET_food")[p.pick(["the meal", "the dish"])]
    tid, bindings, label, _ = opinion(p.rng, "food", target, guest)
    p.add(tid, **bindings)
    p.add("thank", S=guest, O=hero)
    p.feel(hero, None, "happy glad proud" if label else "sad surprised")
    return summary


def _pet(p: _Plot) -> tuple[str, dict]:
    hero = p.person()
    anp = p.pick([e for e in TYPES["ANP"] if e.attrs["animal"] in _PETS])
    base = _by_key("ANIMAL")[anp.attrs["animal"]]
    p.add("pet", S=hero, anp=anp)
    p.add(p.pick(["anim_adj", "anim_adj_very"]), anp=base, aadj=p.entry("ANIMAL_ADJ"))
    tid = p.pick(["play_anim", "feed", "photo_anim"])
    p.add(tid, p.pre(0.0, 0.3), S=hero, anp=base, food=p.key("FOOD", " ".join(_ANIMAL_FOOD)))
    if p.chance(0.6):
        p.add("anim_act", anp=base, aact=p.pick(_animal_acts(base.key)))
    p.feel(hero, Phrase("r_cute", {"anp": base}), "happy glad", because=0.7)
    return "pet", {"S": hero, "anp": anp}


def _day(p: _Plot) -> tuple[str, dict]:
    hero, friend = p.person(), p.person()
    where = p.pick([e for e in TYPES["IN_PLACE"] if _acts_at(e.key)])
    p.add("act_at", p.pre(0.8), S=hero, act=p.pick(_acts_at(where.key)), where=where)
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


PLOTS: dict[str, tuple[float, Callable[[_Plot], tuple[str, dict]]]] = {
    "outing": (3.0, _outing), "narrator": (2.0, _narrator), "shopping": (2.0, _shopping),
    "bad_weather": (1.5, _bad_weather), "work": (1.5, _work), "school": (1.5, _school),
    "lost": (1.5, _lost), "trip": (1.5, _trip), "pair": (1.5, _pair), "movie": (1.0, _movie),
    "cooking": (1.0, _cooking), "pet": (1.0, _pet), "day": (1.5, _day),
}  # fmt: skip
"""Each plot's weight and function."""


def plan(rng: random.Random) -> Frame:
    """Choose a plot and plan one story (3-8 sentences) with it."""
    names, weights = list(PLOTS), [w for w, _ in PLOTS.values()]
    name = rng.choices(names, weights)[0]
    p = _Plot(rng)
    tid, bindings = PLOTS[name][1](p)
    events = _drop_none(p.events)
    return Frame(name, events, (tid, {k: v for k, v in bindings.items() if v is not None}))


# ---------------------------------------------------------------- opinions
_AP_FORMS = (
    "plain",
    "plain",
    "plain",
    "deg",
    "deg",
    "deg",
    "quite",
    "too",
    "not",
    "not",
    "notvery",
)


def _like(rng: random.Random, label: int) -> Entry:
    return rng.choice([e for e in TYPES["LIKE"] if e.attrs["polarity"] == label])


def _adjective_phrase(
    rng: random.Random, cat: str, polarity: int, avoid: Entry | None
) -> tuple[Phrase, set]:
    adjectives = [a for a in TYPES["ADJ_" + cat] if a is not avoid]
    while True:
        form = rng.choice(_AP_FORMS)
        negated = form in ("not", "notvery")
        if form in ("too", "notvery") and polarity == 1:
            continue  # "too good" and "not very good" are never positive here
        pool = [
            a for a in adjectives if a.attrs["polarity"] == (1 - polarity if negated else polarity)
        ]
        if not pool:
            continue
        adj = rng.choice(pool)
        bindings: dict[str, Any] = {"adj": adj}
        if form == "deg":
            bindings["deg"] = _by_key("DEG")[
                rng.choice(["very", "really", "so", "little"][: 4 - polarity])
            ]
        tags = {"negation"} if negated else set()
        if form in ("deg", "quite", "too", "notvery"):
            tags.add("intensifier")
        return Phrase(f"ap_{cat}_{form}", bindings), tags


def opinion(
    rng: random.Random,
    cat: str | None = None,
    target: Entry | None = None,
    subject: Character | None = None,
    shapes: Sequence[str] = ("single", "single", "but", "but", "and", "like", "but_like"),
) -> tuple[str, dict, int, set]:
    """One opinion sentence: (template id, bindings, label, tags); see StoryWorld.sentiment."""
    cat = cat or rng.choice(OPINION_CATEGORIES)
    target = target or rng.choice(TYPES["TARGET_" + cat])
    label, shape = int(rng.random() < 0.5), rng.choice(shapes)
    if subject is None and shape in ("like", "but_like"):
        if rng.random() < 0.6:
            subject = Character("I", "m", narrator=True)
        else:
            entry = rng.choice(TYPES["NAME"])
            subject = Character(entry.key, entry.attrs["gender"], name=entry)
    tags: set[str] = set()
    if shape in ("single", "and"):
        first, tags = _adjective_phrase(rng, cat, label, None)
        bindings: dict[str, Any] = {"t": target, "ap": first}
        if shape == "and":
            bindings["ap2"], more = _adjective_phrase(rng, cat, label, first.bindings["adj"])
            tags |= more
        return (f"s_{cat}" if shape == "single" else f"s_{cat}_and"), bindings, label, tags
    if shape == "but":
        first, tags = _adjective_phrase(rng, cat, 1 - label, None)
        second, more = _adjective_phrase(rng, cat, label, first.bindings["adj"])
        return (
            f"s_{cat}_but",
            {"t": target, "ap": first, "ap2": second},
            label,
            tags | more | {"contrast"},
        )
    like = _like(rng, label)
    tags = ({"negation"} if like.attrs["negated"] else set()) | (
        {"intensifier"} if like.attrs["degree"] else set()
    )
    if shape == "like":
        return f"s_{cat}_like", {"S": subject, "like": like, "t": target}, label, tags
    first, more = _adjective_phrase(rng, cat, 1 - label, None)
    bindings = {"t": target, "ap": first, "S": subject, "like": like}
    return f"s_{cat}_but_like", bindings, label, tags | more | {"contrast"}


__all__ = ["PLOTS", "REASON_FEELINGS", "Character", "Frame", "Group", "opinion", "plan"]
