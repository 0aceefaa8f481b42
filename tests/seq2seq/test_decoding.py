"""Greedy decoding and beam search of the encoder–decoder model, against brute force."""

from __future__ import annotations

import itertools

import pytest
import torch

from lmkit.errors import ConfigError, InputError
from lmkit.seq2seq.config import Seq2SeqConfig
from lmkit.seq2seq.decoding import beam_search, greedy
from lmkit.seq2seq.model import Seq2SeqTransformer

PAD, BOS, EOS = 0, 1, 2


def random_model(seed: int, vocab: int = 30, max_target_len: int = 12) -> Seq2SeqTransformer:
    torch.manual_seed(seed)
    config = Seq2SeqConfig(
        vocab_size=vocab, d_model=16, n_heads=2, n_encoder_layers=1, n_decoder_layers=2, d_ff=32,
        max_source_len=8, max_target_len=max_target_len, dropout=0.0, pad_id=PAD, bos_id=BOS,
        eos_id=EOS,
    )  # fmt: skip
    model = Seq2SeqTransformer(config).eval()
    with torch.no_grad():  # peaked distributions, so that sequences differ clearly in score
        for p in model.parameters():
            p.normal_(0.0, 0.6)
    return model


@torch.no_grad()
def sequence_score(model: Seq2SeqTransformer, src: list[int], ids: list[int]) -> float:
    """Total log-probability of ``ids`` by one teacher-forced pass (pad and bos banned)."""
    logits = model(torch.tensor([src]), None, torch.tensor([[BOS, *ids[:-1]]]))[0].clone()
    logits[:, [PAD, BOS]] = float("-inf")
    log_probs = torch.log_softmax(logits, dim=-1)
    return float(sum(log_probs[t, token] for t, token in enumerate(ids)))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_beam_size_one_is_greedy(seed, length_penalty):
    model = random_model(seed)
    src = [3 + seed, 7, 9, 11, EOS]
    want = greedy(model, src, max_new_tokens=10)
    got = beam_search(model, src, beam_size=1, max_new_tokens=10, length_penalty=length_penalty)
    assert got.ids == want.ids and got.finished == want.finished
    assert got.score == pytest.approx(want.score, abs=1e-4)


def test_greedy_score_is_the_sequences_log_probability():
    model = random_model(11)
    src = [4, 5, 6, EOS]
    out = greedy(model, src, max_new_tokens=8)
    ids = [*out.ids, EOS] if out.finished else out.ids
    assert out.score == pytest.approx(sequence_score(model, src, ids), abs=1e-4)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("length_penalty", [0.0, 1.0, 2.0])
def test_wide_beam_finds_the_brute_force_best_sequence(seed, length_penalty):
    model = random_model(seed, vocab=6)  # tokens 3, 4, 5 and eos
    src, steps = [3, 4, 5, EOS], 3
    candidates = [
        [*list(body), EOS] for n in range(steps) for body in itertools.product((3, 4, 5), repeat=n)
    ]
    candidates += [list(body) for body in itertools.product((3, 4, 5), repeat=steps)]  # unfinished
    scored = [(sequence_score(model, src, c) / len(c) ** length_penalty, c) for c in candidates]
    best_score, best = max(scored, key=lambda s: s[0])
    out = beam_search(model, src, beam_size=16, max_new_tokens=steps, length_penalty=length_penalty)
    assert ([*out.ids, EOS] if out.finished else out.ids) == best
    length = len(best)
    assert out.score / length**length_penalty == pytest.approx(best_score, abs=1e-4)


def test_wider_beams_never_score_worse_on_plain_log_probability():
    model = random_model(3, vocab=8)
    src = [3, 4, 5, 6, EOS]
    scores = [beam_search(model, src, k, 4, length_penalty=0.0).score for k in (1, 4, 16)]
    assert scores[0] <= scores[1] + 1e-5 and scores[1] <= scores[2] + 1e-5


def test_banned_tokens_are_never_generated():
    model = random_model(4)
    src = [3, 4, EOS]
    free = greedy(model, src, max_new_tokens=10)
    banned = sorted(set(free.ids))[:3]
    for out in (greedy(model, src, 10, banned_ids=banned),
                beam_search(model, src, 4, 10, banned_ids=banned)):  # fmt: skip
        assert not set(out.ids) & set(banned) and PAD not in out.ids and BOS not in out.ids


def test_decoding_refuses_bad_settings():
    model = random_model(0)
    with pytest.raises(ConfigError, match="beam_size"):
        beam_search(model, [3, EOS], beam_size=0)
    with pytest.raises(ConfigError, match="beam_size"):
        beam_search(model, [3, EOS], beam_size=17)
    with pytest.raises(ConfigError, match="max_new_tokens"):
        greedy(model, [3, EOS], max_new_tokens=13)
    with pytest.raises(ConfigError, match="end token"):
        greedy(model, [3, EOS], banned_ids=[EOS])
    with pytest.raises(InputError, match="one source"):
        greedy(model, "hello")
    with pytest.raises(InputError, match="Seq2SeqTransformer"):
        greedy(torch.nn.Linear(2, 2), [3, EOS])
