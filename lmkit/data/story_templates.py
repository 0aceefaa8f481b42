"""The sentence templates of the story world, read from ``lmkit/data/story_data/grammar/``.

Introduced in chapter 2. A sentence is a :class:`Template` with typed slots, written once in
English and once in Chinese::

    "{S} saw {anp.a} {where.in}."   /   "{S}在{where.in}看见了{anp.a}。"

``{anp.a}`` means "an entry of type ANP (an animal, maybe with a colour), in its ``a`` form"
(``"a white puppy"`` / ``"一只白色的小狗"``). ``{S}`` is the subject: a name, a pronoun or a family
member, and ``<was/was/were>`` picks the verb form that agrees with it (he / I / they), as
``{poss}`` picks his / her / my / our / their. A slot's type is the one named after the slot in
``slot_types.tsv`` (digits stripped: ``{N2}`` is a NAMEREF like ``{N}``); a type ``@kind`` means
"any phrase template of that kind", a clause inside the sentence.

Each table (``story.tsv``, ``reasons.tsv``, ``questions.tsv``, ``summaries.tsv``,
``opinions.tsv``) has the columns ``id``, ``en``, ``zh`` and ``options``, a space-separated
list of: ``pre=t``, ``pre=s`` or ``pre=ts`` (also register copies that open with
``"{time}, "`` or ``"{seq}, "``, e.g. "after that, …"); ``persons=mfiwt`` (the subjects allowed:
he, she, I, we, they; all five by default); ``slot=TYPE`` (a type other than the slot's
default); ``qa=question:answer_slot,…`` (questions the sentence answers, for extractive QA).
:mod:`lmkit.data.story_grammar` renders and parses sentences with these templates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from lmkit.data.story_lexicon import OPINION_CATEGORIES
from lmkit.data.story_tables import read_json, read_table
from lmkit.errors import ConfigError

LANGS = ("en", "zh")
PERSONS = ("m", "f", "i", "we", "they")  # he/she, he/she, I, we, they
SENTENCE_KINDS = ("story", "sentiment", "question", "summary")  # kinds that are whole sentences
REF_TYPES = ("SUBJ", "OBJREF", "NAMEREF")  # slot types filled by people

# Pronouns by language, case and person. Chinese has one form for subject and object, and two
# plurals: 他们 (mixed or male groups) and 她们 (all-female groups).
PRONOUNS: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    lang: {case: {person: tuple(forms) for person, forms in by_person.items()}
           for case, by_person in by_case.items()}
    for lang, by_case in read_json("grammar/pronouns").items()
}  # fmt: skip
PAIR_JOIN = {"en": " and ", "zh": "和"}

_DEFAULT_TYPES = {row["slot"]: row["type"] for row in read_table("grammar/slot_types")}
_TOKEN = re.compile(r"\{(\w+)(?:\.(\w+))?\}|<([^<>]+)>")
_PERSON_LETTERS = {"m": "m", "f": "f", "i": "i", "w": "we", "t": "they"}


@dataclass(frozen=True)
class Phrase:
    """A clause that fills a phrase slot, e.g. the reason after "because"."""

    tid: str
    bindings: Mapping[str, Any]


@dataclass(frozen=True)
class Template:
    """A sentence (or clause) pattern in both languages with typed slots.

    ``persons`` lists the subject persons it allows (empty when it has no subject); ``qa``
    pairs a question template with the slot that answers it.
    """

    id: str
    kind: str
    en: str
    zh: str
    types: Mapping[str, str]
    persons: tuple[str, ...]
    qa: tuple[tuple[str, str], ...] = ()
    base: str = ""


TEMPLATES: dict[str, Template] = {}


def _register(
    tid: str,
    en: str,
    zh: str,
    kind: str,
    persons: Sequence[str] | None,
    pre: str,
    qa: Sequence[tuple[str, ...]],
    **types: str,
) -> None:
    """Register a template, plus copies that start with a time ("+time") or "after that" ("+seq")."""
    variants = [(tid, en, zh)]
    if "t" in pre:
        variants.append((tid + "+time", "{time}, " + en, "{time}，" + zh))
    if "s" in pre:
        variants.append((tid + "+seq", "{seq}, " + en, "{seq}，" + zh))
    for vid, ven, vzh in variants:
        names = [m.group(1) for m in _TOKEN.finditer(ven) if m.group(1)]
        slot_types = {
            n: types.get(n, _DEFAULT_TYPES.get(n.rstrip("0123456789"), "")) for n in names
        }
        personal = "S" in names or "<" in ven or "{poss}" in ven
        allowed = tuple(PERSONS if persons is None else persons) if personal else ()
        TEMPLATES[vid] = Template(vid, kind, ven, vzh, slot_types, allowed, tuple(qa), tid)


def _register_rows(rows: Sequence[Mapping[str, str]], kind: str) -> None:
    for row in rows:
        options = dict(opt.split("=", 1) for opt in row["options"].split())
        persons = options.pop("persons", None)
        qa = [tuple(pair.split(":")) for pair in options.pop("qa", "").split(",") if pair]
        allowed = persons and [_PERSON_LETTERS[c] for c in persons]
        pre = options.pop("pre", "")
        _register(row["id"], row["en"], row["zh"], kind, allowed, pre, qa, **options)


def _register_all() -> None:
    # The order is part of the story world: the checker tries templates in this order.
    for table, kind in (
        ("story", "story"),
        ("reasons", "reason"),
        ("questions", "question"),
        ("summaries", "summary"),
    ):
        _register_rows(read_table("grammar/" + table), kind)
    # Opinions are written once with {c} for the category. An adjective phrase "ap" is positive
    # or negative as its adjective is, flipped by not / 不; see StoryWorld.sentiment.
    opinions = read_table("grammar/opinions")
    for cat in OPINION_CATEGORIES:
        rows = [{k: v.replace("{c}", cat) for k, v in row.items()} for row in opinions]
        _register_rows([r for r in rows if r["id"].startswith("ap_")], "ap_" + cat)
        _register_rows([r for r in rows if r["id"].startswith("s_")], "sentiment")


_register_all()


def check_lang(lang: object, allowed: tuple[str, ...] = LANGS) -> None:
    """Raise :class:`ConfigError` unless ``lang`` is one of ``allowed``."""
    if lang not in allowed:
        raise ConfigError(f"lang must be one of {', '.join(map(repr, allowed))}, got {lang!r}.")


def template(tid: str) -> Template:
    """The template called ``tid``; a clear error for an unknown id."""
    if tid not in TEMPLATES:
        raise ConfigError(f"unknown template id {tid!r}; see story_grammar.TEMPLATES for the ids.")
    return TEMPLATES[tid]


def pieces(tid: str, lang: str) -> list[tuple[str, ...]]:
    """A template as pieces: ("lit", text), ("slot", name, form), ("verb", forms…), ("poss",)."""
    check_lang(lang)
    return _pieces(template(tid).en if lang == "en" else template(tid).zh)


@cache
def _pieces(text: str) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        if m.start() > pos:
            out.append(("lit", text[pos : m.start()]))
        if m.group(3):
            out.append(("verb", *m.group(3).split("/")))
        elif m.group(1) == "poss":
            out.append(("poss",))
        else:
            out.append(("slot", m.group(1), m.group(2) or "n"))
        pos = m.end()
    if pos < len(text):
        out.append(("lit", text[pos:]))
    return out


def slot_order(tid: str) -> list[str]:
    """The slot names of a template in English reading order (the order mentions are decided)."""
    return [p[1] for p in pieces(tid, "en") if p[0] == "slot"]


__all__ = [
    "LANGS",
    "PAIR_JOIN",
    "PERSONS",
    "PRONOUNS",
    "REF_TYPES",
    "SENTENCE_KINDS",
    "TEMPLATES",
    "Phrase",
    "Template",
    "check_lang",
    "pieces",
    "slot_order",
    "template",
]
