"""Checkpoints: round trips, atomic replacement, and clear errors for every kind of bad file."""

from __future__ import annotations

import json
import pickle
import random
from dataclasses import dataclass

import numpy as np
import pytest
import safetensors.torch
import torch
from model_factories import training_gpt
from torch import nn

import lmkit.training.checkpoint as ckpt
from lmkit import registry
from lmkit.errors import CheckpointError, InputError
from lmkit.gpt.model import GPT
from lmkit.training.batching import LMBatches
from lmkit.training.config import TrainConfig
from lmkit.training.files import atomic_write
from lmkit.training.run_state import capture_rng_state, check_optimizer_state, restore_rng_state
from lmkit.training.trainer import Trainer

VOCAB, BLOCK = 30, 16


def tiny_gpt(seed: int = 0, **overrides) -> GPT:
    return training_gpt(seed, **{"vocab_size": VOCAB, "block_size": BLOCK, "n_head": 2, **overrides})


def data() -> LMBatches:
    stream = torch.randint(0, VOCAB, (400,), generator=torch.Generator().manual_seed(0))
    return LMBatches(stream, BLOCK, 2, seed=1)


def trained(steps: int = 2, seed: int = 0, **overrides) -> Trainer:
    config = TrainConfig(max_steps=4, progress_bar=False, eval_interval=10, eval_steps=1)
    trainer = Trainer(tiny_gpt(seed, **overrides), config, data())
    trainer.callbacks.append(lambda t, r: r["step"] == steps - 1)
    trainer.fit()
    return trainer


@pytest.fixture
def saved(tmp_path):
    trainer = trained()
    return trainer, trainer.save_checkpoint(tmp_path / "ckpt")


# ----------------------------------------------------------------------- model export
def test_save_and_load_model_round_trip(tmp_path) -> None:
    model = tiny_gpt(seed=3)
    ckpt.save_model(model, tmp_path / "export")
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == [
        "config.json",
        "model.safetensors",
    ]
    config = json.loads((tmp_path / "export" / "config.json").read_text())
    assert config["model_type"] == "gpt" and config["n_embd"] == 32
    loaded = ckpt.load_model(tmp_path / "export", map_location="cpu")
    assert isinstance(loaded, GPT) and not loaded.training
    assert loaded.lm_head.weight is loaded.wte.weight  # the tie survives
    x = torch.randint(0, VOCAB, (2, 8))
    model.eval()
    torch.testing.assert_close(loaded(x).logits, model(x).logits, rtol=0, atol=0)


def test_load_model_also_reads_a_training_checkpoint(saved) -> None:
    trainer, path = saved
    loaded = ckpt.load_model(path)
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value)


def test_registry(tmp_path) -> None:
    @dataclass
    class LinearConfig:
        n: int = 3

    class LinearModel(nn.Module):
        def __init__(self, config: LinearConfig) -> None:
            super().__init__()
            self.config = config
            self.proj = nn.Linear(config.n, config.n)

    model = LinearModel(LinearConfig(4))
    with pytest.raises(InputError, match="not a registered model class"):
        ckpt.save_model(model, tmp_path / "lin")
    registry.register_model_type("test-linear", LinearModel, LinearConfig, "encoder")
    try:
        assert registry.model_type_of(model) == "test-linear"
        ckpt.save_model(model, tmp_path / "lin")
        loaded = ckpt.load_model(tmp_path / "lin")
        assert loaded.config == LinearConfig(4) and torch.equal(
            loaded.proj.weight, model.proj.weight
        )
    finally:
        registry.MODEL_TYPES.pop("test-linear")
    with pytest.raises(CheckpointError, match="Unknown model_type 'test-linear'"):
        ckpt.load_model(tmp_path / "lin")
    with pytest.raises(InputError, match="must be a class or a 'module:Class' string"):
        registry.register_model_type("x", "NotAPath", LinearConfig, "encoder")
    with pytest.raises(InputError, match="kind must be one of"):
        registry.register_model_type("x", LinearModel, LinearConfig, "chatbot")


