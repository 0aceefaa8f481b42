"""The GPT model: config checks, sizes, loss, attention maps, input validation, state dicts
(its KV cache is tested in tests/nn/test_kv_cache.py)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from model_factories import fresh_gpt, gpt_config, token_ids

from lmkit.errors import CheckpointError, ConfigError, InputError
from lmkit.gpt.config import GPTConfig
from lmkit.gpt.model import GPT, GPTOutput

ENCODINGS = ["learned", "sinusoidal", "rotary"]



# -------------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"vocab_size": 0}, "vocab_size must be an integer >= 1, got 0"),
        ({"block_size": -4}, "block_size must be an integer >= 1, got -4"),
        ({"n_layer": 2.0}, r"n_layer must be an integer >= 1, got 2\.0"),
        ({"n_head": True}, "n_head must be an integer >= 1, got True"),
        ({"n_embd": 30, "n_head": 4}, "divisible by n_head"),
        ({"dropout": 1.0}, r"dropout must be a number in \[0, 1\)"),
        ({"dropout": -0.1}, "dropout"),
        ({"dropout": float("nan")}, "dropout"),
        ({"pos_encoding": "alibi"}, "pos_encoding must be one of"),
        ({"pos_encoding": "rotary", "n_embd": 12, "n_head": 4}, "must be even"),
        ({"bias": 1}, "bias must be True or False"),
        ({"tie_weights": "yes"}, "tie_weights must be True or False"),
        ({"gradient_checkpointing": None}, "gradient_checkpointing"),
        ({"layer_norm_eps": 0}, "layer_norm_eps"),
        ({"rotary_base": 1.0}, "rotary_base"),
    ],
)
def test_config_rejects_bad_values(overrides, match):
    with pytest.raises(ConfigError, match=match):
        gpt_config(**overrides)


def test_config_dict_round_trip_and_unknown_keys():
    config = gpt_config(pos_encoding="rotary", dropout=0.1)
    assert GPTConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="Unknown GPTConfig field"):
        GPTConfig.from_dict({**config.to_dict(), "n_kv_heads": 2})
    with pytest.raises(ConfigError, match="mapping"):
        GPTConfig.from_dict([("n_layer", 2)])
    model = GPT.from_config(config.to_dict())
    assert model.config == config
    with pytest.raises(ConfigError, match="GPTConfig"):
        GPT({"n_layer": 2})


def gpt2_formula(vocab: int, positions: int, layers: int, width: int) -> int:
    # Per layer: 2 LayerNorms (4C), qkv (3C²+3C), out proj (C²+C), MLP (4C²+4C + 4C²+C).
    per_layer = 12 * width * width + 13 * width
    return vocab * width + positions * width + layers * per_layer + 2 * width


@pytest.mark.parametrize("preset", ["gpt2_small", "gpt2_medium", "gpt2_large", "gpt2_xl"])
def test_gpt2_parameter_counts(preset):
    config = getattr(GPTConfig, preset)()
    with torch.device("meta"):  # no memory, no init time
        model = GPT(config)
    expected = gpt2_formula(50257, 1024, config.n_layer, config.n_embd)
    assert model.num_parameters() == expected
    wpe = 1024 * config.n_embd
    assert model.num_parameters(exclude_position_embeddings=True) == expected - wpe
    if preset == "gpt2_small":
        assert model.num_parameters() == 124_439_808


def test_weight_tying_and_untied_count():
    tied, untied = fresh_gpt(), fresh_gpt(tie_weights=False)
    assert tied.lm_head.weight is tied.wte.weight
    assert untied.lm_head.weight is not untied.wte.weight
    assert untied.num_parameters() - tied.num_parameters() == 37 * 32


def test_init_follows_gpt2():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=64, block_size=16, n_layer=6, n_head=4, n_embd=256))
    residual_std = 0.02 / math.sqrt(2 * 6)
    for block in model.blocks:
        assert abs(block.attn.c_proj.weight.std().item() - residual_std) < 0.1 * residual_std
        assert abs(block.mlp.c_fc.weight.std().item() - 0.02) < 0.002
        assert torch.all(block.attn.c_attn.bias == 0)
        assert torch.all(block.ln_1.weight == 1)
    assert abs(model.wte.weight.std().item() - 0.02) < 0.002


def test_device_dtype_and_bias_free_model():
    model = fresh_gpt(bias=False)
    assert model.device == torch.device("cpu") and model.dtype == torch.float32
    assert all(not name.endswith("bias") for name, _ in model.named_parameters())
    assert model(token_ids(1, 5)).logits.shape == (1, 5, 37)


# --------------------------------------------------------------------- forward and loss
@pytest.mark.parametrize("pos_encoding", ENCODINGS)
def test_logits_shape_and_loss_equals_cross_entropy(pos_encoding):
    model = fresh_gpt(pos_encoding=pos_encoding)
    x, y = token_ids(3, 10), token_ids(3, 10, seed=2)
    out = model(x, y)
    assert isinstance(out, GPTOutput) and out.attentions is None
    assert out.logits.shape == (3, 10, 37)
    expected = F.cross_entropy(out.logits.reshape(30, 37), y.reshape(30))
    assert torch.allclose(out.loss, expected)
    # And from first principles: mean negative log-probability of the targets.
    log_probs = out.logits.log_softmax(-1).gather(-1, y.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(out.loss, -log_probs.mean(), atol=1e-6)
    assert model(x).loss is None


def test_sliced_non_contiguous_inputs_work():
    model = fresh_gpt()
    tokens = token_ids(2, 11)
    x, y = tokens[:, :-1], tokens[:, 1:]  # the usual next-token slices, not contiguous
    out = model(x, y)
    ref = model(x.contiguous(), y.contiguous())
    assert torch.equal(out.logits, ref.logits) and torch.equal(out.loss, ref.loss)


def test_loss_ignores_minus_100():
    model = fresh_gpt()
    x, y = token_ids(2, 8), token_ids(2, 8, seed=2)
    y[0, :5] = -100
    out = model(x, y)
    keep = y != -100
    log_probs = out.logits.log_softmax(-1)[keep].gather(-1, y[keep].unsqueeze(-1))
    assert torch.allclose(out.loss, -log_probs.mean(), atol=1e-6)


@pytest.mark.parametrize("pos_encoding", ENCODINGS)
def test_future_tokens_do_not_change_past_logits(pos_encoding):
    model = fresh_gpt(pos_encoding=pos_encoding)
    x = token_ids(2, 12)
    changed = x.clone()
    changed[:, 7:] = (changed[:, 7:] + 1) % 37
    a, b = model(x).logits, model(changed).logits
    assert torch.allclose(a[:, :7], b[:, :7], atol=1e-5)
    assert not torch.allclose(a[:, 7:], b[:, 7:], atol=1e-3)


@pytest.mark.parametrize("pos_encoding", ENCODINGS)
def test_position_encoding_makes_order_matter(pos_encoding):
    model = fresh_gpt(pos_encoding=pos_encoding)
    with torch.no_grad():  # token vectors as large as the sinusoids, so both signals count
        model.wte.weight.mul_(50)
    x = torch.tensor([[3, 5, 7, 9]])
    swapped = torch.tensor([[5, 3, 7, 9]])
    assert not torch.allclose(model(x).logits[:, -1], model(swapped).logits[:, -1], atol=1e-4)


@pytest.mark.parametrize("pos_encoding", ENCODINGS)
def test_attention_maps_are_causal_distributions_and_paths_agree(pos_encoding):
    model = fresh_gpt(pos_encoding=pos_encoding)
    x = token_ids(2, 9)
    fast = model(x)
    out = model(x, return_attention=True)
    assert len(out.attentions) == 2
    for weights in out.attentions:
        assert weights.shape == (2, 4, 9, 9)
        assert torch.allclose(weights.sum(-1), torch.ones(2, 4, 9), atol=1e-5)
        assert torch.all(weights.triu(1) == 0)
    assert torch.allclose(out.logits, fast.logits, atol=1e-5)


def test_int32_ids_give_the_same_logits():
    model = fresh_gpt()
    x = token_ids(2, 6)
    assert torch.equal(model(x.int()).logits, model(x).logits)


def test_dropout_is_active_in_train_mode_only():
    model = fresh_gpt(dropout=0.3)
    x = token_ids(2, 8)
    assert torch.equal(model(x).logits, model(x).logits)
    model.train()
    assert not torch.equal(model(x).logits, model(x).logits)


def test_gradient_checkpointing_gives_the_same_loss_and_gradients():
    plain, checkpointed = fresh_gpt(), fresh_gpt(gradient_checkpointing=True)
    plain.train()
    checkpointed.train()
    x, y = token_ids(2, 10), token_ids(2, 10, seed=2)
    loss_a, loss_b = plain(x, y).loss, checkpointed(x, y).loss
    loss_a.backward()
    loss_b.backward()
    assert torch.allclose(loss_a, loss_b)
    for (name, p), q in zip(plain.named_parameters(), checkpointed.parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, atol=1e-6), name


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("idx", "match"),
    [
        ([[1, 2, 3]], "LongTensor of token ids"),
        (torch.tensor([1, 2, 3]), r"2-D \(batch, time\).*unsqueeze"),
        (torch.zeros(1, 2, 3, dtype=torch.long), r"2-D .*\(1, 2, 3\)"),
        (torch.zeros(2, 3), r"integer token ids .*torch\.float32"),
        (torch.zeros(2, 3, dtype=torch.bool), "torch.bool"),
        (torch.tensor([[1, 37]]), r"\[0, 37\).*\[1, 37\]"),
        (torch.tensor([[-1, 3]]), r"\[-1, 3\]"),
        (torch.zeros(1, 25, dtype=torch.long), "longer than block_size=24"),
        (torch.zeros(1, 0, dtype=torch.long), "at least one token"),
        (torch.zeros(0, 3, dtype=torch.long), "at least one token"),
    ],
)
def test_forward_rejects_bad_idx(idx, match):
    with pytest.raises(InputError, match=match):
        fresh_gpt()(idx)


@pytest.mark.parametrize(
    ("targets", "match"),
    [
        (torch.zeros(2, 4, dtype=torch.long), r"same shape as idx \(2, 5\)"),
        (torch.zeros(2, 5), "integer token ids"),
        (torch.full((2, 5), 37), r"\[0, 37\) or -100"),
        (torch.full((2, 5), -2), "-100"),
        ("abc", "LongTensor"),
    ],
)
def test_forward_rejects_bad_targets(targets, match):
    with pytest.raises(InputError, match=match):
        fresh_gpt()(token_ids(2, 5), targets)


def test_sequence_too_long_for_learned_positions_with_cache():
    model = fresh_gpt()
    cache = model.new_kv_cache(1)
    with torch.no_grad():
        model(token_ids(1, 24), kv_cache=cache)
        with pytest.raises(ConfigError, match="KV cache is full"):
            model(token_ids(1, 1), kv_cache=cache)


# ---------------------------------------------------------------------------- state dicts
def test_state_dict_round_trip_and_compiled_prefix():
    a, b = fresh_gpt(seed=0), fresh_gpt(seed=1)
    b.load_state_dict(a.state_dict())
    x = token_ids(1, 6)
    assert torch.equal(a(x).logits, b(x).logits)
    c = fresh_gpt(seed=2)
    c.load_state_dict({"_orig_mod." + k: v for k, v in a.state_dict().items()})
    assert torch.equal(c(x).logits, a(x).logits)
    assert c.lm_head.weight is c.wte.weight  # tying survives loading
    d = fresh_gpt(seed=3)
    d.load_state_dict(a.state_dict(), assign=True)
    assert d.lm_head.weight is d.wte.weight
    assert torch.equal(d(x).logits, a(x).logits)


def test_state_dict_mismatches_raise_checkpoint_error():
    model = fresh_gpt()
    wider = fresh_gpt(n_embd=64).state_dict()
    with pytest.raises(CheckpointError, match=r"wrong shapes: wte\.weight"):
        model.load_state_dict(wider)
    state = model.state_dict()
    missing = {k: v for k, v in state.items() if k != "ln_f.weight"}
    with pytest.raises(CheckpointError, match=r"missing keys: ln_f\.weight"):
        model.load_state_dict(missing)
    with pytest.raises(CheckpointError, match="unexpected keys: extra"):
        model.load_state_dict({**state, "extra": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="mapping"):
        model.load_state_dict([1, 2])
    # strict=False tolerates missing keys but never wrong shapes.
    model.load_state_dict(missing, strict=False)
    with pytest.raises(CheckpointError, match="wrong shapes"):
        model.load_state_dict(wider, strict=False)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("pos_encoding", ENCODINGS)
def test_cuda_fast_path_and_cache_match_explicit_path(pos_encoding):
    model = fresh_gpt(pos_encoding=pos_encoding).cuda()
    x = token_ids(2, 16).cuda()
    with torch.no_grad():
        fast = model(x).logits
        explicit = model(x, return_attention=True).logits
        cache = model.new_kv_cache(2)
        steps = torch.cat(
            [model(x[:, :9], kv_cache=cache).logits]
            + [model(x[:, t : t + 1], kv_cache=cache).logits for t in range(9, 16)],
            dim=1,
        )
    assert torch.allclose(fast, explicit, atol=1e-4)
    assert torch.allclose(steps, fast, atol=1e-4)


# ------------------------------------------------------- CPU decoding's transposed output layer
def _reference_logits(model: GPT, idx: torch.Tensor) -> torch.Tensor:
    """What the output layer must give: F.linear with lm_head's weight as it is now."""
    with torch.no_grad():
        hidden = model.wte(idx) + model.wpe(idx.shape[1], 0)
        for block in model.blocks:
            hidden, _ = block(hidden, model.rotary, 0, None, 0, False)
        return F.linear(model.ln_f(hidden), model.lm_head.weight)


def test_single_row_inference_logits_follow_every_weight_change():
    model = fresh_gpt(seed=3)
    one = token_ids(1, 1, seed=4)
    with torch.inference_mode():
        first = model(one).logits[0, -1]
    torch.testing.assert_close(first, _reference_logits(model, one)[0, -1])

    # An optimizer step changes the (tied) weight in place: the cached copy must notice.
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    loss = model(token_ids(2, 8), token_ids(2, 8, seed=9)).loss
    loss.backward()
    optimizer.step()
    model.eval()
    with torch.no_grad():
        after_step = model(one).logits[0, -1]
    torch.testing.assert_close(after_step, _reference_logits(model, one)[0, -1])
    assert not torch.allclose(after_step, first)

    # load_state_dict copies other weights in: again the logits must follow.
    other = fresh_gpt(seed=11)
    model.load_state_dict(other.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(model(one).logits, other(one).logits)


def test_the_inference_copies_never_reach_the_state_dict():
    model = fresh_gpt()
    with torch.no_grad():
        model(token_ids(1, 1))
    assert set(model.state_dict()) == set(fresh_gpt().state_dict())
