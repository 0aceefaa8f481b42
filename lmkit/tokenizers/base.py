"""What every lmkit tokenizer can do, and the JSON file format they share.

Introduced in chapter 2. A tokenizer turns text into a list of integer ids and back. The
concrete tokenizers (:class:`~lmkit.tokenizers.char.CharTokenizer`,
:class:`~lmkit.tokenizers.bpe.ByteBPETokenizer`, :class:`~lmkit.tokenizers.hf.HFTokenizer`)
only say how to encode ordinary text and how to describe themselves as a JSON object; this
module adds the rest: special tokens, batches, display pieces, saving and loading.

Special tokens (``"<|endoftext|>"``, ``"<unk>"``…) are never produced by accident. ``encode``
looks for their text only when ``allowed_special`` lets it:

- ``"none"`` (the default): their text is ordinary text, e.g. ``"<|endoftext|>"`` typed by a
  user is encoded character by character (or byte by byte), never as the special id. This is
  the safe choice for untrusted text.
- ``"all"``: every special token's text becomes its id.
- a set of names, e.g. ``{"<|endoftext|>"}``: only those.
- ``"none_raise"``: raise :class:`TokenizerError` if any special token's text appears.
"""

from __future__ import annotations

import json
import operator
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from lmkit.errors import ConfigError, InputError, TokenizerError
from lmkit.validators import is_int

FORMAT_VERSION = 1

# Conventional spellings of the four special roles; a tokenizer whose special tokens use one of
# these names gets the role without being told. Explicit ``roles`` always win.
ROLE_CONVENTIONS: dict[str, tuple[str, ...]] = {
    "bos": ("<|bos|>", "<bos>", "<s>", "<|startoftext|>", "[BOS]"),
    "eos": ("<|endoftext|>", "<|eos|>", "<eos>", "</s>", "[EOS]"),
    "pad": ("<|pad|>", "<pad>", "[PAD]"),
    "unk": ("<|unk|>", "<unk>", "[UNK]"),
}

AllowedSpecial = str | Iterable[str]


def normalize_special_tokens(
    special_tokens: Iterable[str] | Mapping[str, int] | None, first_id: int
) -> dict[str, int]:
    """Give special tokens consecutive ids starting at ``first_id``.

    A list keeps its order. A dict must already use exactly the ids ``first_id, first_id+1, …``
    (any order), so that a tokenizer's ids never have holes.
    """
    if special_tokens is None:
        return {}
    if isinstance(special_tokens, str):
        raise ConfigError(
            f"special_tokens must be a list of strings, not the single string {special_tokens!r};"
            f" write [{special_tokens!r}]."
        )
    if isinstance(special_tokens, Mapping):
        names = sorted(special_tokens, key=special_tokens.__getitem__)
        expected = list(range(first_id, first_id + len(names)))
        if sorted(special_tokens.values()) != expected:
            raise ConfigError(
                f"Special token ids must be consecutive after the ordinary vocabulary "
                f"({first_id}…{first_id + len(names) - 1}), got {dict(special_tokens)}. "
                "Pass a list of names and the ids are assigned for you."
            )
    else:
        names = list(special_tokens)
    for name in names:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"Every special token must be a non-empty string, got {name!r}.")
    if len(set(names)) != len(names):
        raise ConfigError(f"Special tokens must be distinct, got {names}.")
    return {name: first_id + k for k, name in enumerate(names)}


def infer_roles(special_tokens: Mapping[str, int]) -> dict[str, str]:
    """Map ``bos``/``eos``/``pad``/``unk`` to the special token with a conventional name."""
    roles = {}
    for role, names in ROLE_CONVENTIONS.items():
        found = next((name for name in names if name in special_tokens), None)
        if found is not None:
            roles[role] = found
    return roles


