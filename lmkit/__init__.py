"""lmkit: a small, tested PyTorch library for learning how language models work.

The most used names are available at the top level (``lmkit.GPT``, ``lmkit.Trainer``,
``lmkit.generate_text``…). They are imported on first use, so ``import lmkit`` stays fast and an
optional dependency is only needed by the feature that uses it.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it. The function ``generate`` is not here: the submodule
# ``lmkit.decoding.generation`` owns that attribute name, so use ``from lmkit.decoding.generation import generate``.
_EXPORTS = {
    "LmkitError": "lmkit.errors",
    "ConfigError": "lmkit.errors",
    "InputError": "lmkit.errors",
    "TokenizerError": "lmkit.errors",
    "CheckpointError": "lmkit.errors",
    "MissingDependencyError": "lmkit.errors",
    "OfflineError": "lmkit.errors",
    "pick_device": "lmkit.device",
    "seed_everything": "lmkit.device",
    "describe_device": "lmkit.device",
    "CharTokenizer": "lmkit.tokenizers",
    "ByteBPETokenizer": "lmkit.tokenizers",
    "HFTokenizer": "lmkit.tokenizers",
    "load_tokenizer": "lmkit.tokenizers",
    "MultiHeadAttention": "lmkit.nn.attention",
    "scaled_dot_product_attention": "lmkit.nn.attention",
    "GPT": "lmkit.gpt.model",
    "GPTConfig": "lmkit.gpt.config",
    "to_hf": "lmkit.gpt.interop",
    "from_hf": "lmkit.gpt.interop",
    "load_pretrained": "lmkit.gpt.interop",
    "Trainer": "lmkit.training.trainer",
    "TrainConfig": "lmkit.training.config",
    "LMBatches": "lmkit.training.batching",
    "save_model": "lmkit.training.checkpoint",
    "load_model": "lmkit.training.checkpoint",
    "GenerationConfig": "lmkit.decoding.generation",
    "stream": "lmkit.decoding.generation",
    "generate_text": "lmkit.decoding.text",
    "stream_text": "lmkit.decoding.text",
    "beam_search": "lmkit.decoding.beam",
    "load": "lmkit.hub",
    "available_models": "lmkit.hub",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lmkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
