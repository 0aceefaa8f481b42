"""lmkit GPT <-> Hugging Face GPT-2: same logits, same weights, loading, offline errors."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
import torch
from model_factories import gpt_config

transformers = pytest.importorskip("transformers")

from lmkit.errors import (  # noqa: E402
    CheckpointError,
    ConfigError,
    InputError,
    MissingDependencyError,
    OfflineError,
)
from lmkit.gpt import interop  # noqa: E402
from lmkit.gpt.config import GPTConfig  # noqa: E402
from lmkit.gpt.interop import (  # noqa: E402
    config_from_hf,
    config_to_hf,
    from_hf,
    load_pretrained,
    to_hf,
)
from lmkit.gpt.model import GPT  # noqa: E402

ATOL = 1e-4


def tiny_config(**overrides) -> GPTConfig:
    return gpt_config(**{"vocab_size": 53, "block_size": 32, **overrides})


def tiny_hf_config(**overrides):
    base = {
        "vocab_size": 53,
        "n_positions": 32,
        "n_layer": 2,
        "n_head": 4,
        "n_embd": 32,
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "bos_token_id": None,
        "eos_token_id": None,
    }
    return transformers.GPT2Config(**{**base, **overrides})


def random_hf_model(impl: str = "eager", seed: int = 0):
    torch.manual_seed(seed)
    model = transformers.GPT2LMHeadModel._from_config(tiny_hf_config(), attn_implementation=impl)
    with torch.no_grad():  # HF initialises biases and LayerNorms to constants; randomise all
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


def random_lmkit_model(seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    model = GPT(tiny_config())
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


def ids(b: int = 3, t: int = 20, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, 53, (b, t), generator=torch.Generator().manual_seed(seed))


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path):
    """Nothing in this file may touch the network: offline mode and an empty HF home."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setattr(interop, "_hub_reachable", lambda timeout=3.0: False)


# -------------------------------------------------------------------------- logits parity
@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_lmkit_to_hf_gives_the_same_logits(impl):
    ours = random_lmkit_model()
    theirs = to_hf(ours, attn_implementation=impl)
    x = ids()
    with torch.no_grad():
        assert torch.allclose(ours(x).logits, theirs(input_ids=x).logits, atol=ATOL)


def test_hf_to_lmkit_gives_the_same_logits_loss_and_attentions():
    theirs = random_hf_model("eager")
    ours = from_hf(theirs)
    x = ids()
    with torch.no_grad():
        ref = theirs(input_ids=x, labels=x, output_attentions=True)
        # HF shifts labels inside; lmkit takes already shifted targets.
        out = ours(x[:, :-1], x[:, 1:])
        maps = ours(x, return_attention=True).attentions
    assert torch.allclose(ours(x).logits, ref.logits, atol=ATOL)
    assert torch.allclose(out.loss, ref.loss, atol=ATOL)
    for mine, hf in zip(maps, ref.attentions, strict=True):
        assert torch.allclose(mine, hf, atol=ATOL)


def test_kv_cache_logits_match_hf():
    theirs = random_hf_model("sdpa")
    ours = from_hf(theirs)
    x = ids(2, 12)
    cache = ours.new_kv_cache(2)
    with torch.no_grad():
        steps = [ours(x[:, :5], kv_cache=cache).logits]
        steps += [ours(x[:, t : t + 1], kv_cache=cache).logits for t in range(5, 12)]
        ref = theirs(input_ids=x).logits
    assert torch.allclose(torch.cat(steps, 1), ref, atol=ATOL)


def test_round_trips_keep_weights_identical():
    ours = random_lmkit_model()
    back = from_hf(to_hf(ours))
    a, b = ours.state_dict(), back.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert back.lm_head.weight is back.wte.weight
    theirs = random_hf_model()
    again = to_hf(from_hf(theirs))
    a, b = theirs.state_dict(), again.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_converted_models_do_not_share_memory():
    theirs = random_hf_model()
    ours = from_hf(theirs)
    with torch.no_grad():
        ours.ln_f.weight.zero_()
    assert not torch.all(theirs.transformer.ln_f.weight == 0)


