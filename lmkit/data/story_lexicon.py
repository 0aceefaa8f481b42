"""The words of the story world: every name, place, food and feeling, in English and Chinese.

Introduced in chapter 2. Each word is an :class:`Entry` with its surface forms in both languages
(``"an apple"`` / ``"一个苹果"``, ``"in the park"`` / ``"公园里"``), so the grammar in
:mod:`lmkit.data.story_grammar` never inflects anything itself: it only picks forms by name. The
same entry renders the English and the Chinese sentence, which is what makes the two stories
translations of each other. Entries are grouped into types (``TYPES["FOOD"]``, ``TYPES["CITY"]``),
the slot types of the sentence templates.

The words themselves are tables in ``lmkit/data/story_data/lexicon/`` (one entry per line,
tab-separated, the first line names the columns); this module turns each row into entries.
Columns that list several words separate them with spaces; a flag column holds ``yes`` or
nothing. The order of the rows is part of the story world: seeded stories pick words by
position, so reordering a table changes every story.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from lmkit.data.story_tables import read_table
from lmkit.errors import ConfigError, InputError


@dataclass(frozen=True, eq=False)
class Entry:
    """One word of the lexicon with its named surface forms in English (``en``) and Chinese (``zh``).

    ``label`` is ``"PER"``, ``"LOC"`` or ``"ORG"`` for named entities, else ``None``; ``attrs``
    holds what the story generator needs to know (gender, polarity, which places suit it).
    """

    key: str
    en: Mapping[str, str]
    zh: Mapping[str, str]
    label: str | None = None
    attrs: Mapping[str, object] = field(default_factory=dict)

    def form(self, lang: str, name: str = "n") -> str:
        """The surface form ``name`` in ``lang``."""
        return (self.en if lang == "en" else self.zh)[name]


OPINION_CATEGORIES = ("story", "music", "food", "drink", "place")

Add = Callable[[str, Entry], None]  # appends an entry to a type


def _table(name: str) -> tuple[dict[str, str], ...]:
    return read_table("lexicon/" + name)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _people(add: Add) -> None:
    for row in _table("names"):
        entry = Entry(
            row["en"], {"n": row["en"]}, {"n": row["zh"]}, "PER", {"gender": row["gender"]}
        )
        add("NAME", entry)
        add("NAME_" + row["gender"].upper(), entry)
    for row in _table("family"):
        en = {"n": row["en"], "kin": row["en_kin"]}  # "my father", "father"
        zh = {"n": row["zh"], "kin": row["zh"]}
        add("FAMILY", Entry(row["en_kin"], en, zh, None, {"gender": row["gender"]}))
    for row in _table("roles"):
        zh = {"a": "一" + row["zh_measure"] + row["zh"], "n": row["zh"]}
        add("ROLE", Entry(row["key"], {"a": row["en_a"]}, zh, None, {"kid": row["kid"] == "yes"}))


def _places(add: Add) -> None:
    # home is only ever a where ("at home" / 家里), never a place one goes to
    home_attrs = {"tags": ("home",), "animals": ()}
    add("IN_PLACE", Entry("home", {"in": "at home"}, {"in": "家里"}, None, home_attrs))
    for row in _table("places"):
        entry = Entry(
            row["key"],
            {"n": row["en"], "in": row["en_in"]},
            {"n": row["zh"], "in": row["zh_in"]},
            None,
            {"tags": (row["tag"],), "animals": tuple(row["animals"].split())},
        )
        add("PLACE", entry)
        add("IN_PLACE", entry)
        if row["tag"] == "shop":
            add("SHOP", entry)
    for row in _table("locations"):  # cities and countries; kind is cn, world or country
        add(
            "CITY",
            Entry(row["key"], {"n": row["en"]}, {"n": row["zh"]}, "LOC", {"kind": row["kind"]}),
        )
    for row in _table("orgs"):  # tags: what one does there (school, shop, eat, work, visit)
        tags = tuple(row["tags"].split())
        entry = Entry(row["key"], {"n": row["en"]}, {"n": row["zh"]}, "ORG", {"tags": tags})
        add("ORG", entry)
        for tag in tags:
            add(tag.upper() + "_ORG", entry)


def _animals_and_things(add: Add) -> None:
    colors = {row["en"]: row["zh"] for row in _table("colors")}
    # ANP: an animal noun phrase, the animal alone or in one of the colours it may have
    for row in _table("animals"):
        key, en, zh, measure = row["key"], row["en"], row["zh"], row["zh_measure"]
        base = Entry(
            key,
            {"a": f"{_article(en)} {en}", "the": f"the {en}", "n": en, "pl": row["en_plural"]},
            {"a": f"一{measure}{zh}", "the": f"那{measure}{zh}", "n": zh, "cn": measure + zh},
            None,
            {"animal": key},
        )
        add("ANIMAL", base)
        add("ANP", base)
        for hue in row["colors"].split():
            en_c, zh_c = f"{hue} {en}", f"{colors[hue]}的{zh}"
            en_forms = {"a": f"{_article(hue)} {en_c}", "the": f"the {en_c}", "n": en_c}
            zh_forms = {"a": f"一{measure}{zh_c}", "the": f"那{measure}{zh_c}", "n": zh_c}
            attrs = {"animal": key, "color": hue}
            add("ANP", Entry(f"{hue}_{key}", en_forms, zh_forms, None, attrs))
    for row in _table("animal_actions"):  # animals: who does it ("*" = every animal)
        attrs = {"animals": row["animals"].split()}
        add("ANIMAL_ACT", Entry(row["key"], {"n": row["en"]}, {"n": row["zh"]}, None, attrs))
    for row in _table("animal_adjectives"):
        add("ANIMAL_ADJ", Entry(row["key"], {"n": row["en"]}, {"n": row["zh"]}))
    for row in _table("things"):  # each thing, then the same thing in each of its colours
        key, en, zh, measure = row["key"], row["en"], row["zh"], row["zh_measure"]
        en_forms = {"a": f"{_article(en)} {en}", "n": en, "pl": row["en_plural"]}
        zh_forms = {"a": f"一{measure}{zh}", "n": zh}
        add("THING", Entry(key, en_forms, zh_forms, None, {"object": key}))
        for hue in row["colors"].split():
            en_c, zh_c = f"{hue} {en}", f"{colors[hue]}的{zh}"
            en_forms = {"a": f"{_article(hue)} {en_c}", "n": en_c}
            zh_forms = {"a": f"一{measure}{zh_c}", "n": zh_c}
            attrs = {"object": key, "color": hue}
            add("THING", Entry(f"{hue}_{key}", en_forms, zh_forms, None, attrs))


def _food(add: Add) -> None:
    for row in _table("foods"):  # tags: fruit, veg, count (can be counted: "three apples")
        zh, measure, tags = row["zh"], row["zh_measure"], tuple(row["tags"].split())
        entry = Entry(
            row["key"],
            {"pl": row["en_plural"], "a": row["en_a"], "some": "some " + row["en_plural"]},
            {"n": zh, "a": "一" + measure + zh, "some": "一些" + zh, "cn": measure + zh},
            None,
            {"tags": tags},
        )
        add("FOOD", entry)
        for tag in tags:
            add(tag.upper(), entry)
    for row in _table("drinks"):
        en, zh = {"n": row["en"], "a": row["en_a"]}, {"n": row["zh"], "a": row["zh_a"]}
        add("DRINK", Entry(row["key"], en, zh))
    for row in _table("dishes"):
        add("DISH", Entry(row["key"], {"a": row["en_a"]}, {"a": row["zh_a"]}))


def _feelings_and_doings(add: Add) -> None:
    for row in _table("activities"):  # places: where it can happen
        en = {"past": row["en_past"], "inf": row["en_inf"]}
        zh = {"past": row["zh_past"], "base": row["zh_base"]}
        add("ACT", Entry(row["key"], en, zh, None, {"places": tuple(row["places"].split())}))
    for row in _table("feelings"):  # valence: +, - or 0
        attrs = {"valence": row["valence"]}
        add("FEEL", Entry(row["key"], {"n": row["en"]}, {"n": row["zh"]}, None, attrs))
    # "a little" / 有点 only goes with unpleasant things, which the generator respects
    for row in _table("degrees"):
        add("DEG", Entry(row["key"], {"n": row["en"]}, {"n": row["zh"]}))
    for row in _table("weather"):  # kind: good, bad (for going out) or snow
        attrs = {"kind": row["kind"]}
        add("WEATHER", Entry(row["key"], {"n": row["en"]}, {"n": row["zh"]}, None, attrs))


def _times(add: Add) -> None:
    """Every time phrase: on Monday, on Monday morning, last Monday, one day, at seven…"""

    def add_time(
        key: str,
        en: str,
        zh: str,
        hour: float | None = None,
        start_only: bool = False,
        later: bool = False,
    ) -> None:
        # later: moves a story on within its day ("in the evening", "at seven in the evening")
        attrs = {"start_only": start_only, "hour": hour, "later": later}
        entry = Entry(key, {"n": en}, {"n": zh}, None, attrs)
        add("TIME", entry)
        if not start_only:
            add("TIME_END", entry)

    days, parts = _table("days"), _table("day_parts")
    for d in days:
        add_time(d["en"].lower(), f"on {d['en']}", d["zh"])
    for d in days:
        for p in parts:
            key, en = f"{d['en']}_{p['key']}".lower(), f"on {d['en']} {p['key']}"
            add_time(key, en, d["zh"] + p["zh"], float(p["hour"]))
    for d in days:
        add_time(f"last_{d['en']}".lower(), f"last {d['en']}", "上个" + d["zh"])
    for p in parts:
        add_time(
            f"yesterday_{p['key']}", f"yesterday {p['key']}", "昨天" + p["zh"], float(p["hour"])
        )
    for t in _table("times"):
        hour = float(t["hour"]) if t["hour"] else None
        add_time(t["key"], t["en"], t["zh"], hour, t["start_only"] == "yes", t["later"] == "yes")
    part_zh = {p["key"]: p["zh"] for p in parts}
    for c in _table("clock_times"):  # "at seven in the morning" / 早上七点
        hour, part = c["en_hour"], c["part"]
        zh = part_zh[part] + c["zh_hour"] + "点"
        add_time(f"{hour}_{part}", f"at {hour} in the {part}", zh, float(c["hour"]), later=True)


def _small_words(add: Add) -> None:
    for type_name, table in (("SEQ", "sequence_words"), ("SPOT", "spots"), ("HABIT", "habits")):
        for row in _table(table):
            add(type_name, Entry(row["key"], {"n": row["en"]}, {"n": row["zh"]}))
    for row in _table("vehicles"):  # tags: local (in town), travel (between cities), far
        tags = tuple(row["tags"].split())
        entry = Entry(row["key"], {"n": row["en"]}, {"n": row["zh"]}, None, {"tags": tags})
        for tag in tags:
            if tag in ("local", "travel"):
                add(tag.upper() + "_VEHICLE", entry)
    for type_name, table in (("NUM", "numbers"), ("AGE", "ages")):
        for row in _table(table):
            add(type_name, Entry(row["en"], {"n": row["en"]}, {"n": row["zh"]}))


def _opinions(add: Add) -> None:
    for row in _table("opinion_targets"):
        attrs = {"category": row["category"]}
        add(
            "TARGET_" + row["category"],
            Entry(row["en"], {"n": row["en"]}, {"n": row["zh"]}, None, attrs),
        )
    for row in _table("opinion_adjectives"):
        zh = {"n": row["zh"], "neg": row["zh_negated"] or "不" + row["zh"]}  # 不好看, but 没有意思
        for cat in row["categories"].split():
            attrs = {"polarity": 1 if row["polarity"] == "+" else 0, "category": cat}
            add("ADJ_" + cat, Entry(row["en"], {"n": row["en"]}, zh, None, attrs))
    for row in _table("likes"):
        attrs = {
            "polarity": 1 if row["polarity"] == "+" else 0,
            "negated": row["polarity"] == "-",
            "degree": row["degree"] == "yes",
        }
        add("LIKE", Entry(row["en"], {"n": row["en"]}, {"n": row["zh"]}, None, attrs))


def _build() -> dict[str, tuple[Entry, ...]]:
    types: dict[str, list[Entry]] = {}

    def add(type_name: str, entry: Entry) -> None:
        types.setdefault(type_name, []).append(entry)

    sections = (_people, _places, _animals_and_things, _food, _feelings_and_doings, _times)
    for section in (*sections, _small_words, _opinions):
        section(add)
    return {name: tuple(entries) for name, entries in types.items()}


TYPES: dict[str, tuple[Entry, ...]] = _build()
"""Every slot type of the grammar and its entries, e.g. ``TYPES["FRUIT"]``."""


_ENTITY_TYPES = {"PER": "NAME", "LOC": "CITY", "ORG": "ORG"}


def _entity_type(label: object) -> str:
    if label not in _ENTITY_TYPES:
        raise ConfigError(f"label must be 'PER', 'LOC' or 'ORG', got {label!r}.")
    return _ENTITY_TYPES[label]  # type: ignore[index]


def entity_strings(label: str, lang: str) -> frozenset[str]:
    """All surface strings of named entities with ``label`` (``"PER"``, ``"LOC"``, ``"ORG"``)."""
    type_name = _entity_type(label)
    if lang not in ("en", "zh"):
        raise ConfigError(f"lang must be 'en' or 'zh', got {lang!r}.")
    return frozenset(e.form(lang) for e in TYPES[type_name])


def translate_entity(text: str, label: str) -> str:
    """The Chinese surface string of the English entity ``text`` (looked up in the lexicon)."""
    for entry in TYPES[_entity_type(label)]:
        if entry.en["n"] == text:
            return entry.zh["n"]
    raise InputError(f"{text!r} is not a {label} entity of the story world's lexicon.")


__all__ = ["OPINION_CATEGORIES", "TYPES", "Entry", "entity_strings", "translate_entity"]