def test_load_model_errors(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="is not a folder"):
        ckpt.load_model(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="Missing model config"):
        ckpt.load_model(tmp_path / "empty")
    ckpt.save_model(tiny_gpt(), tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_embd": 8}))
    with pytest.raises(CheckpointError, match="Unknown model_type 'gpt2'"):
        ckpt.load_model(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text(json.dumps({"n_embd": 8}))
    with pytest.raises(CheckpointError, match="has no 'model_type'"):
        ckpt.load_model(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text(json.dumps({"model_type": "gpt", "n_embd": 7}))
    with pytest.raises(CheckpointError, match="does not fit GPTConfig"):
        ckpt.load_model(tmp_path / "m")
    with pytest.raises(InputError, match=r"expects an nn\.Module"):
        ckpt.save_model("model", tmp_path / "x")


def test_weight_mismatch_lists_keys_and_shapes(tmp_path) -> None:
    ckpt.save_model(tiny_gpt(), tmp_path / "m")
    wider = tiny_gpt(n_embd=48)
    before = {k: v.clone() for k, v in wider.state_dict().items()}
    with pytest.raises(
        CheckpointError, match=r"wrong shapes: wpe.weight: file \(16, 32\) vs model \(16, 48\)"
    ):
        ckpt.load_weights(wider, tmp_path / "m")
    assert all(torch.equal(before[k], v) for k, v in wider.state_dict().items())  # untouched
    with pytest.raises(CheckpointError, match=r"missing from the file: blocks\.2"):
        ckpt.load_weights(tiny_gpt(n_layer=3), tmp_path / "m")
    with pytest.raises(CheckpointError, match=r"not in the model: blocks\.1"):
        ckpt.load_weights(tiny_gpt(n_layer=1), tmp_path / "m")


# ------------------------------------------------------------------- training checkpoint
def test_checkpoint_files_and_optimizer_round_trip(saved) -> None:
    trainer, path = saved
    assert sorted(p.name for p in path.iterdir()) == [
        "config.json",
        "model.safetensors",
        "optimizer.safetensors",
        "rng.safetensors",
        "state.json",
    ]
    state = json.loads((path / "state.json").read_text())
    assert state["format"] == "lmkit-checkpoint" and state["step"] == 2
    assert state["model_type"] == "gpt" and state["model_config"]["n_layer"] == 2
    assert state["history"] == trainer.history
    loaded = ckpt.read_checkpoint(path).optimizer_state
    reference = trainer.optimizer.state_dict()  # compare with torch's own state dict
    assert loaded["param_groups"] == reference["param_groups"]
    assert loaded["state"].keys() == reference["state"].keys()
    for index, values in reference["state"].items():
        for key, value in values.items():
            assert torch.equal(loaded["state"][index][key], value), (index, key)
    rng = ckpt.read_checkpoint(path).rng_tensors
    assert rng["rank0.torch_cpu"].dtype == torch.uint8


def test_loading_uses_no_pickle(saved, monkeypatch) -> None:
    def forbidden(*args, **kwargs):
        raise AssertionError("pickle/torch.load must not be used")

    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    _, path = saved
    Trainer.resume(path, tiny_gpt(seed=5), data(), progress_bar=False)
    ckpt.load_model(path)


def test_python_and_numpy_rng_round_trip() -> None:
    state = json.loads(json.dumps(capture_rng_state()))  # must survive JSON
    expected = (random.random(), np.random.rand())
    random.random(), np.random.rand()
    restore_rng_state(state)
    assert (random.random(), np.random.rand()) == expected
    with pytest.raises(CheckpointError, match="malformed"):
        restore_rng_state({"python": [1]})


def test_failed_save_leaves_previous_checkpoint_intact(saved, monkeypatch) -> None:
    trainer, path = saved
    old_weights = path.joinpath("model.safetensors").read_bytes()
    trainer.callbacks.clear()
    trainer.fit()  # two more steps: the weights change
    real_write_json = ckpt.write_json

    def crash_mid_write(target, data):
        real_write_json(target.with_suffix(".partial"), data)
        raise OSError("disk full")

    monkeypatch.setattr(ckpt, "write_json", crash_mid_write)
    with pytest.raises(OSError, match="disk full"):
        trainer.save_checkpoint(path)
    monkeypatch.undo()
    assert path.joinpath("model.safetensors").read_bytes() == old_weights
    assert ckpt.read_state(path)["step"] == 2
    assert [p.name for p in path.parent.iterdir()] == ["ckpt"]  # temp folder removed
    trainer.save_checkpoint(path)  # and a later save works
    assert ckpt.read_state(path)["step"] == 4


def test_failed_file_write_keeps_old_file(tmp_path) -> None:
    target = tmp_path / "a.json"
    target.write_text("old")

    def half_then_fail(tmp):
        tmp.write_text("ne")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        atomic_write(target, half_then_fail)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.json"]
    atomic_write(target, lambda tmp: tmp.write_text("new"))
    assert target.read_text() == "new"


def test_refuses_to_replace_a_folder_that_is_not_a_checkpoint(tmp_path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    with pytest.raises(CheckpointError, match="not an lmkit checkpoint; refusing"):
        trained().save_checkpoint(tmp_path / "notes")
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda p: (p / "model.safetensors").unlink(), "Missing model weights"),
        (lambda p: (p / "optimizer.safetensors").unlink(), "Missing optimizer state"),
        (lambda p: (p / "state.json").unlink(), "Missing checkpoint state"),
        (lambda p: _truncate(p / "model.safetensors"), "not a readable safetensors file"),
        (lambda p: _truncate(p / "optimizer.safetensors"), "not a readable safetensors file"),
        (lambda p: (p / "rng.safetensors").write_bytes(b"\x00" * 7), "not a readable safetensors"),
        (lambda p: (p / "state.json").write_text('{"step": 2,'), "is not valid JSON"),
        (lambda p: (p / "state.json").write_text("[1, 2]"), "should hold a JSON object"),
        (lambda p: (p / "state.json").write_text('{"step": 2}'), "is not an lmkit checkpoint"),
        (lambda p: _edit_state(p, format_version=99), "format version 99; this lmkit reads"),
        (lambda p: _edit_state(p, optimizer={"x": 1}), "optimizer state .* is malformed"),
    ],
)
def test_damaged_checkpoints_raise_checkpoint_error(saved, damage, match) -> None:
    _, path = saved
    damage(path)
    with pytest.raises(CheckpointError, match=match):
        Trainer.resume(path, tiny_gpt(), data(), progress_bar=False)


def _truncate(path) -> None:
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])


