"""One way to load any model: ``lmkit.load("tiny-gpt")``, a folder, or a Hugging Face name.

Introduced in chapter 9. :func:`load` looks at its argument in this order:

1. a **built-in name** from :data:`BUILTIN_MODELS` (``"tiny-gpt"``…): the files ship inside the
   package (``lmkit/weights/<name>/``), so this works offline;
2. a **local folder** written by lmkit: ``config.json`` + ``model.safetensors``
   (:func:`lmkit.training.checkpoint.save_model`) and ``tokenizer.json`` (``Tokenizer.save``);
3. a **Hugging Face hub name** such as ``"gpt2"`` (GPT-2 checkpoints only, through
   :func:`lmkit.gpt.interop.load_pretrained`); this needs the network or the local hub cache, and
   raises :class:`~lmkit.errors.OfflineError` naming the built-in models otherwise.

A name that is close to a built-in one (``"tiny-gtp"``) is taken as a typo, not sent to the hub.
Weights are only read from safetensors files and remote code is never run.

Adding a built-in model is one entry in :data:`BUILTIN_MODELS`; a model whose folder needs more
than the standard loader names its own ``loader`` (``"module:function"``, called with the folder
and the device, returning ``(model, tokenizer)``).
"""

from __future__ import annotations

import difflib
import errno
import importlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lmkit import safe_files
from lmkit.catalogue import BUILTIN_MODELS, MINILM, WEIGHTS_DIR, ModelInfo
from lmkit.device import pick_device
from lmkit.errors import CheckpointError, InputError, LmkitError, OfflineError
from lmkit.registry import KINDS, MODEL_TYPES, model_type_of
from lmkit.tokenizers import Tokenizer, load_tokenizer
from lmkit.training.checkpoint import load_model

CARD_FILE = "MODEL_CARD.md"
TOKENIZER_FILE = "tokenizer.json"
REQUIRED_FILES = ("config.json", "model.safetensors", TOKENIZER_FILE)


@dataclass
class LoadedModel:
    """What :func:`load` returns: the model (eval mode), its tokenizer, and what it is.

    ``card`` is the text of the folder's ``MODEL_CARD.md`` (``None`` if there is none);
    ``source`` is ``"builtin"``, ``"local"`` or ``"huggingface"``; ``path`` the folder read
    (``None`` for hub models).
    """

    model: nn.Module
    tokenizer: Tokenizer
    name: str
    kind: str
    card: str | None
    source: str = "local"
    path: Path | None = None

    def _require_causal(self) -> None:
        if self.kind != "causal-lm":
            raise InputError(
                f"{self.name!r} is a {self.kind} model; only causal-lm models generate text."
            )

    def prompt_ids(self, prompt: str, *, room: int | None = None) -> list[int]:
        """The ids this causal LM is conditioned on for ``prompt``: its end-of-text token (which
        preceded every text it was trained on), then the prompt, cut from the left to ``room``
        ids. Every page and notebook that prompts a built-in model goes through here."""
        self._require_causal()
        from lmkit.decoding.prompts import prompt_ids

        return prompt_ids(self.tokenizer, prompt, start_id=self.tokenizer.eos_id, room=room)

    def generate_text(self, prompt: str, **settings: Any) -> str:
        """Continue ``prompt`` (causal language models only), fed as :meth:`prompt_ids` builds
        it; settings go to :func:`lmkit.decoding.text.generate_text`, and generation stops at
        the tokenizer's end-of-text token unless ``eos_id`` is given."""
        self._require_causal()
        from lmkit.decoding.text import generate_text

        settings.setdefault("eos_id", self.tokenizer.eos_id)
        return generate_text(
            self.model, self.tokenizer, prompt, start_id=self.tokenizer.eos_id, **settings
        )


def available_models(kind: str | None = None) -> list[str]:
    """Names of the built-in models (of one ``kind``, e.g. ``"causal-lm"``), sorted."""
    if kind is not None and kind not in KINDS:
        raise InputError(f"kind must be None or one of {KINDS}, got {kind!r}.")
    return sorted(n for n, info in BUILTIN_MODELS.items() if kind in (None, info.kind))


def model_info(name: str) -> ModelInfo:
    """The :class:`ModelInfo` of a built-in model; an error listing them for any other name."""
    if name not in BUILTIN_MODELS:
        raise InputError(f"{name!r} is not a built-in model. {_builtin_list()}")
    return BUILTIN_MODELS[name]


