"""Move GPT-2 weights between lmkit and Hugging Face ``transformers``; load pretrained GPT-2.

Introduced in chapter 7 (section 9 of which loads the real GPT-2). ``transformers``
is optional: it is imported inside each function and a missing install raises
:class:`~lmkit.errors.MissingDependencyError` naming the extra to install.

The two models are the same network with different names and one layout difference:
Hugging Face's GPT-2 uses ``Conv1D`` layers, which store their weight as (in, out), while
``nn.Linear`` stores (out, in). Converting is renaming plus transposing those four matrices.
Weights are only read from safetensors files; remote code is never run.
"""

from __future__ import annotations

import os
import socket
import threading
import urllib.parse
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from lmkit._optional import require
from lmkit.device import pick_device
from lmkit.errors import CheckpointError, ConfigError, InputError, LmkitError, OfflineError
from lmkit.gpt.config import GPTConfig
from lmkit.gpt.model import GPT

_PURPOSE = "convert GPT-2 weights to or from Hugging Face transformers"
# Per block, the layers whose Hugging Face Conv1D weight is the transpose of our nn.Linear.
_CONV1D = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")
# Activation names in transformers that are exactly the tanh-approximated GELU we use.
_TANH_GELU = ("gelu_new", "gelu_pytorch_tanh")


def config_to_hf(config: GPTConfig) -> Any:
    """The ``transformers.GPT2Config`` describing the same network as ``config``.

    GPT-2 can only express learned positions, biases everywhere and tied embeddings.
    """
    transformers = require("transformers", _PURPOSE)
    if not isinstance(config, GPTConfig):
        raise ConfigError(f"config_to_hf expects a GPTConfig, got {type(config).__name__}.")
    if config.pos_encoding != "learned":
        raise ConfigError(
            f"Hugging Face GPT-2 only has learned position embeddings; this config uses "
            f"pos_encoding={config.pos_encoding!r}. Only pos_encoding='learned' models convert."
        )
    if not config.bias:
        raise ConfigError("Hugging Face GPT-2 always has biases; bias=False models cannot convert.")
    if not config.tie_weights:
        raise ConfigError(
            "Hugging Face GPT-2 ties the output layer to the token embedding; models built with "
            "tie_weights=False cannot convert."
        )
    # GPT-2's special token is id 50256; smaller vocabularies have no such token.
    special = 50256 if config.vocab_size > 50256 else None
    return transformers.GPT2Config(
        vocab_size=config.vocab_size,
        n_positions=config.block_size,
        n_embd=config.n_embd,
        n_layer=config.n_layer,
        n_head=config.n_head,
        n_inner=None,  # means 4 * n_embd, as ours
        activation_function="gelu_new",
        resid_pdrop=config.dropout,
        embd_pdrop=config.dropout,
        attn_pdrop=config.dropout,
        layer_norm_epsilon=config.layer_norm_eps,
        scale_attn_weights=True,
        scale_attn_by_inverse_layer_idx=False,
        reorder_and_upcast_attn=False,
        tie_word_embeddings=True,
        bos_token_id=special,
        eos_token_id=special,
    )


def config_from_hf(hf_config: Any) -> GPTConfig:
    """The :class:`GPTConfig` of a ``transformers.GPT2Config``; unsupported variants raise ConfigError."""
    model_type = getattr(hf_config, "model_type", None)
    if model_type != "gpt2":
        raise ConfigError(
            f"Only GPT-2 configs can be converted, got model_type={model_type!r} "
            f"({type(hf_config).__name__})."
        )
    c = hf_config
    unsupported = []
    if c.activation_function not in _TANH_GELU:
        unsupported.append(f"activation_function={c.activation_function!r} (lmkit uses gelu_new)")
    if c.n_inner not in (None, 4 * c.n_embd):
        unsupported.append(f"n_inner={c.n_inner} (lmkit uses 4 * n_embd = {4 * c.n_embd})")
    if not c.scale_attn_weights or c.scale_attn_by_inverse_layer_idx:
        unsupported.append("non-standard attention scaling")
    if getattr(c, "add_cross_attention", False):
        unsupported.append("cross-attention layers")
    if not getattr(c, "tie_word_embeddings", True):
        unsupported.append("untied output layer (tie_word_embeddings=False)")
    if unsupported:
        raise ConfigError(
            "This GPT-2 variant cannot be represented in lmkit: " + "; ".join(unsupported) + "."
        )
    drops = {c.resid_pdrop, c.embd_pdrop, c.attn_pdrop}
    if len(drops) > 1:
        warnings.warn(
            f"The Hugging Face config has different dropout rates {sorted(drops)}; lmkit has one "
            f"and uses resid_pdrop={c.resid_pdrop}. This only matters for training.",
            stacklevel=2,
        )
    return GPTConfig(
        vocab_size=c.vocab_size,
        block_size=c.n_positions,
        n_layer=c.n_layer,
        n_head=c.n_head,
        n_embd=c.n_embd,
        dropout=float(c.resid_pdrop),
        bias=True,
        tie_weights=True,
        pos_encoding="learned",
        layer_norm_eps=float(c.layer_norm_epsilon),
    )