def test_gpt2_small_parameter_count_matches_hf():
    with torch.device("meta"):
        hf = transformers.GPT2LMHeadModel._from_config(transformers.GPT2Config())
        ours = GPT(GPTConfig.gpt2_small())
    assert hf.num_parameters() == ours.num_parameters() == 124_439_808


# -------------------------------------------------------------------------------- configs
def test_config_round_trip():
    config = tiny_config(dropout=0.1, layer_norm_eps=1e-6)
    hf = config_to_hf(config)
    assert (hf.n_positions, hf.activation_function, hf.attn_pdrop) == (32, "gelu_new", 0.1)
    assert config_from_hf(hf) == config
    assert config_to_hf(GPTConfig.gpt2_small()).eos_token_id == 50256


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"pos_encoding": "rotary"}, "only has learned position embeddings"),
        ({"pos_encoding": "sinusoidal"}, "pos_encoding='sinusoidal'"),
        ({"bias": False}, "always has biases"),
        ({"tie_weights": False}, "tie_weights=False"),
    ],
)
def test_config_to_hf_rejects_what_gpt2_cannot_express(overrides, match):
    config = tiny_config(**overrides)
    with pytest.raises(ConfigError, match=match):
        config_to_hf(config)
    with pytest.raises(ConfigError, match=match):
        to_hf(GPT(config))


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"activation_function": "relu"}, "activation_function='relu'"),
        ({"n_inner": 100}, "n_inner=100"),
        ({"scale_attn_by_inverse_layer_idx": True}, "attention scaling"),
        ({"tie_word_embeddings": False}, "untied"),
    ],
)
def test_config_from_hf_rejects_unsupported_variants(overrides, match):
    with pytest.raises(ConfigError, match=match):
        config_from_hf(tiny_hf_config(**overrides))


def test_config_from_hf_rejects_other_architectures_and_warns_on_mixed_dropout():
    with pytest.raises(ConfigError, match="model_type='llama'"):
        config_from_hf(transformers.LlamaConfig())
    with pytest.raises(ConfigError, match="config_to_hf expects a GPTConfig"):
        config_to_hf({"n_layer": 2})
    with pytest.warns(UserWarning, match="different dropout rates"):
        config = config_from_hf(tiny_hf_config(resid_pdrop=0.1, attn_pdrop=0.2))
    assert config.dropout == 0.1


def test_converters_reject_wrong_model_types():
    with pytest.raises(InputError, match="to_hf expects an lmkit GPT"):
        to_hf(random_hf_model())
    with pytest.raises(ConfigError, match="attn_implementation"):
        to_hf(random_lmkit_model(), attn_implementation="flash")
    headless = transformers.GPT2Model(tiny_hf_config())
    with pytest.raises(InputError, match="GPT2LMHeadModel"):
        from_hf(headless)
    with pytest.raises(InputError, match="GPT2LMHeadModel"):
        from_hf(torch.nn.Linear(2, 2))