def _edit_state(path, **changes) -> None:
    state = json.loads((path / "state.json").read_text())
    (path / "state.json").write_text(json.dumps({**state, **changes}))


def test_resume_into_a_different_model_changes_nothing(saved) -> None:
    _, path = saved
    config = TrainConfig(max_steps=4, progress_bar=False)
    other = Trainer(tiny_gpt(n_embd=48), config, data())
    before = {k: v.clone() for k, v in other.model.state_dict().items()}
    with pytest.raises(
        CheckpointError, match="config differs from the checkpoint's in \\['n_embd'\\]"
    ):
        other.load_checkpoint(path)
    assert other.step == 0
    assert all(torch.equal(before[k], v) for k, v in other.model.state_dict().items())


def test_optimizer_state_is_checked_against_the_parameters(saved) -> None:
    trainer, path = saved
    state = ckpt.read_checkpoint(path).optimizer_state
    bigger = nn.Linear(32, 7)
    optimizer = torch.optim.AdamW([{"params": [bigger.weight]}, {"params": [bigger.bias]}])
    with pytest.raises(CheckpointError, match="parameter groups of sizes"):
        check_optimizer_state(optimizer, state)
    params = [p for g in trainer.optimizer.param_groups for p in g["params"]]
    swapped = [
        nn.Parameter(torch.zeros(p.shape[::-1] if p.dim() == 2 else p.shape)) for p in params
    ]
    sizes = [len(g["params"]) for g in trainer.optimizer.param_groups]
    optimizer = torch.optim.AdamW(
        [{"params": swapped[: sizes[0]]}, {"params": swapped[sizes[0] :]}]
    )
    with pytest.raises(CheckpointError, match=r"has shape .* the parameter"):
        check_optimizer_state(optimizer, state)


def test_save_file_via_safetensors_is_plain(saved) -> None:
    _, path = saved  # an independent reader sees ordinary tensors with the expected names
    tensors = safetensors.torch.load_file(str(path / "optimizer.safetensors"))
    assert any(k.endswith(".exp_avg") for k in tensors) and any(
        k.endswith(".step") for k in tensors
    )
