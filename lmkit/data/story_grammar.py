"""One grammar that both writes the story world's sentences and checks them.

Introduced in chapter 2 (and used again in chapter 9 to grade a trained model's samples). The
sentences are the templates of :mod:`lmkit.data.story_templates`, filled with words of
:mod:`lmkit.data.story_lexicon`: ``"{S} saw {anp.a} {where.in}."`` /
``"{S}在{where.in}看见了{anp.a}。"`` renders as "Tom saw a white puppy in the park." and
"汤姆在公园里看见了一只白色的小狗。". The generator fills the slots; the checker reads the same
pieces and matches a sentence against every template, trying each slot's words with a
character trie. Because both sides read one definition they cannot drift apart, and the checker
accepts exactly the sentences the templates can produce (for every combination of words, not
only the ones the story plans happen to choose).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, NamedTuple, Protocol

from lmkit.data.story_lexicon import TYPES
from lmkit.data.story_templates import (
    LANGS,
    PAIR_JOIN,
    PERSONS,
    PRONOUNS,
    REF_TYPES,
    SENTENCE_KINDS,
    TEMPLATES,
    Phrase,
    Template,
    check_lang,
    pieces,
    slot_order,
    template,
)
from lmkit.errors import ConfigError, InputError

Segment = tuple[str, "str | None", "str | None"]  # text, entity label, top-level slot name


class Ref(Protocol):
    """What a slot filled by a person must provide (see ``lmkit.data.story_mentions.Mention``)."""

    person: str
    plural_index: int

    def segments(self, lang: str, case: str) -> list[tuple[str, str | None]]: ...


# ---------------------------------------------------------------- writing
def _verb_form(forms: Sequence[str], person: str) -> str:
    if person in ("m", "f"):
        return forms[0]
    if person == "i":
        return forms[1]
    return forms[-1]


def render(tid: str, bindings: Mapping[str, Any], lang: str) -> list[Segment]:
    """Fill template ``tid`` with ``bindings`` (entries, refs, phrases) as text segments.

    Whole sentences come back with their first letter capitalized (English).
    """
    check_lang(lang)
    missing = [name for name in slot_order(tid) if name not in bindings]
    if missing:
        raise InputError(f"template {tid!r} needs bindings for {missing}.")
    segments = _render(tid, bindings, lang, None)
    if lang == "en" and TEMPLATES[tid].kind in SENTENCE_KINDS:
        text, label, slot = segments[0]
        segments[0] = (text[:1].upper() + text[1:], label, slot)
    return segments


def _render(tid: str, bindings: Mapping[str, Any], lang: str, top: str | None) -> list[Segment]:
    template = TEMPLATES[tid]
    subject = bindings.get("S")
    out: list[Segment] = []
    for piece in pieces(tid, lang):
        kind = piece[0]
        if kind == "lit":
            out.append((piece[1], None, top))
        elif kind == "verb":
            out.append((_verb_form(piece[1:], subject.person), None, top))
        elif kind == "poss":
            forms = PRONOUNS[lang]["poss"][subject.person]
            out.append((forms[min(subject.plural_index, len(forms) - 1)], None, top))
        else:
            name, form = piece[1], piece[2]
            value, slot = bindings[name], top or name
            if isinstance(value, Phrase):
                out.extend(_render(value.tid, value.bindings, lang, slot))
            elif template.types[name] in REF_TYPES:
                case = "obj" if template.types[name] == "OBJREF" else "subj"
                out.extend((text, label, slot) for text, label in value.segments(lang, case))
            else:
                out.append((value.form(lang, form), value.label, slot))
    return out


# ---------------------------------------------------------------- the checker
class _Trie:
    """A set of strings that reports every position where one of them can end."""

    def __init__(self, words: Sequence[str]) -> None:
        self.root: dict = {}
        for word in words:
            node = self.root
            for ch in word:
                node = node.setdefault(ch, {})
            node[None] = True

    def ends(self, s: str, i: int) -> list[int]:
        out, node, n = [], self.root, len(s)
        while True:
            if None in node:
                out.append(i)
            if i >= n or s[i] not in node:
                return out
            node = node[s[i]]
            i += 1


class _PhraseSet:
    """All variants of all phrase templates of one kind, matched as a unit."""

    def __init__(self, variants: list[list[tuple]]) -> None:
        self.variants = variants

    def ends(self, s: str, i: int) -> list[int]:
        out: list[int] = []
        for variant in self.variants:
            out.extend(_all_ends(variant, 0, s, i))
        return out


def _all_ends(compiled: list[tuple], k: int, s: str, i: int) -> list[int]:
    if k == len(compiled):
        return [i]
    kind, payload, _ = compiled[k]
    if kind == "lit":
        return _all_ends(compiled, k + 1, s, i + len(payload)) if s.startswith(payload, i) else []
    out: list[int] = []
    for j in payload.ends(s, i):
        out.extend(_all_ends(compiled, k + 1, s, j))
    return out


def _search(compiled: list[tuple], k: int, s: str, i: int, spans: list) -> bool:
    """Depth-first: can pieces k… cover exactly s[i:]? Records the slot spans on success."""
    if k == len(compiled):
        return i == len(s)
    kind, payload, name = compiled[k]
    if kind == "lit":
        return s.startswith(payload, i) and _search(compiled, k + 1, s, i + len(payload), spans)
    for j in payload.ends(s, i):
        spans.append((name, i, j))
        if _search(compiled, k + 1, s, j, spans):
            return True
        spans.pop()
    return False


def ref_strings(type_name: str, lang: str, person: str | None) -> list[str]:
    """Every string a person slot may hold: names, family members, pronouns, pairs."""
    names = TYPES["NAME"]
    if type_name == "NAMEREF":
        return [e.form(lang) for e in names]
    if type_name == "OBJREF":
        pronouns = [p for forms in PRONOUNS[lang]["obj"].values() for p in forms]
        return [e.form(lang) for e in names + TYPES["FAMILY"]] + pronouns
    out = list(PRONOUNS[lang]["subj"][person])
    if person in ("m", "f"):
        out += [e.form(lang) for e in names + TYPES["FAMILY"] if e.attrs["gender"] == person]
    elif person == "we":
        out += [
            f"{e.en['n']} and I" if lang == "en" else f"我和{e.zh['n']}" for e in TYPES["FAMILY"]
        ]
    elif person == "they":
        out += [
            a.form(lang) + PAIR_JOIN[lang] + b.form(lang)
            for a in names
            for b in names
            if a is not b
        ]
    return out


def _words(type_name: str, form: str, lang: str, person: str | None, capital: bool) -> _Trie:
    if type_name not in REF_TYPES and type_name != "poss":
        person = None  # only person slots depend on the person: share one trie otherwise
    return _words_cached(type_name, form, lang, person, capital)


@cache
def _words_cached(type_name: str, form: str, lang: str, person: str | None, capital: bool) -> _Trie:
    if type_name in REF_TYPES:
        words = ref_strings(type_name, lang, person)
    elif type_name == "poss":
        words = list(PRONOUNS[lang]["poss"][person])
    else:
        words = [e.form(lang, form) for e in TYPES[type_name]]
    if capital:
        words = [w[:1].upper() + w[1:] for w in words]
    return _Trie(words)


def _compile(tid: str, lang: str, person: str | None, top: bool) -> list[tuple]:
    template, out = TEMPLATES[tid], []
    for piece in pieces(tid, lang):
        first = top and lang == "en" and not out
        if piece[0] in ("lit", "verb"):
            text = piece[1] if piece[0] == "lit" else _verb_form(piece[1:], person)
            text = text[:1].upper() + text[1:] if first else text
            if out and out[-1][0] == "lit":
                text = out.pop()[1] + text
            out.append(("lit", text, None))
        elif piece[0] == "poss":
            out.append(("words", _words("poss", "n", lang, person, first), "poss"))
        else:
            type_name = template.types[piece[1]]
            if type_name.startswith("@"):
                out.append(("words", _phrase_set(type_name[1:], lang), piece[1]))
            else:
                out.append(("words", _words(type_name, piece[2], lang, person, first), piece[1]))
    return out


@cache
def _phrase_set(kind: str, lang: str) -> _PhraseSet:
    variants = [
        _compile(t.id, lang, person, top=False)
        for t in TEMPLATES.values()
        if t.kind == kind
        for person in (t.persons or (None,))
    ]
    return _PhraseSet(variants)


@cache
def _index(lang: str) -> dict[str, list[tuple[str, str | None, list[tuple], tuple[str, ...]]]]:
    """Compiled sentence variants grouped by their longest literal piece (a cheap pre-filter)."""
    index: dict[str, list] = {}
    for t in TEMPLATES.values():
        if t.kind not in SENTENCE_KINDS:
            continue
        for person in t.persons or (None,):
            compiled = _compile(t.id, lang, person, top=True)
            literals = tuple(p[1] for p in compiled if p[0] == "lit")
            key = max(literals, key=len)
            index.setdefault(key, []).append((t.id, person, compiled, literals))
    return index


class Parse(NamedTuple):
    """Which template matched, with which subject person, and the text of each top-level slot."""

    rule: str
    person: str | None
    slots: dict[str, str]


def parse(sentence: str, lang: str) -> Parse | None:
    """Match one sentence against the grammar; ``None`` when no template produces it.

    Leading and trailing whitespace is ignored; everything else must match exactly (spaces,
    capital letters, punctuation). Introduced in chapter 2.
    """
    check_lang(lang)
    if not isinstance(sentence, str):
        raise InputError(f"sentence must be a str, got {type(sentence).__name__}.")
    s = sentence.strip()
    if not s:
        return None
    for key, variants in _index(lang).items():
        if key not in s:
            continue
        for tid, person, compiled, literals in variants:
            if not all(lit in s for lit in literals):
                continue
            spans: list = []
            if _search(compiled, 0, s, 0, spans):
                return Parse(tid, person, {name: s[i:j] for name, i, j in spans})
    return None


def is_grammatical(sentence: str, lang: str) -> bool:
    """True when ``sentence`` is one the story world's grammar can produce. Introduced in chapter 2."""
    return parse(sentence, lang) is not None