class Tokenizer(ABC):
    """Text ⇄ ids, plus the special tokens, display pieces and a JSON file format.

    Subclasses set ``type_name`` (the ``"type"`` field of the saved file) and implement
    :meth:`_encode_ordinary`, :meth:`decode`, :meth:`id_to_token`, :meth:`token_to_id`,
    :attr:`vocab_size`, :meth:`_state` and :meth:`_from_state`.
    """

    type_name: ClassVar[str] = ""
    _registry: ClassVar[dict[str, type[Tokenizer]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Only a class that names its own type registers: a subclass that merely inherits a
        # type_name (a test's or a notebook's tweak) must not take over loading of that type.
        if cls.__dict__.get("type_name"):
            Tokenizer._registry[cls.type_name] = cls

    def __init__(
        self,
        special_tokens: Mapping[str, int] | None = None,
        roles: Mapping[str, str] | None = None,
    ) -> None:
        self.special_tokens: dict[str, int] = dict(special_tokens or {})
        self.roles: dict[str, str] = infer_roles(self.special_tokens)
        for role, name in (roles or {}).items():
            if role not in ROLE_CONVENTIONS:
                raise ConfigError(f"Unknown role {role!r}; roles are {list(ROLE_CONVENTIONS)}.")
            if name not in self.special_tokens:
                raise ConfigError(f"Role {role!r} names {name!r}, which is not a special token.")
            self.roles[role] = name
        self._special_pattern_cache: dict[frozenset[str], re.Pattern[str]] = {}

    # ----- what subclasses provide -----------------------------------------------------------

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of ids, special tokens included (ids are ``0 … vocab_size - 1``)."""

    @abstractmethod
    def _encode_ordinary(self, text: str) -> list[int]:
        """Encode text in which special tokens have no special meaning."""

    @abstractmethod
    def decode(self, ids: Iterable[int]) -> str:
        """Turn ids back into text; an id outside the vocabulary raises TokenizerError."""

    @abstractmethod
    def id_to_token(self, token_id: int) -> str:
        """A readable form of one token (what the app shows in a coloured box)."""

    @abstractmethod
    def token_to_id(self, token: str) -> int:
        """The id of a token given in the form :meth:`id_to_token` shows."""

    @abstractmethod
    def _state(self, path: Path) -> dict[str, Any]:
        """The JSON-ready fields (besides type and version) that describe this tokenizer."""

    @classmethod
    @abstractmethod
    def _from_state(cls, state: dict[str, Any], path: Path) -> Tokenizer:
        """Rebuild a tokenizer from :meth:`_state`'s fields; may raise KeyError/ValueError."""

    # ----- encoding and decoding -------------------------------------------------------------

    def encode(self, text: str, *, allowed_special: AllowedSpecial = "none") -> list[int]:
        """Text → ids. See the module docstring for ``allowed_special``."""
        ids: list[int] = []
        for segment, special_id in self.split_special(text, allowed_special):
            if special_id is None:
                ids.extend(self._encode_ordinary(segment))
            else:
                ids.append(special_id)
        return ids

    def encode_batch(
        self, texts: Iterable[str], *, allowed_special: AllowedSpecial = "none"
    ) -> list[list[int]]:
        if isinstance(texts, str):
            raise InputError("encode_batch expects a list of strings; use encode() for one string.")
        return [self.encode(text, allowed_special=allowed_special) for text in texts]

    def decode_batch(self, batch: Iterable[Iterable[int]]) -> list[str]:
        return [self.decode(ids) for ids in batch]

    def tokenize(self, text: str, *, allowed_special: AllowedSpecial = "none") -> list[str]:
        """The display piece of every token of ``text``; one piece per id of :meth:`encode`."""
        return [self.id_to_token(i) for i in self.encode(text, allowed_special=allowed_special)]

    def split_special(
        self, text: str, allowed_special: AllowedSpecial = "none"
    ) -> list[tuple[str, int | None]]:
        """Cut ``text`` at the allowed special tokens: ``[(piece, special_id or None), …]``."""
        if not isinstance(text, str):
            raise InputError(f"Expected text as a str, got {type(text).__name__}.")
        allowed = self._allowed_set(allowed_special)
        if allowed_special == "none_raise":
            found = sorted(name for name in self.special_tokens if name in text)
            if found:
                raise TokenizerError(
                    f"The text contains special token text {found}, which allowed_special="
                    "'none_raise' forbids. Pass allowed_special='all' to encode them as special "
                    "tokens, or 'none' to encode them as ordinary text."
                )
        if not allowed or not text:
            return [(text, None)] if text else []
        pattern = self._special_pattern_cache.get(allowed)
        if pattern is None:
            # Longest first, so "<|end|>" cannot steal the start of "<|endoftext|>".
            alternatives = sorted(allowed, key=len, reverse=True)
            pattern = re.compile("(" + "|".join(map(re.escape, alternatives)) + ")")
            self._special_pattern_cache[allowed] = pattern
        pieces = pattern.split(text)
        # re.split with one capturing group alternates: ordinary, special, ordinary, …
        return [
            (piece, self.special_tokens[piece] if k % 2 else None)
            for k, piece in enumerate(pieces)
            if piece
        ]

    def _allowed_set(self, allowed_special: AllowedSpecial) -> frozenset[str]:
        if allowed_special in ("none", "none_raise"):
            return frozenset()
        if allowed_special == "all":
            return frozenset(self.special_tokens)
        if isinstance(allowed_special, str) or not isinstance(allowed_special, Iterable):
            raise ConfigError(
                f"allowed_special must be 'none', 'none_raise', 'all' or a set of special token "
                f"names, got {allowed_special!r}."
            )
        allowed = frozenset(allowed_special)
        unknown = sorted(allowed - self.special_tokens.keys())
        if unknown:
            raise TokenizerError(
                f"allowed_special names {unknown}, which are not special tokens of this "
                f"tokenizer; its special tokens are {sorted(self.special_tokens)}."
            )
        return allowed

    def _check_ids(self, ids: Iterable[int] | Any) -> list[int]:
        """Ids as a list of Python ints, each inside the vocabulary (tensors/arrays welcome)."""
        if hasattr(ids, "tolist"):  # torch tensors and numpy arrays
            ids = ids.tolist()
        if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
            raise TokenizerError(f"Expected a sequence of token ids, got {type(ids).__name__}.")
        try:
            ids = [operator.index(i) for i in ids]
        except TypeError as exc:
            raise TokenizerError(f"Token ids must be integers ({exc}).") from exc
        size = self.vocab_size
        if ids and (min(ids) < 0 or max(ids) >= size):
            bad = next(i for i in ids if not 0 <= i < size)
            raise TokenizerError(
                f"Token id {bad} does not exist: this tokenizer's ids are 0 … {size - 1}. "
                "Were these ids made by a different tokenizer?"
            )
        return ids

    # ----- special roles ---------------------------------------------------------------------

    def _role_id(self, role: str) -> int | None:
        name = self.roles.get(role)
        return None if name is None else self.special_tokens[name]

    @property
    def bos_id(self) -> int | None:
        return self._role_id("bos")

    @property
    def eos_id(self) -> int | None:
        return self._role_id("eos")

    @property
    def pad_id(self) -> int | None:
        return self._role_id("pad")

    @property
    def unk_id(self) -> int | None:
        return self._role_id("unk")

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        specials = f", special_tokens={self.special_tokens}" if self.special_tokens else ""
        return f"{type(self).__name__}(vocab_size={self.vocab_size}{specials})"

    # ----- files -----------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the tokenizer as UTF-8 JSON with ``"type"`` and ``"format_version"`` fields."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"type": self.type_name, "format_version": FORMAT_VERSION, **self._state(path)}
        # One top-level field per line keeps long merge lists from filling thousands of lines.
        lines = [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in data.items()]
        path.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        """Read a file written by :meth:`save`. ``Tokenizer.load`` accepts any type."""
        path = Path(path)
        data = read_tokenizer_file(path)
        kind = data["type"]
        target = Tokenizer._registry.get(kind)
        if target is None:
            raise TokenizerError(
                f"{path} holds a tokenizer of unknown type {kind!r}; lmkit knows "
                f"{sorted(Tokenizer._registry)}."
            )
        if cls is not Tokenizer and issubclass(cls, target):
            target = cls  # a subclass of the file's type (a tweak) loads as itself
        elif cls is not Tokenizer and not issubclass(target, cls):
            raise TokenizerError(
                f"{path} holds a {kind!r} tokenizer, not a {cls.type_name!r} one. "
                "Use lmkit.tokenizers.load_tokenizer(path), which loads any type."
            )
        try:
            return target._from_state(data, path)
        except TokenizerError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise TokenizerError(
                f"{path} is not a valid {kind!r} tokenizer file ({type(exc).__name__}: {exc}). "
                "It may be damaged or edited by hand; save the tokenizer again."
            ) from exc


def read_tokenizer_file(path: Path) -> dict[str, Any]:
    """Parse and sanity-check the envelope (JSON object, type, version) of a tokenizer file.

    The file must be a regular file (not a FIFO or a device) of at most 50 MB; see
    :mod:`lmkit.safe_files`.
    """
    from lmkit.safe_files import read_json

    data = read_json(
        path,
        "tokenizer file",
        error=TokenizerError,
        missing=f"No tokenizer file at {path}. Check the path, or save one first.",
        fix="It is not a JSON tokenizer file: it may be damaged or a different kind of file; "
        "save the tokenizer again.",
    )
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise TokenizerError(
            f'{path} is JSON but not an lmkit tokenizer file (no "type" field). Files from '
            "other libraries load through HFTokenizer.from_pretrained(directory)."
        )
    version = data.get("format_version")
    if not is_int(version):
        raise TokenizerError(f'{path} has no valid "format_version" field; save it again.')
    if version > FORMAT_VERSION:
        raise TokenizerError(
            f"{path} uses tokenizer format {version}, newer than this lmkit understands "
            f"({FORMAT_VERSION}). Upgrade lmkit."
        )
    return data
