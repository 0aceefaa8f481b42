"""How translations and summaries are graded: ROUGE by hand, BLEU and chrF through sacrebleu,
and the extractive baseline a summarizer has to beat.

Introduced in chapter 13.

- **ROUGE-1/2** count the n-grams (n = 1, 2) that a candidate shares with the reference
  (each n-gram at most as often as the reference has it); **ROUGE-L** uses the longest common
  subsequence instead. Precision divides by the candidate's count, recall by the reference's,
  and the F-measure is their harmonic mean, as in Google's ``rouge_score`` package.
  Tokens: for English, as ``rouge_score`` makes them (lower case, runs of ``a-z0-9``, no
  stemming); for Chinese, every character that is a letter or digit is a token. (``rouge_score``'s
  default tokenizer keeps only ``a-z0-9`` and so drops Chinese text entirely; comparing the two
  on Chinese needs a character tokenizer passed to ``RougeScorer(tokenizer=...)``.)
- :func:`corpus_bleu` and :func:`corpus_chrf` call ``sacrebleu`` (Chinese targets use its
  ``"zh"`` tokenizer, which splits Chinese characters apart), so scores are comparable with
  published ones; sacrebleu is an optional dependency.
- :func:`extractive_summary` picks a sentence of the story itself: the lead sentence, or the
  one sharing most words with the rest of the story.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from lmkit._optional import require
from lmkit.data.story_grammar import split_sentences
from lmkit.errors import InputError

__all__ = [
    "ROUGE_TYPES",
    "RougeScore",
    "corpus_bleu",
    "corpus_chrf",
    "extractive_summary",
    "mean_rouge",
    "rouge",
    "rouge_tokens",
]

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
LANGS = ("en", "zh")
EXTRACTIVE_METHODS = ("lead", "overlap")


def _check_lang(lang: object) -> str:
    if lang not in LANGS:
        raise InputError(f"lang must be one of {LANGS}, got {lang!r}.")
    return str(lang)


def rouge_tokens(text: str, lang: str = "en") -> list[str]:
    """ROUGE's tokens of ``text``: lower-case ``a-z0-9`` words (English) or characters (Chinese)."""
    if not isinstance(text, str):
        raise InputError(f"text must be a str, got {type(text).__name__}.")
    if _check_lang(lang) == "zh":
        return [c for c in text.lower() if c.isalnum()]
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).split()


@dataclass(frozen=True)
class RougeScore:
    """Precision, recall and F-measure of one ROUGE type."""

    precision: float
    recall: float
    fmeasure: float


def _score(overlap: int, candidate_count: int, reference_count: int) -> RougeScore:
    precision = overlap / candidate_count if candidate_count else 0.0
    recall = overlap / reference_count if reference_count else 0.0
    total = precision + recall
    return RougeScore(precision, recall, 2 * precision * recall / total if total else 0.0)


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _lcs_length(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:  # one row of the dynamic-programming table at a time
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge(candidate: str, reference: str, lang: str = "en") -> dict[str, RougeScore]:
    """ROUGE-1, ROUGE-2 and ROUGE-L of ``candidate`` against ``reference``."""
    cand, ref = rouge_tokens(candidate, lang), rouge_tokens(reference, lang)
    out = {}
    for n in (1, 2):
        c, r = _ngrams(cand, n), _ngrams(ref, n)
        out[f"rouge{n}"] = _score(sum((c & r).values()), sum(c.values()), sum(r.values()))
    out["rougeL"] = _score(_lcs_length(cand, ref), len(cand), len(ref))
    return out


def _check_pairs(candidates: Sequence[str], references: Sequence[str]) -> None:
    if isinstance(candidates, str) or isinstance(references, str):
        raise InputError("Pass lists of texts (one per example), not a single string.")
    if len(candidates) != len(references) or not candidates:
        raise InputError(
            f"Need as many candidates as references, at least one: got {len(candidates)} and "
            f"{len(references)}."
        )


def mean_rouge(
    candidates: Sequence[str], references: Sequence[str], lang: str = "en"
) -> dict[str, float]:
    """The mean F-measure of each ROUGE type over pairs of texts."""
    _check_pairs(candidates, references)
    scores = [rouge(c, r, lang) for c, r in zip(candidates, references, strict=True)]
    return {t: sum(s[t].fmeasure for s in scores) / len(scores) for t in ROUGE_TYPES}


def _sacrebleu():
    return require("sacrebleu", "compute BLEU and chrF scores")


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str], lang: str = "en") -> float:
    """sacrebleu's corpus BLEU (0–100), one reference per hypothesis; ``lang`` is the target
    language (``"zh"`` uses sacrebleu's Chinese tokenizer, ``"en"`` its default ``13a``)."""
    _check_pairs(hypotheses, references)
    tokenize = "zh" if _check_lang(lang) == "zh" else "13a"
    return float(
        _sacrebleu().corpus_bleu(list(hypotheses), [list(references)], tokenize=tokenize).score
    )


def corpus_chrf(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """sacrebleu's corpus chrF (character 6-grams, beta 2; 0–100), one reference each."""
    _check_pairs(hypotheses, references)
    return float(_sacrebleu().corpus_chrf(list(hypotheses), [list(references)]).score)


def extractive_summary(text: str, lang: str = "en", method: str = "lead") -> str:
    """One sentence of ``text`` as its summary: the first (``"lead"``), or the one whose words
    (:func:`rouge_tokens`) overlap most with the other sentences (``"overlap"``; ties go to
    the earlier sentence)."""
    if method not in EXTRACTIVE_METHODS:
        raise InputError(f"method must be one of {EXTRACTIVE_METHODS}, got {method!r}.")
    sentences = split_sentences(text, _check_lang(lang)) if isinstance(text, str) else []
    if not sentences:
        raise InputError("The text is empty; give a story to summarize.")
    if method == "lead" or len(sentences) == 1:
        return sentences[0]
    bags = [set(rouge_tokens(s, lang)) for s in sentences]

    def overlap(i: int) -> int:
        return sum(len(bags[i] & bags[j]) for j in range(len(bags)) if j != i)

    return sentences[max(range(len(sentences)), key=lambda i: (overlap(i), -i))]
