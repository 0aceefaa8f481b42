"""Hostile and broken files still get a clear lmkit error: an independent probe's findings.

Each test reproduces one finding (it failed before the fix) and checks the error says what is
wrong. No timings: the FIFO case checks that the path is refused before it is ever opened.
"""

from __future__ import annotations

import builtins
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import safetensors.torch
import torch

import lmkit
import lmkit.training.checkpoint as ckpt
from lmkit import hub, safe_files
from lmkit.decoding.beam import beam_search
from lmkit.errors import CheckpointError, ConfigError, InputError, LmkitError, TokenizerError
from lmkit.gpt import model as gpt_model
from lmkit.gpt.config import GPTConfig
from lmkit.gpt.model import GPT
from lmkit.tokenizers import load_tokenizer
from lmkit.training.batching import LMBatches
from lmkit.training.config import TrainConfig
from lmkit.training.trainer import Trainer

VOCAB, BLOCK = 30, 16
WEIGHTS = Path(lmkit.__file__).parent / "weights"
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /dev/zero are POSIX")


def gpt(seed: int = 0, **overrides) -> GPT:
    torch.manual_seed(seed)
    fields = {"vocab_size": VOCAB, "block_size": BLOCK, "n_layer": 2, "n_head": 2, "n_embd": 32}
    return GPT(GPTConfig(**{**fields, **overrides})).eval()


def data() -> LMBatches:
    stream = torch.randint(0, VOCAB, (400,), generator=torch.Generator().manual_seed(0))
    return LMBatches(stream, BLOCK, 2, seed=1)


def trained(tmp_path: Path, steps: int = 2, **config) -> Trainer:
    settings = {"max_steps": 4, "progress_bar": False, "eval_interval": 10, "eval_steps": 1}
    trainer = Trainer(gpt(), TrainConfig(**{**settings, **config}), data())
    trainer.callbacks.append(lambda t, r: r["step"] == steps - 1)
    trainer.fit()
    return trainer


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    return trained(tmp_path).save_checkpoint(tmp_path / "ckpt")


def resume(path: Path) -> Trainer:
    return Trainer.resume(path, gpt(seed=5), data(), progress_bar=False)


