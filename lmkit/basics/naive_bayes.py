"""Multinomial naive Bayes over token counts, as an lmkit classifier (``zh-sentiment``).

Introduced in chapter 11, as the counting baseline that the neural classifiers must beat. Naive
Bayes pretends that the tokens of a text are drawn one by one, independently, from a per-class
bag. Training is counting: with ``N_ct`` the number of times token ``t`` occurs in the training
texts of class ``c``, ``N_c = sum_t N_ct`` and ``V`` real tokens,

    log P(t | c) = log((N_ct + alpha) / (N_c + alpha * V))     (add-alpha smoothing)
    log P(c)     = log(share of the training texts in class c)

and a text's logits are ``log P(c) + sum over its tokens of log P(t | c)``: the log of the joint
probability, so their softmax is exactly the posterior ``P(c | text)``. These are scikit-learn's
``MultinomialNB`` formulas (the tests check it to 1e-6).

To fit lmkit's classifier interface, the table ``log P(t | c)`` is an embedding: token ``t``'s
"embedding" is its row of ``n_labels`` numbers, and the model adds up the rows of the real
tokens. So ``inputs_embeds`` (saliency), padding masks and :mod:`lmkit.tasks.text_classify`
work as for the transformers. ``[PAD]`` and ``[UNK]`` (ids 0 and 1, as
:class:`~lmkit.tokenizers.char_ngram.CharNgramTokenizer` numbers them) have zero rows: an n-gram
never seen in training adds no evidence, as scikit-learn drops it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lmkit.errors import CheckpointError, ConfigError, InputError, TokenizerError
from lmkit.nn.outputs import ClassifierOutput
from lmkit.tokenizers.char_ngram import MAX_N, CharNgramTokenizer
from lmkit.validators import is_int

__all__ = [
    "FORMAT",
    "LABELS",
    "MODEL_TYPE",
    "N_SPECIAL",
    "NaiveBayesClassifier",
    "fit_naive_bayes",
    "load_folder",
    "save_folder",
]

LABELS = ("negative", "positive")
MAX_LENGTH = 4096  # tokens; 1–3-grams make about 3 per character, so ~1,300 characters
N_SPECIAL = 2  # ids 0 ([PAD]) and 1 ([UNK]) carry no evidence
FORMAT = "lmkit-naive-bayes"
MODEL_TYPE = "naive-bayes-classifier"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
_TENSORS = ("log_likelihood", "log_prior")
_MAX_WEIGHTS_BYTES = 512 * 2**20
_REBUILD = "rebuild the folder with python -m lmkit.recipes.zh_sentiment"


def _check_temperature(temperature: object) -> float:
    if not (
        isinstance(temperature, (int, float))
        and not isinstance(temperature, bool)
        and 0 < temperature < math.inf
    ):
        raise ConfigError(f"temperature must be a positive number, got {temperature!r}.")
    return float(temperature)


class NaiveBayesClassifier(nn.Module):
    """Logits = (log prior + sum of the real tokens' rows of ``log P(token | class)``) / T.

    ``vocab_size`` rows (ids 0 and 1 are [PAD] and [UNK], kept at zero), one column per label.
    ``alpha`` records the smoothing that made the table. ``temperature`` (fitted after training,
    :func:`lmkit.basics.calibration.fit_temperature`) softens naive Bayes's notoriously
    over-confident posteriors; it never changes the predicted label. Chapter 11.
    """

    kind = "classifier"

    def __init__(
        self,
        vocab_size: int,
        labels: Sequence[str] = LABELS,
        *,
        alpha: float = 1.0,
        max_length: int = MAX_LENGTH,
        temperature: float = 1.0,
    ) -> None:
        super().__init__()
        labels = tuple(labels)
        if len(labels) < 2 or len(set(labels)) != len(labels):
            raise ConfigError(f"labels must be at least two distinct names, got {labels!r}.")
        if not is_int(vocab_size) or vocab_size <= N_SPECIAL:
            raise ConfigError(f"vocab_size must be an integer > {N_SPECIAL}, got {vocab_size!r}.")
        if not is_int(max_length) or max_length < 1:
            raise ConfigError(f"max_length must be an integer >= 1, got {max_length!r}.")
        self.labels = labels
        self.alpha = float(alpha)
        self.max_length = int(max_length)
        self.temperature = _check_temperature(temperature)
        # Parameters (not buffers) so that .to(), .parameters() and safetensors see them; they are
        # counted, never trained by gradient descent.
        self.log_likelihood = nn.Parameter(
            torch.zeros(vocab_size, len(labels)), requires_grad=False
        )
        self.log_prior = nn.Parameter(torch.zeros(len(labels)), requires_grad=False)

    @property
    def vocab_size(self) -> int:
        return self.log_likelihood.shape[0]

    def input_embeddings(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Each token's row of log P(token | class): (B, T) → (B, T, n_labels)."""
        if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= self.vocab_size):
            raise InputError(
                f"Token ids must be in 0..{self.vocab_size - 1}; were these ids made by a "
                "different tokenizer?"
            )
        return F.embedding(input_ids, self.log_likelihood)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        *,
        inputs_embeds: torch.Tensor | None = None,
        return_attention: bool = False,
    ) -> ClassifierOutput:
        """Logits (B, n_labels). There is no attention to return: ``attentions`` is None."""
        if inputs_embeds is None:
            if input_ids is None or input_ids.dim() != 2:
                raise InputError("Pass input_ids of shape (B, T) or inputs_embeds (B, T, C).")
            inputs_embeds = self.input_embeddings(input_ids)
        if inputs_embeds.dim() != 3 or inputs_embeds.shape[-1] != len(self.labels):
            raise InputError(
                f"inputs_embeds must be (B, T, {len(self.labels)}), got "
                f"{tuple(inputs_embeds.shape)}."
            )
        batch, length = inputs_embeds.shape[:2]
        if length > self.max_length:
            raise InputError(
                f"{length} tokens is more than this model's maximum of {self.max_length}; "
                "truncate the text (lmkit.tasks.text_classify does)."
            )
        if attention_mask is None:
            mask = inputs_embeds.new_ones(batch, length)
        elif tuple(attention_mask.shape) != (batch, length):
            raise InputError(
                f"attention_mask must be ({batch}, {length}), got {tuple(attention_mask.shape)}."
            )
        else:
            mask = attention_mask.to(inputs_embeds.dtype)
        evidence = (inputs_embeds * mask.unsqueeze(-1)).sum(dim=1)  # (B, C)
        logits = (self.log_prior + evidence) / self.temperature
        return ClassifierOutput(logits, attentions=None)