def _builtin_list() -> str:
    names = ", ".join(f"{n} ({BUILTIN_MODELS[n].kind})" for n in available_models())
    return f"Built-in models (offline): {names}. See lmkit.hub.available_models()."


def load(
    name_or_path: str | os.PathLike, *, device: str | torch.device | None = None
) -> LoadedModel:
    """Load a built-in model, an lmkit model folder, or a Hugging Face GPT-2 by name.

    ``device=None`` picks the best available device (:func:`lmkit.device.pick_device`). A
    built-in name wins over a folder of the same name; write ``"./tiny-gpt"`` for the folder.
    Raises :class:`~lmkit.errors.CheckpointError` for a missing or damaged folder,
    :class:`~lmkit.errors.OfflineError` for a hub model without network, and
    :class:`~lmkit.errors.InputError` for a name that is none of these. Introduced in chapter 9.
    """
    if not isinstance(name_or_path, (str, os.PathLike)) or not str(name_or_path).strip():
        raise InputError(
            f"load() needs a model name or a folder path, got {name_or_path!r}. {_builtin_list()}"
        )
    target = pick_device(device)
    text = str(name_or_path).strip()
    if isinstance(name_or_path, str) and text in BUILTIN_MODELS:
        return _load_builtin(BUILTIN_MODELS[text], target)
    path = Path(text).expanduser()
    found = _probe(path)
    if found == "folder":
        entry = MODEL_TYPES.get(_peek_model_type(path) or "")
        loader = entry.loader if entry is not None else None
        model, tokenizer = (
            _call_loader(loader, path, target) if loader else _load_folder(path, target)
        )
        return LoadedModel(
            model, tokenizer, path.name, _kind_of(model), _read_card(path), "local", path
        )
    if found == "other":
        raise CheckpointError(
            f"{path} is a file; load() expects a model folder (config.json, model.safetensors, "
            "tokenizer.json), a built-in name or a hub name."
        )
    if _looks_like_path(text):
        raise CheckpointError(
            f"There is no folder {_shown(str(path))}. Check the path. {_builtin_list()}"
        )
    close = difflib.get_close_matches(text.lower(), list(BUILTIN_MODELS), n=1, cutoff=0.75)
    if close or not _HUB_ID.fullmatch(text) or len(text) > _HUB_ID_MAX:
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InputError(
            f"Unknown model {_shown(text)}: not a built-in model, a folder or a Hugging Face "
            f"model name.{hint} {_builtin_list()}"
        )
    return _load_hub(text, target)


def _shown(text: str) -> str:
    """``text`` quoted for a message, cut short if it is long."""
    return repr(text) if len(text) <= 100 else f"{text[:60]!r}… ({len(text)} characters)"


