"""The interactive GPT diagram: hover texts show the shapes real forward hooks see, and the
boxes' parameter counts add up to the model's (tied weights once)."""

from __future__ import annotations

import re

import pytest
import torch

from lmkit.errors import InputError
from lmkit.gpt.model import GPT, GPTConfig
from lmkit.viz.transformer import gpt_parameter_counts
from lmkit.viz.transformer_block import transformer_block_diagram

# box key -> module path, written out here so the test does not reuse the module's table
PATHS = {
    "wte": "wte", "wpe": "wpe", "ln_1": "blocks.0.ln_1", "c_attn": "blocks.0.attn.c_attn",
    "attn": "blocks.0.attn", "attn_proj": "blocks.0.attn.c_proj", "ln_2": "blocks.0.ln_2",
    "c_fc": "blocks.0.mlp.c_fc", "mlp_proj": "blocks.0.mlp.c_proj", "ln_f": "ln_f",
    "lm_head": "lm_head",
}  # fmt: skip


def _hooked_shapes(model: GPT, ids: torch.Tensor) -> dict[str, tuple]:
    shapes, handles = {}, []
    modules = dict(model.named_modules())
    for key, path in PATHS.items():
        if modules.get(path) is None:
            continue

        def hook(module, args, output, key=key):
            first = output[0] if isinstance(output, tuple) else output
            shapes[key] = (args[0], tuple(first.shape))

        handles.append(modules[path].register_forward_hook(hook))
    with torch.no_grad():
        model(ids)
    for handle in handles:
        handle.remove()
    return shapes


def _hovers(fig) -> dict[str, str]:
    trace = fig.data[0]
    return dict(zip(trace.customdata, trace.hovertext, strict=True))


def _count(text: str) -> int:
    return int(re.search(r"parameters: ([\d,]+)", text).group(1).replace(",", ""))


CONFIGS = [
    dict(n_layer=2, n_embd=32, n_head=4),
    dict(n_layer=3, n_embd=48, n_head=2, tie_weights=False),
    dict(n_layer=1, n_embd=16, n_head=1, pos_encoding="rotary"),
]


@pytest.mark.parametrize("sizes", CONFIGS)
def test_hover_text_shows_the_shapes_forward_hooks_see(sizes):
    model = GPT(GPTConfig(vocab_size=40, block_size=16, **sizes))
    ids = torch.randint(0, 40, (2, 9))
    hovers = _hovers(transformer_block_diagram(model, ids))
    hooked = _hooked_shapes(model, ids)
    assert set(hooked) <= set(hovers)
    for key, (first_input, output) in hooked.items():
        shown = first_input if isinstance(first_input, int) else tuple(first_input.shape)
        assert f"in: {shown}" in hovers[key], (key, hovers[key])
        assert f"out: {output}" in hovers[key], (key, hovers[key])
    d = sizes["n_embd"]
    assert f"out: (2, 9, {3 * d})" in hovers["c_attn"]
    assert f"out: (2, 9, {4 * d})" in hovers["c_fc"] and "out: (2, 9, 40)" in hovers["lm_head"]
    assert f"out: (2, 9, {d})" in hovers["add_1"] and f"out: (2, 9, {d})" in hovers["add_2"]
    assert ("wpe" in hovers) == (sizes.get("pos_encoding", "learned") == "learned")


@pytest.mark.parametrize("sizes", CONFIGS)
def test_parameter_counts_add_up_to_the_model_and_the_formula(sizes):
    config = GPTConfig(vocab_size=40, block_size=16, **sizes)
    model = GPT(config)
    hovers = _hovers(transformer_block_diagram(model, torch.randint(0, 40, (1, 5))))
    total = sum(_count(text) for text in hovers.values())
    assert total == model.num_parameters() == sum(gpt_parameter_counts(config).values())
    d, layers = config.n_embd, config.n_layer
    assert _count(hovers["c_attn"]) == layers * (3 * d * d + 3 * d)
    assert _count(hovers["c_fc"]) == layers * (4 * d * d + 4 * d)
    assert _count(hovers["wte"]) == 40 * d
    assert _count(hovers["lm_head"]) == (0 if config.tie_weights else 40 * d)
    assert _count(hovers["attn"]) == 0 and _count(hovers["add_1"]) == 0


def test_the_model_mode_is_restored_and_bad_input_is_refused():
    model = GPT(GPTConfig(vocab_size=40, block_size=16, n_layer=1, n_embd=16, n_head=2)).train()
    transformer_block_diagram(model, torch.randint(0, 40, (1, 4)))
    assert model.training
    with pytest.raises(InputError, match="GPT"):
        transformer_block_diagram(torch.nn.Linear(2, 2), torch.zeros(1, 2, dtype=torch.long))
    with pytest.raises(InputError, match=r"\(B, T\)"):
        transformer_block_diagram(model, torch.zeros(4, dtype=torch.long))