def fit_naive_bayes(
    token_ids: Sequence[Sequence[int]],
    labels: Sequence[int],
    vocab_size: int,
    n_labels: int = 2,
    alpha: float = 1.0,
    *,
    label_names: Sequence[str] | None = None,
) -> NaiveBayesClassifier:
    """Count tokens per class and return the classifier (float64 tables; see the module).

    ``token_ids[i]`` are the ids of text i, ``labels[i]`` its class id. Ids 0 and 1 ([PAD],
    [UNK]) are not counted and ``V = vocab_size - 2``. Every class needs one text at least.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
        raise ConfigError(f"alpha must be a number > 0, got {alpha!r}.")
    if not is_int(n_labels) or n_labels < 2:
        raise ConfigError(f"n_labels must be an integer >= 2, got {n_labels!r}.")
    if len(token_ids) != len(labels) or not token_ids:
        raise InputError(
            f"Need one label per text and at least one text; got {len(token_ids)} texts and "
            f"{len(labels)} labels."
        )
    names = tuple(label_names) if label_names is not None else (
        LABELS if n_labels == 2 else tuple(str(i) for i in range(n_labels))
    )  # fmt: skip
    if len(names) != n_labels:
        raise ConfigError(f"label_names must have {n_labels} names, got {names!r}.")
    model = NaiveBayesClassifier(vocab_size, names, alpha=alpha).double()
    classes = torch.as_tensor(list(labels), dtype=torch.long)
    if classes.min() < 0 or classes.max() >= n_labels:
        raise InputError(f"labels must be class ids in 0..{n_labels - 1}.")
    class_counts = torch.bincount(classes, minlength=n_labels).double()
    if (class_counts == 0).any():
        empty = [names[c] for c in range(n_labels) if class_counts[c] == 0]
        raise InputError(f"No training text has the label(s) {empty}; naive Bayes needs some.")
    flat = torch.as_tensor([i for ids in token_ids for i in ids], dtype=torch.long)
    owner = torch.repeat_interleave(classes, torch.as_tensor([len(ids) for ids in token_ids]))
    if flat.numel() and (flat.min() < 0 or flat.max() >= vocab_size):
        raise InputError(f"Token ids must be in 0..{vocab_size - 1}.")
    counts = torch.zeros(vocab_size, n_labels, dtype=torch.float64)  # N_ct, one row per token
    counts.index_put_((flat, owner), torch.ones_like(flat, dtype=torch.float64), accumulate=True)
    counts[:N_SPECIAL] = 0
    real = vocab_size - N_SPECIAL
    table = torch.log((counts + alpha) / (counts.sum(dim=0) + alpha * real))
    table[:N_SPECIAL] = 0  # unknown and padding tokens: no evidence either way
    with torch.no_grad():
        model.log_likelihood.copy_(table)
        model.log_prior.copy_(torch.log(class_counts / class_counts.sum()))
    return model.eval()


# ------------------------------------------------------------------------------ files
def save_folder(
    model: NaiveBayesClassifier,
    tokenizer: CharNgramTokenizer,
    folder: str | Path,
    extra: dict[str, Any] | None = None,
    *,
    languages: Sequence[str] = ("zh",),
) -> Path:
    """Write model.safetensors (float32 tables), config.json and tokenizer.json."""
    from safetensors.torch import save_file

    if tokenizer.vocab_size != model.vocab_size:
        raise ConfigError(
            f"The tokenizer has {tokenizer.vocab_size} tokens, the model {model.vocab_size} rows."
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {name: getattr(model, name).detach().float().contiguous().cpu() for name in _TENSORS}
    save_file(tensors, str(folder / WEIGHTS_FILE), metadata={"format": FORMAT})
    (folder / WEIGHTS_FILE).chmod(0o644)  # package data must be readable by every user
    config = {
        "format": FORMAT,
        "model_type": MODEL_TYPE,
        "kind": "classifier",
        "labels": list(model.labels),
        "temperature": model.temperature,
        "alpha": model.alpha,
        "ngram_range": list(tokenizer.ngram_range),
        "languages": list(languages),
        "vocab_size": model.vocab_size,
        "max_length": model.max_length,
    }
    clash = sorted(set(extra or {}) & set(config))
    if clash:
        raise ConfigError(f"extra may not replace the fields {clash} of config.json.")
    config.update(extra or {})
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    tokenizer.save(folder / TOKENIZER_FILE)
    return folder


def _number(low: float, high: float) -> Any:
    return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and low <= v <= high


_CONFIG_FIELDS: dict[str, tuple[Any, str]] = {
    "model_type": (lambda v: v == MODEL_TYPE, repr(MODEL_TYPE)),
    "kind": (lambda v: v == "classifier", "'classifier'"),
    "labels": (
        lambda v: isinstance(v, list) and len(v) >= 2 and all(isinstance(x, str) and x for x in v)
        and len(set(v)) == len(v),
        "a list of at least two distinct label names",
    ),
    "temperature": (_number(0.01, 100), "a number in [0.01, 100]"),
    "alpha": (_number(1e-10, 1e6), "a number > 0"),
    "ngram_range": (
        lambda v: isinstance(v, list) and len(v) == 2 and all(is_int(n) for n in v)
        and 1 <= v[0] <= v[1] <= MAX_N,
        f"[min_n, max_n] with 1 <= min_n <= max_n <= {MAX_N}",
    ),
    "languages": (
        lambda v: isinstance(v, list) and all(isinstance(x, str) and x for x in v),
        "a list of language codes",
    ),
    "vocab_size": (lambda v: is_int(v) and N_SPECIAL < v <= 50_000_000, "an integer > 2"),
    "max_length": (lambda v: is_int(v) and 1 <= v <= 1_000_000, "an integer >= 1"),
}  # fmt: skip


def _read_config(folder: Path) -> dict[str, Any]:
    """The folder's config.json, every field checked (a bad one is a CheckpointError)."""
    from lmkit.safe_files import read_json

    path = folder / CONFIG_FILE
    config = read_json(path, "naive Bayes config", fix=f"The folder is damaged; {_REBUILD}.")
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a naive Bayes classifier config (format {FORMAT!r}).")
    for name, (valid, requirement) in _CONFIG_FIELDS.items():
        if name not in config or not valid(config[name]):
            got = repr(config[name])[:60] if name in config else "nothing"
            raise CheckpointError(
                f"{path}: {name!r} must be {requirement}, got {got}. The file is damaged or was "
                f"edited; {_REBUILD}."
            )
    return config


