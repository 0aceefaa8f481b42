"""Chapter 9 exercises: BERT's 80/10/10 masking, the masked-LM loss, bidirectional and causal
attention masks, and segment ids for a sentence pair.

Introduced in chapter 9. ``diagnose`` rebuilds the usual slips on the case that failed (masking
[CLS]/[SEP]/[PAD], replacing every picked token with [MASK], labels at every position, a loss
averaged over all positions, a causal triangle the wrong way round, padding hidden on the query
side, the first [SEP] put in segment B) and says which one the answer matches.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from lmkit.bert.mlm import mask_tokens
from lmkit.bert.model import IGNORE_INDEX
from lmkit.exercises.core import Case, Exercise, register
from lmkit.exercises.feedback import matching_slip

# Ids of the masking exercise's toy vocabulary: 0..3 are special, like tiny-bert's four.
_PAD, _CLS, _SEP, _MASK = 0, 1, 2, 3
_SPECIAL = (_PAD, _CLS, _SEP, _MASK)


# ------------------------------------------------------------ 1. BERT's 80/10/10 masking
def _bert_mask(ids, special_ids, mask_id, vocab_size, generator):
    out = mask_tokens(
        ids, mask_id=mask_id, vocab_size=vocab_size, special_ids=special_ids, generator=generator
    )
    return out.input_ids, out.labels


def _mask_cases(gen: torch.Generator) -> list[Case]:
    def rows(b: int, t: int, vocab: int, pad_from: int | None) -> torch.Tensor:
        ids = torch.randint(len(_SPECIAL), vocab, (b, t), generator=gen)
        ids[:, 0], ids[:, -1] = _CLS, _SEP
        if pad_from is not None:
            ids[0, pad_from - 1] = _SEP
            ids[0, pad_from:] = _PAD
        return ids

    seed = int(torch.randint(0, 2**31, (1,), generator=gen))
    return [
        Case(
            (rows(4, 12, 30, None), _SPECIAL, _MASK, 30, torch.Generator().manual_seed(seed)),
            "4 rows of 12 ids, [CLS] first and [SEP] last, vocabulary 30",
        ),
        Case(
            (rows(8, 40, 50, 25), _SPECIAL, _MASK, 50, torch.Generator().manual_seed(seed + 1)),
            "8 rows of 40 ids; row 0 ends in [PAD] padding",
        ),
    ]


def _mask_slips(ids, special_ids, mask_id, vocab_size, generator):
    """The usual wrong versions, drawing the same random numbers in the same order."""
    special = torch.tensor(sorted(special_ids))
    ordinary = torch.ones(vocab_size, dtype=torch.bool)
    ordinary[special] = False
    ordinary_ids = ordinary.nonzero().squeeze(1)
    draw = torch.rand(ids.shape, generator=generator)
    fate = torch.rand(ids.shape, generator=generator)
    random_ids = ordinary_ids[torch.randint(len(ordinary_ids), ids.shape, generator=generator)]

    def apply(picked, to_mask, to_random, labels_everywhere=False):
        labels = ids.clone() if labels_everywhere else torch.where(picked, ids, IGNORE_INDEX)
        out = torch.where(to_mask, mask_id, ids)
        return torch.where(to_random, random_ids, out), labels

    picked = ordinary[ids] & (draw < 0.15)
    any_picked = draw < 0.15
    m, r = fate < 0.8, (fate >= 0.8) & (fate < 0.9)
    return [
        (
            apply(any_picked, any_picked & m, any_picked & r),
            "special tokens ([CLS], [SEP], [PAD]) were picked too. They carry no word to "
            "predict: pick only positions whose id is not in special_ids.",
        ),
        (
            apply(picked, picked, torch.zeros_like(picked)),
            "every picked token became [MASK]. BERT replaces only 80% with [MASK], 10% with a "
            "random ordinary token, and leaves 10% unchanged.",
        ),
        (
            apply(picked, picked & m, torch.zeros_like(picked)),
            "the 10% random replacements are missing: fate in [0.8, 0.9) should take the "
            "random id, the rest (fate >= 0.9) stays unchanged.",
        ),
        (
            apply(picked, picked & m, picked & r, labels_everywhere=True),
            "the labels hold the original id at every position. Only picked positions count "
            "in the loss: everywhere else the label must be -100.",
        ),
        (
            (apply(picked, picked & m, picked & r)[0], torch.where(picked, IGNORE_INDEX, ids)),
            "the labels are the wrong way round: the original id goes where the token was "
            "picked, -100 where it was not.",
        ),
    ]


def _mask_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return "return a pair (masked_ids, labels), two tensors of the shape of ids."
    got_ids, got_labels = got
    for (wrong_ids, wrong_labels), explanation in _mask_slips(*args):
        if (
            isinstance(got_ids, torch.Tensor)
            and isinstance(got_labels, torch.Tensor)
            and got_ids.shape == wrong_ids.shape
            and got_labels.shape == wrong_labels.shape
            and torch.equal(got_ids.long(), wrong_ids)
            and torch.equal(got_labels.long(), wrong_labels)
        ):
            return explanation
    if isinstance(got_labels, torch.Tensor) and torch.equal(got_labels.long(), expected[1]):
        return (
            "the labels are right, so the 15% pick is right; the replacements differ. Use the "
            "three draws in the order given, fate < 0.8 → [MASK], 0.8 ≤ fate < 0.9 → the "
            "random id, else unchanged."
        )
    return None


register(
    Exercise(
        id="ch09.bert_mask",
        title="BERT's masking: pick 15% of ordinary tokens, then 80% [MASK] / 10% random / 10% kept",
        kind="function",
        reference=_bert_mask,
        make_cases=_mask_cases,
        hints=(
            "draw = rand(ids.shape), fate = rand(ids.shape), random ids from randint, in that "
            "order; picked = (id not special) & (draw < 0.15); labels = where(picked, ids, -100).",
        ),
        diagnose=_mask_diagnose,
    )
)


# ------------------------------------------------------------ 2. the masked-LM loss
def _mlm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))


def _loss_cases(gen: torch.Generator) -> list[Case]:
    def case(b: int, t: int, v: int, label: str) -> Case:
        logits = torch.randn(b, t, v, generator=gen) * 2
        labels = torch.randint(0, v, (b, t), generator=gen)
        hidden = torch.rand(b, t, generator=gen) > 0.3
        hidden[0, 0] = False  # at least one position counts
        return Case((logits, labels.masked_fill(hidden, IGNORE_INDEX)), label)

    return [
        case(2, 6, 11, "logits (2, 6, 11), about 30% of labels not -100"),
        case(3, 9, 20, "logits (3, 9, 20), about 30% of labels not -100"),
    ]


def _loss_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    logits, labels = (a.double() if a.is_floating_point() else a for a in args)
    logp = torch.log_softmax(logits, -1)
    keep = labels != IGNORE_INDEX
    picked = logp.gather(-1, labels.clamp_min(0).unsqueeze(-1)).squeeze(-1)
    per_token = -picked[keep]
    slips = [
        (
            per_token.sum() / labels.numel(),
            "you summed over the masked positions but divided by every position. The mean is "
            "over the labelled positions only: divide by (labels != -100).sum().",
        ),
        (
            (-picked).mean(),
            "the loss runs over all positions (the -100 ones included). Keep only positions "
            "whose label is not -100 (BERT learns only from the masked tokens).",
        ),
        (per_token.sum(), "you returned the sum; the masked-LM loss is the mean."),
        (
            (-torch.softmax(logits, -1).gather(-1, labels.clamp_min(0).unsqueeze(-1)))
            .squeeze(-1)[keep]
            .mean(),
            "you used probabilities, not log-probabilities: the loss is −log p(label).",
        ),
        (
            per_token.mean() / math.log(2),
            "that is in bits; PyTorch's cross-entropy uses nats (ln).",
        ),
    ]
    return matching_slip(got, slips)


register(
    Exercise(
        id="ch09.mlm_loss",
        title="masked-LM loss: mean −log p(label) over positions whose label is not -100",
        kind="function",
        reference=_mlm_loss,
        make_cases=_loss_cases,
        rtol=1e-4,
        atol=1e-5,
        hints=(
            "keep = labels != -100; logp = log_softmax(logits, -1)[keep] (n, V); "
            "take logp[range(n), labels[keep]], negate, average.",
        ),
        diagnose=_loss_diagnose,
    )
)


# ------------------------------------------------------------ 3. attention masks
def _allowed(attention_mask: torch.Tensor, causal: bool) -> torch.Tensor:
    t = attention_mask.shape[-1]
    allowed = attention_mask.bool()[:, None, :].expand(-1, t, -1)  # (B, T query, T key)
    if causal:
        allowed = allowed & torch.ones(t, t, dtype=torch.bool).tril()
    return allowed


def _mask_matrix_cases(gen: torch.Generator) -> list[Case]:
    def padded(b: int, t: int) -> torch.Tensor:
        lengths = torch.randint(2, t + 1, (b,), generator=gen)
        lengths[0] = t - 2
        return (torch.arange(t)[None, :] < lengths[:, None]).long()

    return [
        Case((torch.ones(1, 5, dtype=torch.long), False), "one row of 5 real tokens, BERT"),
        Case((torch.ones(1, 5, dtype=torch.long), True), "one row of 5 real tokens, GPT"),
        Case((padded(3, 7), False), "3 padded rows of 7, BERT (bidirectional)"),
        Case((padded(3, 7), True), "3 padded rows of 7, GPT (causal)"),
    ]


def _mask_matrix_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    attention_mask, causal = args
    t = attention_mask.shape[-1]
    real = attention_mask.bool()
    tri = torch.ones(t, t, dtype=torch.bool).tril()
    keys = real[:, None, :].expand(-1, t, -1)
    queries = real[:, :, None].expand(-1, -1, t)
    slips = [
        (
            (keys & tri.T) if causal else None,
            "the triangle points the wrong way (triu): a GPT query may see itself and EARLIER "
            "keys, j <= i, which is tril.",
        ),
        (
            (keys & tri.tril(-1)) if causal else None,
            "the diagonal is missing: a token may attend to itself (j <= i, not j < i).",
        ),
        (
            keys & tri if not causal else None,
            "you made BERT causal. BERT is bidirectional: every query sees every real key.",
        ),
        (keys if causal else None, "causal=True must also hide later keys (j > i)."),
        (
            (queries & tri) if causal else queries,
            "padding was hidden on the query side (rows). Padding must never be attended TO, "
            "so it hides key columns: allowed[b, i, j] needs attention_mask[b, j] == 1.",
        ),
        (
            tri.expand_as(keys) if causal else torch.ones_like(keys),
            "the padding is ignored: keys where attention_mask is 0 must be False.",
        ),
    ]
    if isinstance(got, torch.Tensor) and got.dtype != torch.bool:
        got = got != 0
    return matching_slip(got, [(wrong.double(), why) for wrong, why in slips if wrong is not None])


register(
    Exercise(
        id="ch09.attention_mask",
        title="which keys each query may attend to: bidirectional (BERT) or causal (GPT)",
        kind="function",
        reference=_allowed,
        make_cases=_mask_matrix_cases,
        hints=(
            "start from attention_mask[:, None, :] (keys along the last axis), expand to "
            "(B, T, T); if causal, AND it with torch.ones(T, T, dtype=torch.bool).tril().",
        ),
        diagnose=_mask_matrix_diagnose,
    )
)


# ------------------------------------------------------------ 4. a sentence pair's segments
def _pair_inputs(a_ids, b_ids, cls_id: int, sep_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    ids = [cls_id, *a_ids, sep_id, *b_ids, sep_id]
    types = [0] * (len(a_ids) + 2) + [1] * (len(b_ids) + 1)
    return torch.tensor(ids), torch.tensor(types)


def _pair_cases(gen: torch.Generator) -> list[Case]:
    def ids(n: int) -> list[int]:
        return torch.randint(10, 100, (n,), generator=gen).tolist()

    n = int(torch.randint(3, 9, (1,), generator=gen))
    return [
        Case((ids(3), ids(2), 1, 2), "A has 3 tokens, B has 2; [CLS]=1, [SEP]=2"),
        Case((ids(n), ids(n + 2), 101, 102), f"A has {n} tokens, B {n + 2}; [CLS]=101, [SEP]=102"),
        Case((ids(1), ids(5), 7, 8), "A has 1 token, B has 5"),
    ]


def _pair_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    a, b, cls_id, sep_id = args
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return "return a pair (input_ids, token_type_ids), two 1-D tensors."
    got_ids, got_types = (torch.as_tensor(x) for x in got)
    ids = expected[0]
    na, nb = len(a), len(b)
    if torch.equal(got_ids.long(), ids):
        slips = [
            (
                torch.tensor([0] * (na + 1) + [1] * (nb + 2)),
                "the first [SEP] was put in segment B (an off-by-one): it closes sentence A, "
                "so it gets 0 like [CLS] and A's tokens.",
            ),
            (
                torch.tensor([0] * (na + 2) + [1] * nb + [0]),
                "the final [SEP] belongs to segment B: it gets 1.",
            ),
            (
                torch.tensor([1] * (na + 2) + [0] * (nb + 1)),
                "the segments are swapped: sentence A (with [CLS]) is 0, sentence B is 1.",
            ),
            (torch.zeros(na + nb + 3, dtype=torch.long), "every segment id is 0; B's are 1."),
        ]
        return matching_slip(got_types.double(), [(w.double(), why) for w, why in slips])
    if len(got_ids) == len(ids) - 1:
        return "a special token is missing: [CLS] A [SEP] B [SEP] has three of them."
    if len(got_ids) == len(ids) - 2 and got_ids.tolist() == [cls_id, *a, sep_id, *b][1:]:
        return "[CLS] comes first."
    return None


register(
    Exercise(
        id="ch09.pair_inputs",
        title="input_ids and token_type_ids of [CLS] A [SEP] B [SEP]",
        kind="function",
        reference=_pair_inputs,
        make_cases=_pair_cases,
        hints=(
            "ids = [cls, *a, sep, *b, sep]; segment 0 covers [CLS], A and the first [SEP] "
            "(len(a) + 2 positions), segment 1 covers B and the last [SEP].",
        ),
        diagnose=_pair_diagnose,
    )
)


# ------------------------------------------------------------ 5. how many tokens become [MASK]?
def _mask_share() -> float:
    return 0.15 * 0.8


def _mask_share_diagnose(expected: Any, got: Any, args: tuple) -> str | None:
    slips = [
        (0.8, "0.8 is the share of PICKED tokens that become [MASK]; only 15% are picked."),
        (0.15, "15% are picked, but only 80% of those become [MASK]."),
        (0.15 * 0.1, "that is the share that gets a random token (or stays unchanged)."),
        (12.0, "give a fraction between 0 and 1, not a percentage."),
    ]
    return matching_slip(got, slips)


register(
    Exercise(
        id="ch09.mask_share",
        title="the fraction of all ordinary tokens that the 80/10/10 rule turns into [MASK]",
        kind="value",
        reference=_mask_share,
        rtol=1e-6,
        atol=1e-9,
        hints=("a token becomes [MASK] if it is picked (15%) AND its fate is [MASK] (80%).",),
        diagnose=_mask_share_diagnose,
    )
)
