"""Chapter 13 exercises: BIO tags from entity spans, the best answer span under a length limit,
ROUGE-L, recall@k of a search index, and SQuAD token F1 on a Chinese answer.

Introduced in chapter 13. The references are written here from the definitions, independent of
:mod:`lmkit.tasks` (the tests check that lmkit's own functions pass). ``diagnose`` rebuilds the
usual slips on the case that failed (every entity token tagged B-, or I- from the first token;
whitespace tokens tagged; start and end chosen by two separate argmaxes, the length limit
dropped or off by one, an exclusive end; ROUGE-L as recall or precision only, as unigram
overlap, or with a contiguous substring; recall@k with k ignored, the lowest scores taken, or
divided by k; the whole Chinese string taken as one token) and names the one the answer matches.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch

from lmkit.exercises.core import Case, Exercise, register
from lmkit.exercises.feedback import matching_slip


def _first_match(got: Any, slips: list[tuple[Any, str]]) -> str | None:
    """Like :func:`matching_slip`, for answers compared by equality (lists of tags, tuples)."""
    if isinstance(got, tuple):
        got = list(got)
    for wrong, explanation in slips:
        if got == (list(wrong) if isinstance(wrong, tuple) else wrong):
            return explanation
    return None


# ------------------------------------------------------------ 1. BIO tags from spans
def _bio(offsets, spans, first="B-", rest="I-", skip_empty=True):
    tags = ["O"] * len(offsets)
    for start, end, label in sorted(spans):
        inside = [
            i for i, (s, e) in enumerate(offsets) if (s < e or not skip_empty) and start <= s < end
        ]
        for k, i in enumerate(inside):
            tags[i] = (first if k == 0 else rest) + label
    return tags


def _bio_labels(offsets, spans):
    return _bio(offsets, spans)


def _bio_case(gen: torch.Generator, n_words: int, with_blank: bool) -> tuple[list, list]:
    """Words of 1-3 sub-word tokens, one space apart; entities of 1-2 whole words."""
    offsets, words, pos = [], [], 0
    for w in range(n_words):
        pieces = int(torch.randint(1, 4, (1,), generator=gen))
        start = pos
        for _ in range(pieces):
            length = int(torch.randint(1, 4, (1,), generator=gen))
            offsets.append((pos, pos + length))
            pos += length
        words.append((start, pos))
        if with_blank and w == 1:
            offsets.append((pos, pos))  # a token that is only whitespace: empty span
        pos += 1
    spans, w = [], 0
    while w < n_words:
        if float(torch.rand(1, generator=gen)) < 0.4:
            width = min(int(torch.randint(1, 3, (1,), generator=gen)), n_words - w)
            label = ("PER", "LOC", "ORG")[int(torch.randint(0, 3, (1,), generator=gen))]
            spans.append((words[w][0], words[w + width - 1][1], label))
            w += width + 1  # a gap, so two entities never touch
        else:
            w += 1
    return offsets, spans


def _bio_cases(gen: torch.Generator) -> list[Case]:
    cases = [
        Case(
            ([(0, 3), (4, 8), (8, 10), (11, 16), (17, 19)], [(4, 10, "PER"), (17, 19, "LOC")]),
            "'Tom Smith went to Paris'-like: a name cut into two pieces",
        ),
        Case(
            ([(0, 3), (3, 3), (4, 7), (8, 10)], [(0, 7, "LOC")]),
            "a two-word place with a whitespace-only token (empty span) inside it",
        ),
    ]
    for n, blank, label in ((8, False, "8 random words"), (12, True, "12 random words")):
        offsets, spans = _bio_case(gen, n, blank)
        if not spans:
            spans = [(offsets[0][0], offsets[0][1], "PER")]
        cases.append(Case((offsets, spans), label))
    return cases


def _bio_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    offsets, spans = args
    return _first_match(
        got,
        [
            (
                _bio(offsets, spans, rest="B-"),
                "every token of an entity is tagged B-: only its first token is B-, the "
                "following ones are I- (a second B- would start a new entity).",
            ),
            (
                _bio(offsets, spans, first="I-"),
                "the first token of an entity is tagged I-: BIO (IOB2) marks the beginning "
                "with B-.",
            ),
            (
                _bio(offsets, spans, skip_empty=False),
                "a whitespace-only token (start == end) was tagged: it covers no character, "
                "so it stays O.",
            ),
            (
                [t[0] for t in expected],
                "the tags have no entity type: write B-PER, I-LOC…, not just B and I.",
            ),
        ],
    )


register(
    Exercise(
        id="ch13.bio_labels",
        title="BIO tags for tokens from their character offsets and the entity spans",
        kind="function",
        reference=_bio_labels,
        make_cases=_bio_cases,
        hints=(
            "a token (s, e) with s < e is inside (start, end, label) when start <= s < end; the "
            "first such token of each entity gets 'B-' + label, the others 'I-' + label.",
        ),
        diagnose=_bio_diagnose,
    )
)


# ------------------------------------------------------------ 2. the best answer span
def _span(start_logits, end_logits, max_len, limit=True, inclusive=False):
    n = len(start_logits)
    best, where = float("-inf"), (0, 0)
    for i in range(n):
        for j in range(i, n):
            too_long = (j - i > max_len) if inclusive else (j - i >= max_len)
            if limit and too_long:
                continue
            score = float(start_logits[i]) + float(end_logits[j])
            if score > best:
                best, where = score, (i, j)
    return where


def _best_span(start_logits, end_logits, max_answer_tokens):
    return _span(start_logits, end_logits, max_answer_tokens)


def _span_cases(gen: torch.Generator) -> list[Case]:
    def logits(n):
        return torch.randn(n, generator=gen, dtype=torch.float64) * 2

    fixed_start = torch.tensor([0.0, 5.0, 0.0, 0.0, 1.0, 0.0], dtype=torch.float64)
    fixed_end = torch.tensor([4.0, 0.0, 0.0, 3.0, 0.0, 0.0], dtype=torch.float64)
    return [
        Case((fixed_start, fixed_end, 3), "6 tokens: the best end lies before the best start"),
        Case((logits(10), logits(10), 3), "10 tokens, at most 3 per answer"),
        Case((logits(16), logits(16), 4), "16 tokens, at most 4 per answer"),
        Case((logits(8), logits(8), 1), "8 tokens, one-token answers only"),
        Case((logits(30), logits(30), 2), "30 tokens, at most 2 per answer"),
    ]


def _span_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    s, e, m = args
    i, j = _span(s, e, m)
    return _first_match(
        got,
        [
            (
                _span(s, e, m, inclusive=True),
                "one token too many is allowed: an answer from i to j (inclusive) has "
                "j - i + 1 tokens, so require j - i < max_answer_tokens.",
            ),
            (
                _span(s, e, m, limit=False),
                "the length limit is not applied: skip pairs with j - i + 1 > max_answer_tokens.",
            ),
            (
                (int(s.argmax()), int(e.argmax())),
                "start and end were chosen by two separate argmaxes: the pair must satisfy "
                "start <= end and the length limit, so search the pairs together.",
            ),
            (
                (i, j + 1),
                "the end is returned exclusive (j + 1): return the index of the last token.",
            ),
        ],
    )


register(
    Exercise(
        id="ch13.best_span",
        title="the best (start, end) answer span with a length limit",
        kind="function",
        reference=_best_span,
        make_cases=_span_cases,
        hints=(
            "for every i and every j with i <= j < i + max_answer_tokens, score "
            "start_logits[i] + end_logits[j]; return the (i, j) of the highest score as ints.",
        ),
        diagnose=_span_diagnose,
    )
)


# ------------------------------------------------------------ 3. ROUGE-L
def _lcs(a: list, b: list) -> int:
    row = [0] * (len(b) + 1)
    for x in a:
        previous_diagonal = 0
        for k, y in enumerate(b, start=1):
            previous_diagonal, row[k] = (
                row[k],
                (previous_diagonal + 1 if x == y else max(row[k], row[k - 1])),
            )
    return row[-1]


def _f1(overlap: int, n_candidate: int, n_reference: int) -> float:
    if overlap == 0:
        return 0.0
    p, r = overlap / n_candidate, overlap / n_reference
    return 2 * p * r / (p + r)


def _rouge_l(candidate, reference):
    return _f1(_lcs(candidate, reference), len(candidate), len(reference))


def _words(text: str) -> list[str]:
    return text.split()


def _rouge_cases(gen: torch.Generator) -> list[Case]:
    words = _words("tom went to the park and ate an apple happy")

    def sentence(n):
        return [words[int(i)] for i in torch.randint(0, 6, (n,), generator=gen)]

    return [
        Case(
            (_words("tom ate an apple in the park"), _words("in the park tom ate an apple")),
            "the same words in another order",
        ),
        Case((sentence(7), sentence(9)), "7 and 9 random words from 6"),
        Case((sentence(12), sentence(5)), "12 and 5 random words from 6"),
        Case((["lily", "smiled"], ["tom", "cried"]), "no word in common"),
    ]


def _substring(a: list, b: list) -> int:
    """The longest common contiguous run (the slip, not ROUGE-L)."""
    runs = (k for i in range(len(a)) for j in range(len(b)) for k in range(1, len(a) - i + 1)
            if a[i : i + k] == b[j : j + k])  # fmt: skip
    return max(runs, default=0)


def _rouge_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    cand, ref = args
    lcs, n_c, n_r = _lcs(cand, ref), len(cand), len(ref)
    unigrams = sum((Counter(cand) & Counter(ref)).values())
    f1_of = "; ROUGE-L here is the F1 of precision and recall."
    return matching_slip(
        got,
        [
            (lcs / n_r, "that is the recall LCS / len(reference)" + f1_of),
            (lcs / n_c, "that is the precision LCS / len(candidate)" + f1_of),
            (_f1(unigrams, n_c, n_r), "that is ROUGE-1 (shared words in any order); ROUGE-L "
             "counts the longest common SUBSEQUENCE, in order."),
            (_f1(_substring(cand, ref), n_c, n_r), "you used the longest common substring "
             "(contiguous); a subsequence may skip words in between."),
            (float(lcs), "that is the LCS length itself; turn it into precision, recall and F1."),
        ],
    )  # fmt: skip


register(
    Exercise(
        id="ch13.rouge_l",
        title="ROUGE-L F1 of a candidate token list against a reference",
        kind="function",
        reference=_rouge_l,
        make_cases=_rouge_cases,
        hints=(
            "LCS by dynamic programming: L[i][j] = L[i-1][j-1] + 1 if a[i-1] == b[j-1] else "
            "max(L[i-1][j], L[i][j-1]); then P = L / len(candidate), R = L / len(reference).",
        ),
        diagnose=_rouge_diagnose,
    )
)


# ------------------------------------------------------------ 4. recall@k
def _recall_at_k(scores: torch.Tensor, gold: torch.Tensor, k: int) -> float:
    hits = 0
    for row, answer in zip(scores.tolist(), gold.tolist(), strict=True):
        ranked = sorted(range(len(row)), key=lambda i: -row[i])
        hits += answer in ranked[:k]
    return hits / len(gold)


def _recall_cases(gen: torch.Generator) -> list[Case]:
    def case(q, n, k, label):
        scores = torch.rand(q, n, generator=gen, dtype=torch.float64) * 2 - 1
        gold = torch.randint(0, n, (q,), generator=gen)
        return Case((scores, gold, k), label)

    return [
        case(6, 8, 1, "6 queries, 8 documents, k=1"),
        case(10, 12, 3, "10 queries, 12 documents, k=3"),
        case(20, 30, 5, "20 queries, 30 documents, k=5"),
    ]


def _recall_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    scores, gold, k = args

    def share(top):  # the share of queries whose gold document is in ``top``
        return float((top.indices == gold[:, None]).any(dim=1).double().mean())

    hits = share(scores.topk(k, dim=1)) * len(gold)
    return matching_slip(
        got,
        [
            (_recall_at_k(scores, gold, 1), "that is recall@1: look at the k best documents."),
            (share(scores.topk(k, dim=1, largest=False)), "you took the k LOWEST scores: a "
             "higher cosine means more similar."),
            (share(scores.topk(min(k + 1, scores.shape[1]), dim=1)), "you looked at k + 1 "
             "documents (off by one)."),
            (hits / (len(gold) * k), "you divided by queries × k: recall@k is the share of "
             "QUERIES whose right document is among their top k."),
            (hits, "that is the number of hits; divide by the number of queries."),
        ],
    )  # fmt: skip


register(
    Exercise(
        id="ch13.recall_at_k",
        title="recall@k: the share of queries whose right document is in the top k",
        kind="function",
        reference=_recall_at_k,
        make_cases=_recall_cases,
        hints=("top = scores.topk(k, dim=1).indices; hit = (top == gold[:, None]).any(dim=1).",),
        diagnose=_recall_diagnose,
    )
)


# ------------------------------------------------------------ 5. token F1 on a Chinese answer
def _zh_f1() -> float:
    return _f1(4, 7, 4)  # 在北京的公园里 vs 北京公园: 北 京 公 园 shared, 7 and 4 characters


def _zh_f1_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    return matching_slip(
        got,
        [
            (0.0, "each whole string was taken as one token (Chinese has no spaces), or you "
             "computed exact match: for Chinese, every character is a token."),
            (4 / 7, "that is the precision only (4 of the 7 predicted characters)."),
            (1.0, "that is the recall only (all 4 gold characters were found)."),
            ((4 / 7 + 1) / 2, "that is the arithmetic mean of P and R; F1 is the harmonic mean."),
        ],
    )  # fmt: skip


register(
    Exercise(
        id="ch13.zh_token_f1",
        title="SQuAD token F1 of the prediction 在北京的公园里 against the answer 北京公园",
        kind="value",
        reference=_zh_f1,
        rtol=1e-4,
        atol=1e-6,
        hints=(
            "count the characters the two share (with multiplicity); P = shared / 7, "
            "R = shared / 4, F1 = 2PR / (P + R).",
        ),
        diagnose=_zh_f1_diagnose,
    )
)