def test_missing_transformers_is_reported(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # makes `import transformers` fail
    with pytest.raises(MissingDependencyError, match=r"lmkit\[hf\]"):
        config_to_hf(tiny_config())
    with pytest.raises(MissingDependencyError, match="transformers"):
        load_pretrained("gpt2")


# ---------------------------------------------------------------------------- loading
@pytest.fixture
def saved_dir(tmp_path):
    """A tiny random GPT-2 saved the way the hub stores it (config.json + model.safetensors)."""
    theirs = random_hf_model()
    path = tmp_path / "tiny-gpt2"
    theirs.save_pretrained(path, safe_serialization=True)
    assert (path / "model.safetensors").exists()
    return path, theirs


def test_load_pretrained_from_local_directory(saved_dir):
    path, theirs = saved_dir
    model = load_pretrained(path, device="cpu")
    assert not model.training
    x = ids()
    with torch.no_grad():
        assert torch.allclose(model(x).logits, theirs(input_ids=x).logits, atol=ATOL)
    assert load_pretrained(str(path), device="cpu").config == model.config


def test_load_pretrained_from_a_hub_cache_layout(saved_dir, tmp_path):
    path, theirs = saved_dir
    # The layout huggingface_hub uses: models--<name>/snapshots/<commit>/ and refs/main.
    repo = tmp_path / "cache" / "models--gpt2"
    snapshot = repo / "snapshots" / ("0" * 40)
    shutil.copytree(path, snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    model = load_pretrained("gpt2", cache_dir=tmp_path / "cache", device="cpu")
    x = ids()
    with torch.no_grad():
        assert torch.allclose(model(x).logits, theirs(input_ids=x).logits, atol=ATOL)


def test_offline_without_cache_raises_offline_error(tmp_path):
    with pytest.raises(OfflineError, match=r"'gpt2'.*unreachable.*connect.*cache.*offline models"):
        load_pretrained("gpt2", cache_dir=tmp_path / "empty")


def test_unreachable_hub_is_detected_quickly(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with pytest.raises(OfflineError, match=r"no connection to huggingface\.co"):
        load_pretrained("gpt2", cache_dir=tmp_path / "empty", local_files_only=False)


def test_connection_failure_during_download_becomes_offline_error(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(interop, "_hub_reachable", lambda timeout=3.0: True)

    def fake_from_pretrained(*args, local_files_only=False, **kwargs):
        if local_files_only:
            raise OSError("not in the cache")
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files")

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", fake_from_pretrained)
    with pytest.raises(OfflineError, match="unreachable"):
        load_pretrained("gpt2", cache_dir=tmp_path / "empty", local_files_only=False)

    def not_found(*args, local_files_only=False, **kwargs):
        raise OSError("gpt3 is not a valid model identifier listed on the hub")

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", not_found)
    with pytest.raises(CheckpointError, match="Check the model name"):
        load_pretrained("gpt3", cache_dir=tmp_path / "empty", local_files_only=False)


def test_bad_local_directories_raise_clear_errors(tmp_path, saved_dir):
    path, _ = saved_dir
    no_weights = tmp_path / "no-weights"
    no_weights.mkdir()
    shutil.copy(path / "config.json", no_weights / "config.json")
    with pytest.raises(CheckpointError, match=r"model\.safetensors"):
        load_pretrained(no_weights, device="cpu")
    llama = tmp_path / "llama"
    llama.mkdir()
    (llama / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ConfigError, match="only loads GPT-2"):
        load_pretrained(llama, device="cpu")
    with pytest.raises(CheckpointError, match="is not a directory"):
        load_pretrained(tmp_path / "does-not-exist")
    with pytest.raises(CheckpointError, match="is not a directory"):
        load_pretrained(path / "config.json")
    with pytest.raises(InputError, match="name_or_path"):
        load_pretrained("")
    with pytest.raises(InputError, match="name_or_path"):
        load_pretrained(42)


def test_mismatched_weights_raise_checkpoint_error(saved_dir):
    _, theirs = saved_dir
    wrong = GPT(tiny_config(n_layer=3))
    weights = interop.state_dict_from_hf(theirs.state_dict())
    with pytest.raises(CheckpointError, match=r"missing keys: blocks\.2"):
        wrong.load_state_dict(weights)


def test_half_precision_checkpoint_loads_as_fp32(tmp_path):
    theirs = random_hf_model()
    path = tmp_path / "fp16"
    theirs.half().save_pretrained(path, safe_serialization=True)
    model = load_pretrained(path, device="cpu")
    assert model.dtype == torch.float32
    expected = theirs.transformer.h[0].attn.c_attn.weight.float().t()  # Conv1D is (in, out)
    assert torch.equal(model.blocks[0].attn.c_attn.weight, expected)
