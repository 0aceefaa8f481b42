"""ROUGE written by hand against rouge_score; BLEU/chrF wrappers; the extractive baselines."""

from __future__ import annotations

import random
import sys

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from lmkit.data.story_world import StoryWorld
from lmkit.errors import InputError, MissingDependencyError
from lmkit.seq2seq.metrics import (
    ROUGE_TYPES,
    corpus_bleu,
    corpus_chrf,
    extractive_summary,
    mean_rouge,
    rouge,
    rouge_tokens,
)


def sentence_pairs(lang: str, n: int = 40) -> list[tuple[str, str]]:
    """Story-world sentences against shuffled, cut and mixed versions of themselves."""
    rng = random.Random(0)
    texts = [getattr(p, lang) for p in StoryWorld(3).translation_pairs(2 * n)]
    pairs = []
    for i in range(n):
        words = list(texts[i]) if lang == "zh" else texts[i].split()
        rng.shuffle(words) if i % 3 == 0 else None
        words = (
            words[: rng.randint(1, len(words))]
            + (list(texts[n + i]) if lang == "zh" else texts[n + i].split())[:3]
        )
        pairs.append(("".join(words) if lang == "zh" else " ".join(words), texts[i]))
    return pairs


class CharacterTokenizer:
    """rouge_score's tokenizer interface, with Chinese characters as tokens."""

    def tokenize(self, text: str) -> list[str]:
        return [c for c in text.lower() if c.isalnum()]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_rouge_matches_rouge_score(lang):
    tokenizer = CharacterTokenizer() if lang == "zh" else None
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=False, tokenizer=tokenizer)
    for candidate, reference in sentence_pairs(lang):
        want = scorer.score(reference, candidate)  # rouge_score takes (target, prediction)
        got = rouge(candidate, reference, lang)
        for kind in ROUGE_TYPES:
            assert got[kind].precision == pytest.approx(want[kind].precision, abs=1e-9)
            assert got[kind].recall == pytest.approx(want[kind].recall, abs=1e-9)
            assert got[kind].fmeasure == pytest.approx(want[kind].fmeasure, abs=1e-9)


def test_rouge_scores_default_tokenizer_drops_chinese_so_ours_uses_characters():
    text = "安娜给杰克做了一个蛋糕。"
    default = rouge_scorer.RougeScorer(["rouge1"]).score(text, text)["rouge1"].fmeasure
    assert default == 0.0  # no a-z0-9 tokens at all
    assert rouge(text, text, "zh")["rouge1"].fmeasure == 1.0
    assert rouge_tokens(text, "zh")[:3] == ["安", "娜", "给"]


def test_rouge_of_a_known_pair():
    scores = rouge("the cat sat", "the cat sat on the mat")
    assert scores["rouge1"].precision == 1.0 and scores["rouge1"].recall == 0.5
    assert scores["rouge2"].fmeasure == pytest.approx(2 * 1.0 * 0.4 / 1.4)
    assert rouge("", "the cat")["rougeL"].fmeasure == 0.0
    assert mean_rouge(["a b", "c"], ["a b", "d"])["rouge1"] == 0.5


def test_bleu_and_chrf_call_sacrebleu_with_the_right_tokenizer():
    hyps = ["安娜给杰克做了一个蛋糕。", "他对安娜说谢谢。"]
    refs = ["安娜给杰克做了一个蛋糕。", "他对大卫说谢谢。"]
    zh = sacrebleu.corpus_bleu(hyps, [refs], tokenize="zh").score
    assert corpus_bleu(hyps, refs, "zh") == pytest.approx(zh)
    # without Chinese segmentation each sentence is one "word": only exact matches count
    assert corpus_bleu(hyps, refs, "en") < corpus_bleu(hyps, refs, "zh")
    assert corpus_bleu(refs, refs, "zh") == pytest.approx(100.0)
    assert corpus_chrf(hyps, refs) == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score)
    assert corpus_chrf(refs, refs) == pytest.approx(100.0)


def test_missing_sacrebleu_gives_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sacrebleu", None)  # import now fails
    with pytest.raises(MissingDependencyError, match="pip install sacrebleu"):
        corpus_bleu(["a"], ["a"])


def test_metric_inputs_are_checked():
    with pytest.raises(InputError, match="as many"):
        corpus_chrf(["a", "b"], ["a"])
    with pytest.raises(InputError, match="lists"):
        mean_rouge("abc", "abc")
    with pytest.raises(InputError, match="lang"):
        rouge("a", "a", "fr")


def test_extractive_baselines():
    story = "Tom went to the park. Tom saw a dog in the park and the dog saw Tom. The dog was big."
    assert extractive_summary(story, "en", "lead") == "Tom went to the park."
    # shared words: first 3 + 1, second 3 + 2, third 1 + 2
    assert (
        extractive_summary(story, "en", "overlap")
        == "Tom saw a dog in the park and the dog saw Tom."
    )
    assert extractive_summary("小明很高兴。他去了公园。", "zh") == "小明很高兴。"
    with pytest.raises(InputError, match="empty"):
        extractive_summary("  ", "en")
    with pytest.raises(InputError, match="method"):
        extractive_summary(story, "en", "best")