def _is_conv1d_weight(name: str) -> bool:
    return name.endswith(".weight") and any(f".{layer}.weight" in name for layer in _CONV1D)


def state_dict_to_hf(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an lmkit GPT state dict to Hugging Face GPT2LMHeadModel names, transposing Conv1D."""
    converted = {}
    for name, tensor in state_dict.items():
        if name.startswith("blocks."):
            hf_name = "transformer.h." + name.removeprefix("blocks.")
        elif name == "lm_head.weight":
            hf_name = name
        else:
            hf_name = "transformer." + name
        converted[hf_name] = (tensor.t() if _is_conv1d_weight(name) else tensor).contiguous()
    return converted


def state_dict_from_hf(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a Hugging Face GPT2LMHeadModel state dict to lmkit names, transposing Conv1D."""
    converted = {}
    for name, tensor in state_dict.items():
        if name.endswith((".attn.bias", ".attn.masked_bias")):
            continue  # causal-mask buffers of older transformers versions, not weights
        if name.startswith("transformer.h."):
            ours = "blocks." + name.removeprefix("transformer.h.")
        else:
            ours = name.removeprefix("transformer.")
        converted[ours] = (tensor.t() if _is_conv1d_weight(ours) else tensor).contiguous()
    return converted


def to_hf(model: GPT, *, attn_implementation: str = "eager") -> Any:
    """A ``transformers.GPT2LMHeadModel`` with the same weights as ``model`` (same device/dtype).

    ``attn_implementation``: "eager" (can return attentions) or "sdpa".
    """
    transformers = require("transformers", _PURPOSE)
    if not isinstance(model, GPT):
        raise InputError(f"to_hf expects an lmkit GPT, got {type(model).__name__}.")
    if attn_implementation not in ("eager", "sdpa"):
        raise ConfigError(
            f"attn_implementation must be 'eager' or 'sdpa', got {attn_implementation!r}."
        )
    hf_config = config_to_hf(model.config)
    hf_model = transformers.GPT2LMHeadModel._from_config(
        hf_config, attn_implementation=attn_implementation
    )
    hf_model.to(device=model.device, dtype=model.dtype)
    weights = state_dict_to_hf(model.state_dict())
    missing, unexpected = hf_model.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not k.endswith((".attn.bias", ".attn.masked_bias"))]
    if missing or unexpected:
        raise CheckpointError(
            f"Weight conversion to Hugging Face failed: missing {missing[:5]}, unexpected "
            f"{unexpected[:5]}. Please report this as an lmkit bug."
        )
    hf_model.tie_weights()
    return hf_model.train(model.training)


def from_hf(hf_model: Any) -> GPT:
    """An lmkit :class:`GPT` with the weights of a ``transformers.GPT2LMHeadModel``."""
    require("transformers", _PURPOSE)
    config = getattr(hf_model, "config", None)
    if config is None or not hasattr(hf_model, "state_dict"):
        raise InputError(
            f"from_hf expects a transformers GPT2LMHeadModel, got {type(hf_model).__name__}."
        )
    if type(hf_model).__name__ != "GPT2LMHeadModel":
        raise InputError(
            f"from_hf expects a GPT2LMHeadModel (with its language-model head), got "
            f"{type(hf_model).__name__}. Load it with GPT2LMHeadModel.from_pretrained(...)."
        )
    gpt_config = config_from_hf(config)
    reference = next(iter(hf_model.parameters()))
    with torch.device("meta"):
        model = GPT(gpt_config)  # no point initialising weights that are overwritten next
    # Copies, so the two models never share memory (HF's weights may also be views).
    weights = {k: v.detach().clone() for k, v in state_dict_from_hf(hf_model.state_dict()).items()}
    model.load_state_dict(weights, assign=True)  # (GPT.load_state_dict re-ties lm_head)
    return model.to(device=reference.device, dtype=reference.dtype).train(hf_model.training)


