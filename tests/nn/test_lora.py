"""LoRA adapters (chapter 12): zero start, merge/unmerge, save/load, and parity with peft."""

from __future__ import annotations

import pytest
import torch

from lmkit.errors import CheckpointError, ConfigError
from lmkit.gpt.config import GPTConfig
from lmkit.gpt.model import GPT
from lmkit.nn.lora import (
    LoRALinear,
    add_lora,
    load_lora,
    lora_parameter_count,
    lora_state_dict,
    merge_lora,
    save_lora,
    trainable_parameters,
    unmerge_lora,
)

CONFIG = GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=16)


def _model(seed=0):
    torch.manual_seed(seed)
    return GPT(CONFIG).eval()


def _randomise(model, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def test_a_fresh_adapter_changes_nothing_and_only_adapters_train():
    base, adapted = _model(), add_lora(_model(), r=2, alpha=4)
    x = torch.randint(0, 50, (2, 8))
    assert torch.equal(base(x).logits, adapted(x).logits)  # B starts at zero
    n_layers = 4 * CONFIG.n_layer
    shapes = [(48, 16), (16, 16), (64, 16), (16, 64)] * CONFIG.n_layer
    assert trainable_parameters(adapted) == lora_parameter_count(shapes, 2)
    assert len(lora_state_dict(adapted)) == 2 * n_layers


def test_forward_is_base_plus_scaled_low_rank_update():
    layer = LoRALinear(torch.nn.Linear(5, 3), r=2, alpha=6)
    with torch.no_grad():
        layer.lora_B.normal_()
    x = torch.randn(4, 5)
    expected = layer.base(x) + 3.0 * x @ (layer.lora_B @ layer.lora_A).t()
    torch.testing.assert_close(layer(x), expected)


def test_merge_and_unmerge_round_trip():
    model = add_lora(_model(), r=3, alpha=3)
    _randomise(model)
    x = torch.randint(0, 50, (2, 8))
    before = model(x).logits
    w = model.blocks[0].mlp.c_fc.base.weight.clone()
    merge_lora(model)
    torch.testing.assert_close(model(x).logits, before, atol=1e-5, rtol=1e-5)
    unmerge_lora(model)
    torch.testing.assert_close(model.blocks[0].mlp.c_fc.base.weight, w, atol=1e-6, rtol=0)


def test_save_and_load(tmp_path):
    model = add_lora(_model(), r=2, alpha=4)
    _randomise(model)
    path = save_lora(model, tmp_path / "adapter.safetensors")
    other = add_lora(_model(), r=2, alpha=4)
    load_lora(other, path)
    x = torch.randint(0, 50, (1, 8))
    torch.testing.assert_close(other(x).logits, model(x).logits)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_lora(add_lora(_model(), r=3, alpha=4), path)


def test_a_corrupted_missing_or_odd_adapter_file_gets_a_clear_error(tmp_path):
    model = add_lora(_model(), r=2, alpha=4)
    good = save_lora(model, tmp_path / "adapter.safetensors")
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file" * 8)
    for path in (truncated, garbage):
        with pytest.raises(CheckpointError, match="not a readable safetensors adapter file"):
            load_lora(model, path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_lora(model, tmp_path / "missing.safetensors")
    with pytest.raises(CheckpointError, match="is a folder, not a regular file"):
        load_lora(model, tmp_path)


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="rank"):
        LoRALinear(torch.nn.Linear(2, 2), r=0, alpha=1)
    with pytest.raises(ConfigError, match=r"no nn\.Linear"):
        add_lora(_model(), r=1, alpha=1, targets=("nothing",))
    with pytest.raises(ConfigError, match="already"):
        add_lora(add_lora(_model(), r=1, alpha=1), r=1, alpha=1)


def test_same_outputs_and_counts_as_peft():
    peft = pytest.importorskip("peft")
    pytest.importorskip("transformers")
    from lmkit.gpt.interop import to_hf

    ours = _model()
    hf = to_hf(ours).eval()
    config = peft.LoraConfig(
        r=2, lora_alpha=4, target_modules=["c_attn", "c_proj", "c_fc"], fan_in_fan_out=True
    )
    theirs = peft.get_peft_model(hf, config).eval()
    add_lora(ours, r=2, alpha=4)
    _randomise(ours)
    mine = lora_state_dict(ours)
    with torch.no_grad():
        for name, p in theirs.named_parameters():
            if ".lora_" in name:
                layer = name.split("transformer.h.")[1].split(".lora_")[0]
                p.copy_(mine[f"blocks.{layer}.lora_{name.split('.lora_')[1][0]}"])
    x = torch.randint(0, 50, (2, 8))
    torch.testing.assert_close(theirs(x).logits, ours(x).logits, atol=1e-5, rtol=1e-5)
    assert theirs.get_nb_trainable_parameters()[0] == trainable_parameters(ours)