def edit_json(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def edit_config(folder: Path, **changes) -> None:
    """Change config.json as a hand edit would: without updating the weights' SHA-256."""
    config = {**json.loads((folder / "config.json").read_text()), **changes}
    config.pop("weights_sha256", None)
    (folder / "config.json").write_text(json.dumps(config))


def flip_last_byte(path: Path) -> None:
    content = bytearray(path.read_bytes())
    content[-1] ^= 0x01  # the last byte is tensor data, not the header: the file still parses
    path.write_bytes(bytes(content))


def copy_builtin(name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(WEIGHTS / name, tmp_path / name))


# ------------------------------------------- 3: a resumed run writes where it was resumed from
def test_resumed_run_saves_where_it_was_resumed_from_not_into_the_old_run(tmp_path) -> None:
    run_a = tmp_path / "runA" / "ckpt"
    trained(tmp_path, checkpoint_dir=str(run_a))  # stops (and saves) after step 2 of 4
    run_b = tmp_path / "runB" / "ckpt"
    shutil.copytree(run_a, run_b)
    resumed = resume(run_b)
    assert resumed.config.checkpoint_dir == str(run_b)
    resumed.fit()
    assert ckpt.read_state(run_b)["step"] == 4
    assert ckpt.read_state(run_a)["step"] == 2  # the original run is untouched
    told = tmp_path / "runC" / "ckpt"  # or where it is told to
    Trainer.resume(run_a, gpt(), data(), progress_bar=False, checkpoint_dir=str(told)).fit()
    assert ckpt.read_state(told)["step"] == 4 and ckpt.read_state(run_a)["step"] == 2


# ------------------------------------ 5: the config is checked against the weights before building
@pytest.mark.parametrize(
    "change", [{"n_layer": 4000}, {"n_embd": 16384, "n_layer": 8}], ids=["deep", "103GB"]
)
def test_a_config_far_bigger_than_its_weights_is_refused_before_allocating(
    tmp_path, monkeypatch, change
) -> None:
    ckpt.save_model(gpt(), tmp_path / "m")
    safetensors.torch.save_model(gpt(), str(tmp_path / "m" / "model.safetensors"))  # plain
    edit_config(tmp_path / "m", **change)
    blocks = []
    real_init = gpt_model.Block.__init__
    monkeypatch.setattr(
        gpt_model.Block, "__init__", lambda self, c: (blocks.append(1), real_init(self, c))[1]
    )
    with pytest.raises(CheckpointError, match=r"far bigger than the .* numbers stored"):
        ckpt.load_model(tmp_path / "m")
    assert len(blocks) < 20  # stopped after a few layers, all on the meta device


def test_a_config_that_does_not_fit_is_refused_with_the_shapes(tmp_path) -> None:
    ckpt.save_model(gpt(), tmp_path / "m")
    edit_config(tmp_path / "m", n_layer=3)
    with pytest.raises(CheckpointError, match="different saves"):  # the header records n_layer 2
        ckpt.load_model(tmp_path / "m")
    # weights without lmkit's record in their header are compared shape by shape, on meta
    safetensors.torch.save_model(gpt(), str(tmp_path / "m" / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"missing from the file: blocks\.2"):
        ckpt.load_model(tmp_path / "m")


# ----------------------------------------- 6: config.json and model.safetensors belong together
def test_save_model_killed_between_its_two_files_is_refused_on_load(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "m"
    ckpt.save_model(gpt(n_head=4), folder)

    def killed(path, data):
        raise KeyboardInterrupt  # as if the process died before config.json was replaced

    monkeypatch.setattr(ckpt, "write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_model(gpt(seed=1, n_head=2), folder)
    monkeypatch.undo()
    assert json.loads((folder / "config.json").read_text())["n_head"] == 4  # the old config
    with pytest.raises(CheckpointError, match="come from different saves"):
        ckpt.load_model(folder)
    ckpt.save_model(gpt(seed=1, n_head=2), folder)  # saving again repairs it
    assert ckpt.load_model(folder).config.n_head == 2


def test_a_changed_weights_file_of_an_export_is_refused(tmp_path) -> None:
    ckpt.save_model(gpt(), tmp_path / "m")
    flip_last_byte(tmp_path / "m" / "model.safetensors")
    with pytest.raises(CheckpointError, match="has changed since it was saved"):
        ckpt.load_model(tmp_path / "m")


# ----------------------------------------------------------- 7: interrupted checkpoint saves
def test_interrupted_save_points_to_the_newest_complete_copy(checkpoint) -> None:
    parent = checkpoint.parent
    complete = parent / ".ckpt.old-00000000"
    os.replace(checkpoint, complete)  # the old copy stepped aside, then the process died
    half_deleted = parent / ".ckpt.old-ffffffff"  # alphabetically last, but gutted
    half_deleted.mkdir()
    (half_deleted / "rng.safetensors").write_bytes(b"x")
    unfinished = parent / ".ckpt.tmp-1234"
    unfinished.mkdir()
    (unfinished / "model.safetensors").write_bytes(b"x")
    with pytest.raises(CheckpointError) as error:
        resume(checkpoint)
    message = str(error.value)
    assert f"newest complete copy is {complete}" in message
    assert ".ckpt.old-ffffffff" in message and ".ckpt.tmp-1234" in message  # named as leftovers
    # a complete tmp copy (the save died just before its final rename) is newer: it wins
    shutil.copytree(complete, parent / ".ckpt.tmp-5678")
    os.utime(parent / ".ckpt.tmp-5678" / "state.json", (2e9, 2e9))
    with pytest.raises(CheckpointError, match=r"newest complete copy is .*\.ckpt\.tmp-5678"):
        resume(checkpoint)


def test_a_successful_save_removes_leftovers_of_interrupted_ones(checkpoint) -> None:
    for name in (".ckpt.old-deadbeef", ".ckpt.tmp-abc"):
        (checkpoint.parent / name).mkdir()
        (checkpoint.parent / name / "state.json").write_text("{}")
    (checkpoint.parent / ".other.old-1").mkdir()  # another checkpoint's: not ours to delete
    resume(checkpoint).save_checkpoint(checkpoint)
    assert sorted(p.name for p in checkpoint.parent.iterdir()) == [".other.old-1", "ckpt"]


# --------------------------------------------------- 8: every failure is an LmkitError
def test_a_name_too_long_for_the_file_system_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"Unknown model .*5000 characters") as error:
        lmkit.load("a" * 5000, device="cpu")
    assert len(str(error.value)) < 1000


def test_minilm_config_without_encoder_is_a_checkpoint_error(tmp_path) -> None:
    from lmkit.minilm.classifier import load_folder

    folder = copy_builtin("minilm-sentiment", tmp_path)
    config = json.loads((folder / "config.json").read_text())
    broken = [
        ("encoder", {k: v for k, v in config.items() if k != "encoder"}),
        ("labels", {**config, "labels": "x"}),
        ("weights_file", {**config, "weights_file": "../head.safetensors"}),
        ("dropout", {**config, "dropout": 2}),
    ]
    for field, changed in broken:
        (folder / "config.json").write_text(json.dumps(changed))
        with pytest.raises(CheckpointError, match=f"'{field}' must be"):
            load_folder(folder)


def _deep(levels: int = 200_000) -> str:
    return "[" * levels + "]" * levels


def test_deeply_nested_json_is_a_damaged_file(tmp_path) -> None:
    ckpt.save_model(gpt(), tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text(_deep())
    with pytest.raises(CheckpointError, match="nested too deeply"):
        ckpt.load_model(tmp_path / "m")
    folder = copy_builtin("tiny-gpt", tmp_path)
    (folder / "tokenizer.json").write_text(_deep())
    with pytest.raises(CheckpointError, match="nested too deeply"):
        hub.load(folder, device="cpu")
    with pytest.raises(TokenizerError, match="nested too deeply"):
        load_tokenizer(folder / "tokenizer.json")


@posix_only
@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_config_linked_to_dev_zero_is_refused(tmp_path) -> None:
    folder = copy_builtin("tiny-gpt", tmp_path)
    (folder / "config.json").unlink()
    (folder / "config.json").symlink_to("/dev/zero")
    with pytest.raises(CheckpointError, match="character device, not a regular file"):
        hub.load(folder, device="cpu")
    with pytest.raises(CheckpointError, match="character device"):
        ckpt.load_model(folder)


@posix_only
@pytest.mark.parametrize("name", ["config.json", "tokenizer.json"])
def test_a_fifo_is_refused_before_it_is_opened(tmp_path, monkeypatch, name) -> None:
    folder = copy_builtin("tiny-gpt", tmp_path)
    fifo = folder / name
    fifo.unlink()
    os.mkfifo(fifo)
    real_os_open, real_open = os.open, builtins.open

    def guarded(opener):
        def open_(file, *args, **kwargs):
            if isinstance(file, (str, os.PathLike)) and Path(file) == fifo:
                raise AssertionError(f"{fifo} was opened")  # opening a FIFO would block
            return opener(file, *args, **kwargs)

        return open_

    monkeypatch.setattr(os, "open", guarded(real_os_open))
    monkeypatch.setattr(builtins, "open", guarded(real_open))
    with pytest.raises(CheckpointError, match="FIFO"):
        hub.load(folder, device="cpu")
    with pytest.raises(LmkitError, match="FIFO"):
        if name == "config.json":
            ckpt.load_model(folder)
        else:
            load_tokenizer(fifo)


@posix_only
def test_a_fifo_state_json_is_refused(checkpoint) -> None:
    (checkpoint / "state.json").unlink()
    os.mkfifo(checkpoint / "state.json")
    with pytest.raises(CheckpointError, match="FIFO"):
        resume(checkpoint)


@pytest.mark.parametrize("penalty", [1e308, -1e308, float("inf"), 10.5])
def test_beam_search_refuses_an_extreme_length_penalty(penalty) -> None:
    with pytest.raises(ConfigError, match=r"length_penalty must be a number in -10\.\.10,"):
        beam_search(gpt(), [1, 2, 3], num_beams=2, max_new_tokens=3, length_penalty=penalty)


def test_beam_search_still_takes_a_moderate_length_penalty() -> None:
    for penalty in (-10.0, 0.0, 2.0, 10.0):
        result = beam_search(gpt(), [1, 2], num_beams=2, max_new_tokens=3, length_penalty=penalty)
        assert torch.isfinite(result.scores).all()


def test_files_larger_than_the_bound_are_refused_unread(tmp_path) -> None:
    big = tmp_path / "config.json"
    big.write_text(json.dumps({"pad": "x" * 1000}))
    with pytest.raises(CheckpointError, match="more than the 100 bytes"):
        safe_files.read_json(big, "model config", max_bytes=100)
    assert safe_files.read_json(big, "model config")["pad"] == "x" * 1000
    with pytest.raises(CheckpointError, match="a folder, not a regular file"):
        safe_files.read_json(tmp_path, "model config")


def test_the_shipped_tokenizers_are_far_below_the_json_bound() -> None:
    sizes = [p.stat().st_size for p in WEIGHTS.glob("*/tokenizer.json")]
    assert sizes and max(sizes) < safe_files.MAX_JSON_BYTES / 100


# ------------------------------------------------------- 8 and 9: state.json's fields
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("step", "abc"),
        ("step", 50.7),
        ("step", -1),
        ("step", True),
        ("history", "garbage"),
        ("history", [1, 2]),
        ("elapsed", "soon"),
        ("world_size", 0),
        ("train_config", [1]),
        ("files_sha256", {"../model.safetensors": "0" * 64}),
    ],
)
def test_state_fields_are_validated(checkpoint, field, value) -> None:
    edit_json(checkpoint / "state.json", **{field: value})
    with pytest.raises(CheckpointError, match=f"'{field}' must be"):
        resume(checkpoint)


# --------------------------------------------------------------- 9: silently accepted before
def test_weights_of_the_wrong_dtype_are_refused(tmp_path) -> None:
    model = gpt()
    ckpt.save_model(model, tmp_path / "m")
    state = model.state_dict()
    tensors = {k: v.to(torch.int32) for k, v in state.items() if k != "lm_head.weight"}
    safetensors.torch.save_file(tensors, str(tmp_path / "m" / "model.safetensors"))
    edit_config(tmp_path / "m")
    with pytest.raises(CheckpointError, match=r"wrong dtypes: .*file I32 vs model float32"):
        ckpt.load_model(tmp_path / "m")


@pytest.mark.parametrize(
    ("weights", "tokenizer"), [("tiny-gpt", "tiny-bert"), ("tiny-bert", "tiny-gpt")]
)
def test_a_tokenizer_of_another_model_type_is_refused(tmp_path, weights, tokenizer) -> None:
    folder = copy_builtin(weights, tmp_path)
    shutil.copy(WEIGHTS / tokenizer / "tokenizer.json", folder / "tokenizer.json")
    with pytest.raises(CheckpointError, match="do not belong together"):
        hub.load(folder, device="cpu")


def test_the_shipped_tokenizers_fit_their_models(tmp_path) -> None:
    for name in ("tiny-gpt", "tiny-bert", "tiny-sentiment"):
        loaded = hub.load(copy_builtin(name, tmp_path), device="cpu")
        assert loaded.tokenizer.vocab_size == loaded.model.config.vocab_size


@pytest.mark.parametrize("name", ["model.safetensors", "optimizer.safetensors"])
def test_a_flipped_byte_in_a_checkpoint_is_refused(checkpoint, name) -> None:
    flip_last_byte(checkpoint / name)
    with pytest.raises(CheckpointError, match=f"{name} has changed since it was saved"):
        resume(checkpoint)


def test_a_gpt_tokenizer_must_cover_exactly_the_model_vocabulary(tmp_path) -> None:
    folder = tmp_path / "padded"
    ckpt.save_model(gpt(vocab_size=2100), folder)  # 2100 rows, a 2048-token tokenizer
    shutil.copy(WEIGHTS / "tiny-gpt" / "tokenizer.json", folder / "tokenizer.json")
    with pytest.raises(CheckpointError, match="one token per id: 2048 tokens vs 2100"):
        hub.load(folder, device="cpu")


def test_register_model_type_checks_the_tokenizer_rules() -> None:
    from lmkit.registry import register_model_type

    with pytest.raises(InputError, match="tokenizer_specials must be a tuple"):
        register_model_type("x", GPT, GPTConfig, "causal-lm", tokenizer_specials="[CLS]")
    with pytest.raises(InputError, match="exact_vocab must be True or False"):
        register_model_type("x", GPT, GPTConfig, "causal-lm", exact_vocab=1)
