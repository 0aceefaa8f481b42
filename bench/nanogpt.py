"""nanoGPT as a benchmark peer: its ``model.py`` imported from a checkout, lmkit's weights copied in.

Used by :mod:`bench.train_step` and :mod:`bench.train_shakespeare` with ``--nanogpt PATH``, PATH
being a checkout of karpathy/nanoGPT. Its code is never copied into this repository: the file
``PATH/model.py`` is imported at run time. The peer gets lmkit's initial weights (the state dict
layouts differ only in names: ``blocks.N`` is nanoGPT's ``transformer.h.N``), so both sides start
from the same point. One difference stays, because it is nanoGPT's model as written: its MLP uses
the exact (erf) GELU, lmkit the tanh approximation that GPT-2's weights were trained with.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType

import torch
from torch import nn

from lmkit.errors import ConfigError, InputError
from lmkit.gpt.model import GPT

# The fields of nanoGPT's GPTConfig, all of which lmkit's GPTConfig has under the same names.
_SHARED_FIELDS = ("block_size", "vocab_size", "n_layer", "n_head", "n_embd", "dropout", "bias")

__all__ = ["load_nanogpt_module", "nanogpt_copy", "nanogpt_optimizer", "nanogpt_state_dict"]


def load_nanogpt_module(path: str | Path) -> ModuleType:
    """``PATH/model.py`` of a nanoGPT checkout, imported as a module with ``GPT`` and ``GPTConfig``."""
    path = Path(path)
    model_file = path / "model.py" if path.is_dir() else path
    if not model_file.is_file() or model_file.name != "model.py":
        raise InputError(
            f"No nanoGPT model.py at {model_file}. Pass --nanogpt PATH with PATH a checkout of "
            "karpathy/nanoGPT (git clone https://github.com/karpathy/nanoGPT), the folder that "
            "holds model.py."
        )
    # A name per file, so two checkouts never share a module; dataclasses need it in sys.modules.
    digest = hashlib.sha256(str(model_file.resolve()).encode()).hexdigest()[:12]
    name = f"_nanogpt_model_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, model_file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # whatever the foreign file raises, say which file it was
        del sys.modules[name]
        raise InputError(f"Importing {model_file} failed: {type(exc).__name__}: {exc}") from exc
    if not all(hasattr(module, attr) for attr in ("GPT", "GPTConfig")):
        del sys.modules[name]
        raise InputError(f"{model_file} defines no GPT and GPTConfig; is it nanoGPT's model.py?")
    return module


def nanogpt_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """lmkit's state dict under nanoGPT's names (``wte`` → ``transformer.wte``, ``blocks.N`` →
    ``transformer.h.N``); ``lm_head.weight`` keeps its name."""
    renamed = {}
    for key, value in model.state_dict().items():
        if key != "lm_head.weight":
            key = "transformer." + (
                key.replace("blocks.", "h.", 1) if key.startswith("blocks.") else key
            )
        renamed[key] = value
    return renamed


def _check_layout(model: GPT) -> None:
    c = model.config
    problems = []
    if c.pos_encoding != "learned":
        problems.append(f"pos_encoding={c.pos_encoding!r} (nanoGPT learns positions)")
    if not c.tie_weights:
        problems.append("tie_weights=False (nanoGPT ties lm_head to wte)")
    if c.layer_norm_eps != 1e-5:
        problems.append(f"layer_norm_eps={c.layer_norm_eps} (nanoGPT uses 1e-5)")
    if problems:
        raise ConfigError(
            "nanoGPT cannot hold this model's weights: " + "; ".join(problems) + ". Use a "
            "GPT-2 layout config for the nanoGPT comparison."
        )


def nanogpt_copy(model: GPT, path: str | Path) -> nn.Module:
    """nanoGPT's ``GPT`` from ``path`` with ``model``'s configuration and weights, on its device."""
    _check_layout(model)
    module = load_nanogpt_module(path)
    config = module.GPTConfig(**{name: getattr(model.config, name) for name in _SHARED_FIELDS})
    with contextlib.redirect_stdout(io.StringIO()):  # it prints its parameter count
        peer = module.GPT(config)
    peer.load_state_dict(nanogpt_state_dict(model), strict=True)
    return peer.to(model.device)


def nanogpt_optimizer(
    peer: nn.Module, *, lr: float, weight_decay: float, betas: tuple[float, float], device: str
) -> torch.optim.Optimizer:
    """nanoGPT's own ``configure_optimizers``: AdamW decaying the tensors of 2+ dimensions, fused
    on CUDA only, which is the grouping of :func:`lmkit.training.optim.adamw_param_groups`."""
    with contextlib.redirect_stdout(io.StringIO()):  # it prints its parameter groups
        return peer.configure_optimizers(weight_decay, lr, betas, device)