def _read_tokenizer(folder: Path, config: dict[str, Any]) -> CharNgramTokenizer:
    from lmkit.safe_files import check_regular_file

    path = folder / TOKENIZER_FILE
    check_regular_file(path, "tokenizer file")
    try:
        tokenizer = CharNgramTokenizer.load(path)
    except TokenizerError as exc:
        raise CheckpointError(f"The tokenizer of {folder} cannot be read: {exc}") from exc
    if (
        tokenizer.vocab_size != config["vocab_size"]
        or list(tokenizer.ngram_range) != config["ngram_range"]
    ):
        raise CheckpointError(
            f"{folder}: the tokenizer ({tokenizer.vocab_size} tokens, n-grams "
            f"{tokenizer.ngram_range}) is not the one config.json describes "
            f"({config['vocab_size']} tokens, n-grams {config['ngram_range']}); {_REBUILD}."
        )
    return tokenizer


def _read_tensors(folder: Path, config: dict[str, Any]) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from lmkit.safe_files import check_regular_file

    path = folder / WEIGHTS_FILE
    check_regular_file(path, "classifier weights", max_bytes=_MAX_WEIGHTS_BYTES)
    try:
        stored = load_file(str(path))
    except (OSError, SafetensorError, ValueError) as exc:
        raise CheckpointError(f"Cannot read the weights in {path}: {exc}; {_REBUILD}.") from exc
    n_labels = len(config["labels"])
    expected = {"log_likelihood": (config["vocab_size"], n_labels), "log_prior": (n_labels,)}
    if sorted(stored) != sorted(expected):
        raise CheckpointError(
            f"{path} holds the tensors {sorted(stored)[:5]}, expected {sorted(expected)}; "
            f"{_REBUILD}."
        )
    for name, shape in expected.items():
        tensor = stored[name]
        if tuple(tensor.shape) != shape or not tensor.is_floating_point():
            raise CheckpointError(
                f"{path}: {name!r} is {tensor.dtype} of shape {tuple(tensor.shape)}, expected "
                f"float of shape {shape} (vocab_size x labels in config.json); {_REBUILD}."
            )
        if not torch.isfinite(tensor).all():
            raise CheckpointError(f"{path}: {name!r} holds NaN or infinite values; {_REBUILD}.")
    return stored


def load_folder(
    folder: str | Path, device: str | torch.device | None = None
) -> tuple[NaiveBayesClassifier, CharNgramTokenizer]:
    """Rebuild the classifier and its tokenizer from a :func:`save_folder` folder.

    Every config field, the tokenizer and every tensor's shape are checked first; any problem is
    a :class:`CheckpointError` saying what is wrong (``ModelInfo.loader`` of ``zh-sentiment``).
    """
    from lmkit.device import pick_device

    folder = Path(folder)
    config = _read_config(folder)
    tokenizer = _read_tokenizer(folder, config)
    stored = _read_tensors(folder, config)
    model = NaiveBayesClassifier(
        config["vocab_size"],
        tuple(config["labels"]),
        alpha=float(config["alpha"]),
        max_length=config["max_length"],
        temperature=float(config["temperature"]),
    )
    model.load_state_dict({name: stored[name].float() for name in _TENSORS})
    return model.to(pick_device(device)).eval(), tokenizer