def _probe(path: Path) -> str | None:
    """``"folder"``, ``"other"`` (something that is not a folder) or ``None`` (nothing there,
    or a name the file system cannot even look up, such as one too long to be a path)."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            return None
        raise CheckpointError(f"Cannot look at {_shown(str(path))}: {exc.strerror}.") from exc
    return "folder" if stat.S_ISDIR(mode) else "other"


# Hub ids: "name" or "owner/name", letters, digits, "-", "_", "."; not starting with a dot;
# at most 96 characters, as the Hugging Face hub allows.
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
_HUB_ID_MAX = 96


def _looks_like_path(text: str) -> bool:
    return (
        text.startswith((".", "/", "~", "\\"))
        or text.count("/") > 1
        or "\\" in text
        or bool(re.match(r"[A-Za-z]:[\\/]", text))
    )


def _load_builtin(info: ModelInfo, device: torch.device) -> LoadedModel:
    folder = info.path
    if not folder.is_dir():
        rebuild = f", or rebuild them with: {info.recipe} --out {folder}" if info.recipe else ""
        raise CheckpointError(
            f"The files of the built-in model {info.name!r} are missing ({folder}); the lmkit "
            f"installation is incomplete. Reinstall lmkit{rebuild}."
        )
    if info.loader is not None:
        model, tokenizer = _call_loader(info.loader, folder, device)
    else:
        model, tokenizer = _load_folder(folder, device)
    return LoadedModel(
        model, tokenizer, info.name, info.kind, _read_card(folder), "builtin", folder
    )


def _call_loader(loader: str, folder: Path, device: torch.device) -> tuple[nn.Module, Tokenizer]:
    module, _, function = loader.partition(":")
    return getattr(importlib.import_module(module), function)(folder, device)


def _peek_model_type(folder: Path) -> str | None:
    """``model_type`` from the folder's config.json, or None if it cannot be read (the loader
    that runs next reports what is wrong)."""
    try:
        data = safe_files.read_json(folder / "config.json", "model config")
    except LmkitError:  # also FIFOs, devices and huge files: refused, never opened
        return None
    model_type = data.get("model_type") if isinstance(data, dict) else None
    return model_type if isinstance(model_type, str) else None


def _load_folder(folder: Path, device: torch.device) -> tuple[nn.Module, Tokenizer]:
    """Model and tokenizer from an lmkit folder; any problem becomes a CheckpointError."""
    missing = [name for name in REQUIRED_FILES if not (folder / name).exists()]
    if missing:
        raise CheckpointError(
            f"{folder} is not a complete lmkit model folder: {', '.join(missing)} missing. A "
            "model folder holds config.json + model.safetensors (lmkit.training.checkpoint.save_model) "
            "and tokenizer.json (tokenizer.save)."
        )
    for name in REQUIRED_FILES:  # a FIFO, a device, or a link to one is refused unopened
        safe_files.check_regular_file(folder / name, name)
    model = load_model(folder, map_location=device)  # raises CheckpointError itself
    try:
        tokenizer = load_tokenizer(folder / TOKENIZER_FILE)
    except LmkitError as exc:
        raise CheckpointError(f"The tokenizer of {folder} cannot be read: {exc}") from exc
    problems = _tokenizer_misfits(model, tokenizer)
    if problems:
        raise CheckpointError(
            f"{folder}: the tokenizer and the model do not belong together ("
            + "; ".join(problems)
            + "). Save the model and its tokenizer from the same run."
        )
    return model, tokenizer


def _tokenizer_misfits(model: nn.Module, tokenizer: Tokenizer) -> list[str]:
    """What keeps ``tokenizer`` from being ``model``'s, by the rules of its registry entry."""
    entry = MODEL_TYPES.get(model_type_of(model) or "")
    config = getattr(model, "config", None)
    vocab, size = getattr(config, "vocab_size", None), tokenizer.vocab_size
    problems = []
    if isinstance(vocab, int) and size > vocab:
        problems.append(f"the tokenizer has {size} tokens but the model only {vocab}")
    elif isinstance(vocab, int) and entry is not None and entry.exact_vocab and size != vocab:
        problems.append(f"a {entry.name} model needs one token per id: {size} tokens vs {vocab}")
    if entry is None:
        return problems
    specials = getattr(tokenizer, "special_tokens", {})
    lacking = [s for s in entry.tokenizer_specials if s not in specials]
    lacking += [f"a {r!r} token" for r in entry.tokenizer_roles if _role_id(tokenizer, r) is None]
    if lacking:
        problems.append(f"a {entry.name} model needs {', '.join(lacking)}, the tokenizer has not")
    pad = getattr(config, "pad_id", None)
    if "pad" in entry.tokenizer_roles and isinstance(pad, int):
        own = _role_id(tokenizer, "pad")
        if own is not None and own != pad:
            problems.append(f"the model's pad_id is {pad}, the tokenizer's padding id {own}")
    return problems


def _role_id(tokenizer: Tokenizer, role: str) -> int | None:
    value = getattr(tokenizer, f"{role}_id", None)
    return value if isinstance(value, int) else None


def _kind_of(model: nn.Module) -> str:
    kind = getattr(model, "kind", None)
    if isinstance(kind, str) and kind in KINDS:
        return kind
    entry = MODEL_TYPES.get(model_type_of(model) or "")
    return entry.kind if entry is not None else "unknown"


def _read_card(folder: Path) -> str | None:
    card = folder / CARD_FILE
    return safe_files.read_text(card, "model card") if card.is_file() else None


def _load_hub(name: str, device: torch.device) -> LoadedModel:
    from lmkit.gpt.interop import load_pretrained
    from lmkit.tokenizers import HFTokenizer

    try:
        model = load_pretrained(name, device=device)
        tokenizer = HFTokenizer.from_pretrained(name)
    except OfflineError as exc:
        raise OfflineError(f"{exc} {_builtin_list()}") from exc
    except CheckpointError as exc:
        raise CheckpointError(f"{exc} {_builtin_list()}") from exc
    card = f"{name}: a Hugging Face GPT-2 checkpoint, converted to lmkit's GPT."
    return LoadedModel(model, tokenizer, name, "causal-lm", card, "huggingface", None)


__all__ = [
    "BUILTIN_MODELS",
    "KINDS",
    "MINILM",
    "WEIGHTS_DIR",
    "LoadedModel",
    "ModelInfo",
    "available_models",
    "load",
    "model_info",
]