def _env_offline() -> bool:
    flags = (os.environ.get(k, "") for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return any(f.strip().lower() in ("1", "true", "yes", "on") for f in flags)


def _offline_error(name: str, cause: str) -> OfflineError:
    return OfflineError(
        f"Cannot load the pretrained model {name!r}: it is not in the local Hugging Face cache "
        f"and the Hugging Face hub is unreachable ({cause}). To fix: connect to the internet "
        f"and try again; or download it once on a connected machine (e.g. "
        f"lmkit.gpt.interop.load_pretrained({name!r})) and copy its Hugging Face cache directory "
        f"(~/.cache/huggingface/hub, or pass cache_dir=...) here; or save it with "
        f"save_pretrained(dir) and pass that directory; or use lmkit's built-in offline models."
    )


def load_pretrained(
    name_or_path: str | os.PathLike = "gpt2",
    *,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool | None = None,
    device: torch.device | str | None = None,
) -> GPT:
    """Load a pretrained GPT-2 (hub name like "gpt2" or a local directory) as an lmkit GPT.

    The weights must be safetensors. ``local_files_only=None`` means: use the network unless
    ``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE`` is set. ``device=None`` picks the best
    available device (see :func:`lmkit.device.pick_device`). The model is returned in fp32 and
    in eval mode.
    Without network and without a cached copy, raises :class:`OfflineError` saying what to do.
    Introduced in chapter 7.
    """
    transformers = require("transformers", "load pretrained GPT-2 weights")
    if not isinstance(name_or_path, (str, os.PathLike)) or not str(name_or_path).strip():
        raise InputError(
            f"name_or_path must be a hub model name like 'gpt2' or a local directory, got "
            f"{name_or_path!r}."
        )
    target = pick_device(device)
    name = str(name_or_path)
    is_local = Path(name).expanduser().is_dir()
    # Hub ids are "name" or "org/name"; anything else that looks like a path must exist.
    looks_like_path = name.startswith((".", "/", "~", "\\")) or name.count("/") > 1
    if not is_local and (looks_like_path or Path(name).expanduser().exists()):
        raise CheckpointError(
            f"{name!r} is not a directory. Pass a directory made by save_pretrained (with "
            f"config.json and model.safetensors) or a hub model name such as 'gpt2'."
        )
    offline = _env_offline() if local_files_only is None else bool(local_files_only)
    options = {"cache_dir": None if cache_dir is None else str(cache_dir)}

    def load(local_only: bool) -> Any:
        source = str(Path(name).expanduser()) if is_local else name
        hf_config = transformers.AutoConfig.from_pretrained(
            source, local_files_only=local_only, trust_remote_code=False, **options
        )
        if getattr(hf_config, "model_type", None) != "gpt2":
            raise ConfigError(
                f"{name!r} is a {getattr(hf_config, 'model_type', 'unknown')!r} model; "
                f"load_pretrained only loads GPT-2 checkpoints."
            )
        return transformers.GPT2LMHeadModel.from_pretrained(
            source,
            config=hf_config,
            local_files_only=local_only,
            use_safetensors=True,
            trust_remote_code=False,
            **options,
        )

    try:
        # The local cache first: never touches the network, and it is the common case.
        hf_model = load(local_only=True)
    except LmkitError:
        raise
    except (OSError, ValueError) as exc:
        if is_local:
            raise CheckpointError(
                f"Could not load a GPT-2 checkpoint from the directory {name!r}: {exc}. It needs "
                f"config.json and model.safetensors (save with save_pretrained(dir, "
                f"safe_serialization=True))."
            ) from exc
        if offline:
            raise _offline_error(
                name, "offline mode is on (HF_HUB_OFFLINE/local_files_only)"
            ) from exc
        if not _hub_reachable():
            raise _offline_error(
                name, f"no connection to {_hub_address()[0]} within a few seconds"
            ) from exc
        try:
            hf_model = load(local_only=False)
        except LmkitError:
            raise
        except (OSError, ValueError) as online_exc:
            if _looks_like_network_failure(online_exc):
                raise _offline_error(name, f"{type(online_exc).__name__}") from online_exc
            raise CheckpointError(
                f"Could not load {name!r} from the Hugging Face hub: {online_exc}. Check the "
                f"model name (e.g. 'gpt2', 'gpt2-medium') and that it has safetensors weights."
            ) from online_exc
    model = from_hf(hf_model)
    # fp32 whatever the file stored (newer transformers keep the checkpoint's dtype); fp16 ->
    # fp32 is exact, and callers who want half precision can still call .to(dtype).
    return model.to(device=target, dtype=torch.float32).eval()


def _hub_address() -> tuple[str, int]:
    endpoint = urllib.parse.urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    return endpoint.hostname or "huggingface.co", endpoint.port or (
        443 if endpoint.scheme == "https" else 80
    )


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Can we open a TCP connection to the hub within ``timeout`` seconds?

    Without this check, an unreachable hub costs ~20 s of retries inside huggingface_hub.
    Name lookup cannot be given a timeout, so the probe runs in a daemon thread. Behind a
    proxy a direct connection proves nothing, so we then assume the hub is reachable.
    """
    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection(_hub_address(), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result) and result[0]


def _looks_like_network_failure(exc: BaseException) -> bool:
    """True if ``exc`` or anything in its cause chain is a connection/timeout problem."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        kind = type(current).__name__
        text = str(current).lower()
        if isinstance(current, (ConnectionError, TimeoutError)) or kind in (
            "LocalEntryNotFoundError",
            "OfflineModeIsEnabled",
            "ConnectError",
            "ConnectTimeout",
            "ReadTimeout",
        ):
            return True
        if "couldn't connect" in text or "offline" in text or "connection" in text:
            return True
        current = current.__cause__ or current.__context__
    return False


__all__ = [
    "config_from_hf",
    "config_to_hf",
    "from_hf",
    "load_pretrained",
    "state_dict_from_hf",
    "state_dict_to_hf",
    "to_hf",
]
