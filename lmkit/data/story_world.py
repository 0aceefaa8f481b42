"""The story world: a seeded, offline, bilingual corpus with labelled data for every application.

Introduced in chapter 2. :class:`StoryWorld` writes short stories (3-8 sentences) about people,
places, animals, food and feelings. A story is first planned as a *frame* (which templates, filled
with which lexicon entries and characters) and only then rendered, so the English and Chinese
versions of one frame are translations of each other, and because the generator knows what it
wrote it can also hand out exact labels: named-entity spans, extractive QA answers, sentiment
labels, one-line summaries and sentence-aligned translation pairs.

Everything is deterministic: a world owns one ``random.Random(seed)`` and never touches global
random state or ``hash()``-dependent ordering, so the same seed and the same sequence of calls
give the same text in every run and every Python version. The grammar (and the checker that
grades a model's samples) lives in :mod:`lmkit.data.story_grammar`, the sentence templates in
:mod:`lmkit.data.story_templates`, the words in :mod:`lmkit.data.story_lexicon`, the story plots
in :mod:`lmkit.data.story_plots`; the word tables and templates themselves are data files in
``lmkit/data/story_data/``.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass

from lmkit.data import story_plots
from lmkit.data.story_cast import Character
from lmkit.data.story_grammar import render
from lmkit.data.story_lexicon import TYPES
from lmkit.data.story_mentions import Mention, resolve
from lmkit.data.story_opinions import opinion
from lmkit.data.story_plots import Frame
from lmkit.data.story_templates import TEMPLATES, slot_order
from lmkit.errors import ConfigError, InputError

SEPARATOR = "\n\n"
"""What :meth:`StoryWorld.corpus` puts between two stories (a blank line)."""
_JOIN = {"en": " ", "zh": ""}


# ---------------------------------------------------------------- what the world hands out
@dataclass(frozen=True)
class Entity:
    """A named entity in a text: ``text[start:end]`` is ``surface``."""

    start: int
    end: int
    label: str
    surface: str


@dataclass(frozen=True)
class Story:
    """One rendered story with its sentences, the template of each, and its entity spans."""

    text: str
    sentences: tuple[str, ...]
    rules: tuple[str, ...]
    entities: tuple[Entity, ...]
    lang: str
    frame: Frame


@dataclass(frozen=True)
class SentimentExample:
    """A one-sentence opinion: label 1 positive, 0 negative; tags name the tricky parts."""

    text: str
    label: int
    tags: frozenset[str]
    rule: str


@dataclass(frozen=True)
class NerExample:
    """A story with character spans ``(start, end, "PER" | "LOC" | "ORG")``."""

    text: str
    spans: tuple[tuple[int, int, str], ...]


@dataclass(frozen=True)
class QAExample:
    """Extractive QA: ``context[answer_start:answer_start + len(answer)] == answer``."""

    context: str
    question: str
    answer: str
    answer_start: int


@dataclass(frozen=True)
class TranslationPair:
    """One sentence in English and Chinese, rendered from the same template and words."""

    en: str
    zh: str
    rule: str


@dataclass(frozen=True)
class SummaryExample:
    """A story and a one-line summary of it (also a sentence of the grammar)."""

    text: str
    summary: str


def _text(segments: list) -> str:
    return "".join(s[0] for s in segments)


# ---------------------------------------------------------------- the world
def _check_count(name: str, n: object) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ConfigError(f"{name} must be a non-negative integer, got {n!r}.")
    return n


def _check_lang(lang: object, allow_both: bool = False) -> str:
    allowed = ("en", "zh", "both") if allow_both else ("en", "zh")
    if lang not in allowed:
        raise ConfigError(
            f"lang must be one of {', '.join(map(repr, allowed))}, got {lang!r}. "
            "The story world is written in English ('en') and Chinese ('zh')."
        )
    return lang  # type: ignore[return-value]


class StoryWorld:
    """A seeded generator of bilingual stories and labelled data. Introduced in chapter 2.

    A world is a stream: each call consumes its random generator, so ``StoryWorld(0)`` followed
    by the same calls always returns the same results, and two seeds give different ones.
    """

    def __init__(self, seed: int = 0) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ConfigError(f"seed must be an int, got {seed!r} ({type(seed).__name__}).")
        self.seed = seed
        self._rng = random.Random(seed)

    # -- stories
    def frame(self) -> Frame:
        """Plan one story without rendering it (render it with :meth:`render`)."""
        return story_plots.plan(self._rng)

    def render(self, frame: Frame, lang: str = "en") -> Story:
        """Render a planned story in ``lang``; the same frame gives parallel en/zh stories."""
        _check_lang(lang)
        if not isinstance(frame, Frame):
            raise InputError(
                f"frame must be a Frame from StoryWorld.frame(), got {type(frame).__name__}."
            )
        sentences, rules, entities, offset = [], [], [], 0
        join = _JOIN[lang]
        for tid, bindings in resolve(list(frame.events)):
            segments = render(tid, bindings, lang)
            pos = offset
            for text, label, _slot in segments:
                if label is not None:
                    entities.append(Entity(pos, pos + len(text), label, text))
                pos += len(text)
            sentence = _text(segments)
            sentences.append(sentence)
            rules.append(tid)
            offset += len(sentence) + len(join)
        return Story(
            join.join(sentences), tuple(sentences), tuple(rules), tuple(entities), lang, frame
        )

    def story(self, lang: str = "en") -> Story:
        """One new story in ``lang`` ("en" or "zh")."""
        _check_lang(lang)
        return self.render(self.frame(), lang)

    def corpus(self, n_stories: int, lang: str = "en") -> str:
        """``n_stories`` stories separated by a blank line (:data:`SEPARATOR`).

        With ``lang="both"`` each story is followed by its Chinese translation, so the text
        holds ``2 * n_stories`` stories, alternating en, zh.
        """
        _check_count("n_stories", n_stories)
        _check_lang(lang, allow_both=True)
        langs = ("en", "zh") if lang == "both" else (lang,)
        texts = []
        for _ in range(n_stories):
            frame = self.frame()
            texts += [self.render(frame, one).text for one in langs]
        return SEPARATOR.join(texts)

    # -- labelled data
    def sentiment(self, n: int, lang: str = "en") -> list[SentimentExample]:
        """``n`` opinion sentences with labels, about half positive.

        The rule: an adjective has a polarity (good +, boring -); "not"/不 flips it ("not bad" /
        不错 is positive, "not good" / 不好看 negative), degree words (very, really, so, quite,
        too, a little / 非常, 真的很, 特别, 挺…的, 太…了, 有点) never do; "liked" / 喜欢 is
        positive and "did not like" / 不喜欢 negative. In "A but B" / "A，但是B" the clause after
        "but" decides the label (这部电影很好看，但是太长了 is negative); in "A and B" both
        clauses agree. The generator only uses "too" and "a little" with unpleasant adjectives
        and "not very" with pleasant ones, so the rule matches what a reader feels. ``tags``
        holds "negation", "contrast" and "intensifier" when the sentence has them.
        """
        _check_count("n", n)
        _check_lang(lang)
        out = []
        for _ in range(n):
            tid, bindings, label, tags = opinion(self._rng)
            segments = render(tid, resolve([(tid, bindings)])[0][1], lang)
            out.append(SentimentExample(_text(segments), label, frozenset(tags), tid))
        return out

    def ner(self, n: int, lang: str = "en") -> list[NerExample]:
        """``n`` stories with exact character spans of people (PER), places (LOC) and organisations (ORG)."""
        _check_count("n", n)
        _check_lang(lang)
        out = []
        for _ in range(n):
            story = self.story(lang)
            out.append(
                NerExample(story.text, tuple((e.start, e.end, e.label) for e in story.entities))
            )
        return out

    def qa(self, n: int, lang: str = "en") -> list[QAExample]:
        """``n`` extractive question-answer examples over stories (one question per story).

        Questions name the character even where the story says "he" or "she", and only
        questions with a single answer in the story are asked.
        """
        _check_count("n", n)
        _check_lang(lang)
        out: list[QAExample] = []
        while len(out) < n:
            story = self.story(lang)
            candidates = _questions(story)
            if candidates:
                out.append(candidates[self._rng.randrange(len(candidates))])
        return out

    def translation_pairs(self, n: int) -> list[TranslationPair]:
        """``n`` sentence pairs (en, zh); each pair comes from one template and the same words."""
        _check_count("n", n)
        out: list[TranslationPair] = []
        while len(out) < n:
            frame = self.frame()
            en, zh = self.render(frame, "en"), self.render(frame, "zh")
            for a, b, rule in zip(en.sentences, zh.sentences, en.rules, strict=True):
                out.append(TranslationPair(a, b, rule))
        return out[:n]

    def summaries(self, n: int, lang: str = "en") -> list[SummaryExample]:
        """``n`` stories, each with a one-line summary (itself a sentence of the grammar)."""
        _check_count("n", n)
        _check_lang(lang)
        out = []
        for _ in range(n):
            story = self.story(lang)
            tid, bindings = story.frame.summary
            summary = _text(render(tid, resolve([(tid, dict(bindings))])[0][1], lang))
            out.append(SummaryExample(story.text, summary))
        return out


def _questions(story: Story) -> list[QAExample]:
    """Every unambiguous question the story answers, as QA examples."""
    lang, join = story.lang, _JOIN[story.lang]
    resolved = resolve(list(story.frame.events))
    found: dict[str, set[tuple[str, int]]] = {}
    offset = 0
    for (tid, plain), (_, bindings), sentence in zip(
        story.frame.events, resolved, story.sentences, strict=True
    ):
        subject = plain.get("S")
        qa_specs = TEMPLATES[tid].qa
        if qa_specs and isinstance(subject, Character) and not subject.narrator:
            segments = render(tid, bindings, lang)
            for qid, answer_slot in qa_specs:
                value = bindings[answer_slot]
                if isinstance(value, Mention) and (value.pronoun or value.ref.name is None):
                    continue  # "who did Tom meet?" needs a name in the text, not "her"
                start = pos = 0
                parts = []
                for text, _label, slot in segments:
                    if slot == answer_slot:
                        start = start if parts else pos
                        parts.append(text)
                    pos += len(text)
                q_bindings = {k: plain[k] for k in slot_order(qid) if k in plain}
                q_segments = render(qid, resolve([(qid, q_bindings)])[0][1], lang)
                found.setdefault(_text(q_segments), set()).add(("".join(parts), offset + start))
        offset += len(sentence) + len(join)
    return [
        QAExample(story.text, question, answer, start)
        for question, answers in found.items()
        if len(answers) == 1
        for answer, start in answers
    ]


# ---------------------------------------------------------------- how varied is it?
_EN_TOKEN = re.compile(r"[A-Za-z]+|[^\sA-Za-z]")


def variety_stats(n_tokens: int = 1_000_000, seed: int = 0) -> dict[str, dict[str, float]]:
    """Generate about ``n_tokens`` tokens per language and measure vocabulary and repetition.

    Tokens: in English, runs of letters and single punctuation marks; in Chinese, every
    non-space character. ``vocab`` counts distinct letter-words (lower-cased) or distinct Han
    characters seen; ``lexicon_words`` counts distinct word forms in the lexicon;
    ``distinct_share`` is distinct sentences / all sentences. Introduced in chapter 2.
    """
    _check_count("n_tokens", n_tokens)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"seed must be an int, got {seed!r}.")
    stats: dict[str, dict[str, float]] = {}
    for lang in ("en", "zh"):
        world, start = StoryWorld(seed), time.perf_counter()
        tokens, sentences, vocab, distinct = 0, 0, set(), set()
        while tokens < n_tokens:
            story = world.story(lang)
            for sentence in story.sentences:
                if lang == "en":
                    words = _EN_TOKEN.findall(sentence)
                    vocab.update(w.lower() for w in words if w.isalpha())
                else:
                    words = [c for c in sentence if not c.isspace()]
                    vocab.update(c for c in words if "\u4e00" <= c <= "\u9fff")
                tokens += len(words)
                sentences += 1
                distinct.add(sentence)
        seconds = time.perf_counter() - start
        stats[lang] = {
            "tokens": tokens,
            "sentences": sentences,
            "distinct_sentences": len(distinct),
            "distinct_share": len(distinct) / max(sentences, 1),
            "vocab": len(vocab),
            "lexicon_words": _lexicon_size(lang),
            "seconds": seconds,
            "tokens_per_second": tokens / max(seconds, 1e-9),
        }
    return stats


def _lexicon_size(lang: str) -> int:
    words = set()
    for entries in TYPES.values():
        for e in entries:
            if "color" not in e.attrs:  # colour + noun pairs are built from two words
                words.update((e.en if lang == "en" else e.zh).values())
    return len(words)


__all__ = [
    "SEPARATOR",
    "Entity",
    "Frame",
    "Mention",
    "NerExample",
    "QAExample",
    "SentimentExample",
    "Story",
    "StoryWorld",
    "SummaryExample",
    "TranslationPair",
    "variety_stats",
]
