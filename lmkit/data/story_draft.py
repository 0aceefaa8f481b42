"""What a plot works with: pools of fitting words, and the :class:`Draft` of a story.

Introduced in chapter 2. A plot (:mod:`lmkit.data.story_plots`) asks its draft for words
("a person", "an animal one sees at the zoo", "a later time of day") and adds sentence
templates to it; the draft keeps the story consistent as it grows (one day, names used once,
times that only move forward). The pools are computed once, in lexicon order, so a seeded
random generator always picks the same words. Which shop sells what, and what animals may be
fed, come from ``lmkit/data/story_data/plots.json``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import cache
from typing import Any

from lmkit.data.story_cast import Character
from lmkit.data.story_lexicon import TYPES, Entry
from lmkit.data.story_tables import read_json
from lmkit.data.story_templates import TEMPLATES, Phrase

_SHOP_THINGS: dict[str, str] = read_json("plots")["shop_things"]
_SHOP_FOODS: dict[str, str] = read_json("plots")["shop_foods"]  # "*": every countable food
_ANIMAL_FOOD: tuple[str, ...] = tuple(read_json("plots")["animal_food"])


@cache
def by_key(type_name: str) -> dict[str, Entry]:
    return {e.key: e for e in TYPES[type_name]}


@cache
def _edible(type_name: str) -> tuple[Entry, ...]:
    # nobody eats a raw potato or a whole watermelon in one go
    return tuple(e for e in TYPES[type_name] if e.key not in ("potato", "watermelon"))


@cache
def goods(shop: str) -> tuple[tuple[Entry, ...], tuple[Entry, ...]]:
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
def places(tag: str) -> tuple[Entry, ...]:
    return tuple(e for e in TYPES["PLACE"] if tag in e.attrs["tags"])


@cache
def animals_at(place: str) -> tuple[Entry, ...]:
    allowed = by_key("IN_PLACE")[place].attrs["animals"]
    return tuple(e for e in TYPES["ANP"] if e.attrs["animal"] in allowed)


@cache
def animal_acts(animal: str) -> tuple[Entry, ...]:
    return tuple(
        e for e in TYPES["ANIMAL_ACT"] if "*" in e.attrs["animals"] or animal in e.attrs["animals"]
    )


@cache
def acts_at(place: str) -> tuple[Entry, ...]:
    return tuple(e for e in TYPES["ACT"] if place in e.attrs["places"])


@cache
def cities(kind: str) -> tuple[Entry, ...]:
    return tuple(e for e in TYPES["CITY"] if e.attrs["kind"] == kind)


_LATER = tuple(e for e in TYPES["TIME"] if e.attrs["later"])  # times that move a day on


class Draft:
    """A story being planned: the random generator, the events so far, the names in use."""

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
        return by_key(type_name)[self.pick(keys.split())]

    def food(self, type_name: str = "FOOD") -> Entry:
        apple = by_key("FOOD")["apple"]
        if apple in TYPES[type_name] and self.chance(0.3):  # 苹果 is the book's running example
            return apple
        return self.pick(_edible(type_name))

    def animal_food(self) -> Entry:
        """Something one may give an animal to eat."""
        return self.key("FOOD", " ".join(_ANIMAL_FOOD))

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


def drop_none(events: list[tuple[str, dict]]) -> tuple[tuple[str, dict], ...]:
    return tuple((tid, {k: v for k, v in b.items() if v is not None}) for tid, b in events)


__all__ = [
    "Draft",
    "acts_at",
    "animal_acts",
    "animals_at",
    "by_key",
    "cities",
    "drop_none",
    "goods",
    "places",
]
