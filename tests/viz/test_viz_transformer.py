"""Transformer figures: parameter counts equal real models; plotted values are the inputs' stats."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from lmkit.errors import ConfigError, InputError
from lmkit.gpt.config import GPTConfig
from lmkit.gpt.model import GPT
from lmkit.viz.transformer import (
    gpt_parameter_counts,
    layer_curves,
    layer_norm_scatter,
    parameter_breakdown,
    softmax_saturation,
)


def _json(fig):
    return json.loads(fig.to_json())


def _meta_count(config):
    with torch.device("meta"):
        return GPT(config).num_parameters()


CONFIGS = [
    GPTConfig.gpt2_small(),
    GPTConfig.gpt2_medium(),
    GPTConfig(vocab_size=97, block_size=16, n_layer=3, n_embd=24, n_head=4),
    GPTConfig(vocab_size=97, block_size=16, n_layer=2, n_embd=24, n_head=4, bias=False),
    GPTConfig(vocab_size=97, block_size=16, n_layer=2, n_embd=24, n_head=4, tie_weights=False),
    GPTConfig(vocab_size=97, block_size=16, n_layer=1, n_embd=16, n_head=2, pos_encoding="rotary"),
    GPTConfig(
        vocab_size=97, block_size=16, n_layer=1, n_embd=16, n_head=2, pos_encoding="sinusoidal"
    ),
]


@pytest.mark.parametrize(
    "config", CONFIGS, ids=lambda c: f"L{c.n_layer}-d{c.n_embd}-{c.pos_encoding}"
)
def test_parameter_counts_by_formula_equal_the_built_model(config):
    assert sum(gpt_parameter_counts(config).values()) == _meta_count(config)


def test_parameter_components_match_the_modules_they_describe():
    config = GPTConfig(
        vocab_size=50, block_size=8, n_layer=2, n_embd=16, n_head=2, tie_weights=False
    )
    model = GPT(config)
    counts = gpt_parameter_counts(config)

    def numel(predicate):
        return sum(p.numel() for n, p in model.named_parameters() if predicate(n))

    assert counts["token embedding"] == model.wte.weight.numel()
    assert counts["position embedding"] == model.wpe.weight.numel()
    assert counts["attention"] == numel(lambda n: ".attn." in n)
    assert counts["MLP"] == numel(lambda n: ".mlp." in n)
    assert counts["layer norms"] == numel(lambda n: ".ln_" in n or n.startswith("ln_f"))
    assert counts["output head"] == model.lm_head.weight.numel()
    assert sum(gpt_parameter_counts(GPTConfig.gpt2_small()).values()) == 124_439_808


def test_parameter_breakdown_bars_carry_counts_and_shares():
    config = GPTConfig.gpt2_small()
    fig = _json(parameter_breakdown(config))
    bar = fig["data"][0]
    counts = gpt_parameter_counts(config)
    assert bar["y"] == list(counts)
    assert bar["x"] == list(counts.values())
    total = sum(counts.values())
    assert bar["text"][2] == f"{counts['attention']:,} ({100 * counts['attention'] / total:.1f}%)"
    assert "124,439,808" in fig["layout"]["title"]["text"]
    with pytest.raises(ConfigError, match="GPTConfig"):
        parameter_breakdown({"n_layer": 2})


def test_layer_norm_scatter_plots_population_mean_and_std():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 16, generator=gen) * 3 + 2
    y = nn.LayerNorm(16, elementwise_affine=False)(x)
    fig = _json(layer_norm_scatter(x, y))
    before, after = fig["data"]
    rows = x.reshape(-1, 16).double()
    assert torch.allclose(torch.tensor(before["x"], dtype=torch.float64), rows.mean(-1), atol=1e-6)
    expected_std = ((rows - rows.mean(-1, keepdim=True)) ** 2).mean(-1).sqrt()
    assert torch.allclose(torch.tensor(before["y"], dtype=torch.float64), expected_std, atol=1e-6)
    assert torch.allclose(
        torch.tensor(after["x"], dtype=torch.float64),
        torch.zeros(10, dtype=torch.float64),
        atol=1e-5,
    )
    assert torch.allclose(
        torch.tensor(after["y"], dtype=torch.float64),
        torch.ones(10, dtype=torch.float64),
        atol=1e-3,
    )
    with pytest.raises(InputError, match="same shape"):
        layer_norm_scatter(x, y[:1])
    with pytest.raises(InputError, match="float tensor"):
        layer_norm_scatter(torch.ones(4, dtype=torch.long), y)


def test_layer_curves_lines_and_log_axis():
    series = {"plain": [1e-6, 1e-4, 1e-2], "residual": torch.tensor([0.5, 0.6, 0.7])}
    fig = _json(layer_curves(series))
    assert [t["name"] for t in fig["data"]] == ["plain", "residual"]
    assert fig["data"][0]["y"] == [1e-6, 1e-4, 1e-2]
    assert fig["data"][1]["x"] == [0, 1, 2]
    assert fig["data"][1]["y"] == pytest.approx([0.5, 0.6, 0.7])
    assert fig["layout"]["yaxis"]["type"] == "log"
    assert _json(layer_curves(series, log_y=False))["layout"]["yaxis"]["type"] == "linear"
    with pytest.raises(InputError, match="non-empty mapping"):
        layer_curves({})
    with pytest.raises(InputError, match="empty"):
        layer_curves({"a": []})


def test_softmax_saturation_two_panels_and_ceiling():
    d_ks = [4, 64, 1024]
    entropy = {"q·k": [2.0, 1.0, 0.2], "q·k/√d_k": [2.1, 2.1, 2.1]}
    gradient = {"q·k": [0.3, 0.1, 0.01], "q·k/√d_k": [0.3, 0.3, 0.3]}
    fig = _json(softmax_saturation(d_ks, entropy, gradient, max_entropy=2.77))
    data = fig["data"]
    assert [t["y"] for t in data[:2]] == [entropy["q·k"], entropy["q·k/√d_k"]]
    assert [t["y"] for t in data[2:4]] == [gradient["q·k"], gradient["q·k/√d_k"]]
    assert data[2]["xaxis"] == "x2" and data[0].get("xaxis", "x") == "x"
    assert data[4]["y"] == [2.77, 2.77] and data[4]["x"] == [4, 1024]
    assert fig["layout"]["xaxis"]["type"] == "log" and fig["layout"]["yaxis2"]["type"] == "log"
    with pytest.raises(InputError, match="3 x values"):
        softmax_saturation(d_ks, {"a": [1.0]}, gradient)
    with pytest.raises(InputError, match="positive"):
        softmax_saturation([], entropy, gradient)