_ENDS = {"en": ".!?", "zh": "。！？"}


def split_sentences(text: str, lang: str) -> list[str]:
    """Split text (e.g. a model's sample) into sentences, after . ! ? (English) or 。！？ (Chinese).

    Lines are split separately, whitespace is stripped, and an unfinished tail is kept as a
    last "sentence" so that a truncated sample counts as ungrammatical rather than vanishing.
    """
    check_lang(lang)
    if not isinstance(text, str):
        raise InputError(f"text must be a str, got {type(text).__name__}.")
    marks = re.escape(_ENDS[lang])
    pattern = re.compile(f"[^{marks}]*[{marks}]|[^{marks}]+$")
    out = []
    for line in text.splitlines():
        out += [m.group().strip() for m in pattern.finditer(line) if m.group().strip()]
    return out


def check_templates() -> None:
    """Raise if a template names an unknown type or a form some entry of its type lacks."""
    for t in TEMPLATES.values():
        for lang in LANGS:
            for piece in pieces(t.id, lang):
                if piece[0] != "slot":
                    continue
                type_name = t.types.get(piece[1], "")
                if type_name in REF_TYPES:
                    continue
                if type_name.startswith("@"):
                    if not any(u.kind == type_name[1:] for u in TEMPLATES.values()):
                        raise ConfigError(f"{t.id}: no phrase templates of kind {type_name[1:]!r}.")
                    continue
                if type_name not in TYPES:
                    raise ConfigError(f"{t.id}: slot {piece[1]!r} has unknown type {type_name!r}.")
                for e in TYPES[type_name]:
                    if piece[2] not in (e.en if lang == "en" else e.zh):
                        raise ConfigError(f"{t.id}: {e.key!r} lacks {lang} form {piece[2]!r}.")
            if t.persons and "S" not in t.types and lang == "en":
                raise ConfigError(f"{t.id}: verb or possessive markers need an {{S}} slot.")


__all__ = [
    "LANGS",
    "PERSONS",
    "TEMPLATES",
    "Parse",
    "Phrase",
    "Template",
    "check_templates",
    "is_grammatical",
    "parse",
    "pieces",
    "render",
    "slot_order",
    "split_sentences",
    "template",
]
