"""Reading files lmkit did not just write: regular files only, bounded in size, clear errors.

Every loader that reads a ``config.json``, ``state.json``, ``tokenizer.json`` or model card goes
through here, so that a hostile or broken file ends in an :class:`~lmkit.errors.LmkitError` that
says what is wrong, never in a hang or a crash:

- only **regular files** are opened: a FIFO (which would block forever), a device such as
  ``/dev/zero`` (endless) or a folder is refused *before* it is opened; a symbolic link is
  followed only to a regular file;
- files are **bounded**: one larger than ``max_bytes`` is refused without being read (JSON
  configs and tokenizers default to :data:`MAX_JSON_BYTES`; the biggest shipped tokenizer is
  about 31 KB);
- JSON nested too deeply for Python's parser (``RecursionError``) is a damaged file like any
  other syntax error.

Introduced in chapter 8, with checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

from lmkit.errors import CheckpointError, LmkitError

__all__ = [
    "MAX_JSON_BYTES",
    "MAX_TEXT_BYTES",
    "check_regular_file",
    "read_json",
    "read_text",
    "sha256_file",
    "verify_sha256",
]

MAX_JSON_BYTES = 50 * 2**20  # 50 MB: far above any config or tokenizer lmkit writes
MAX_TEXT_BYTES = 10 * 2**20  # model cards and other small text files

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _refuse_non_regular(path: Path, mode: int, what: str, error: type[LmkitError]) -> None:
    if not stat.S_ISREG(mode):
        raise error(
            f"{path} is {_kind(mode)}, not a regular file; refusing to read it as the {what}. "
            "Replace it with the real file."
        )


def check_regular_file(
    path: str | os.PathLike,
    what: str,
    *,
    error: type[LmkitError] = CheckpointError,
    missing: str | None = None,
    max_bytes: int | None = None,
) -> int:
    """The size of ``path`` if it is a regular file (links followed) of at most ``max_bytes``.

    Nothing is opened. ``missing`` replaces the message for a file that does not exist.
    """
    path = Path(path)
    try:
        info = os.stat(path)  # follows symbolic links: a link to a regular file is fine
    except (FileNotFoundError, NotADirectoryError):
        raise error(missing or f"Missing {what}: {path} does not exist.") from None
    except (OSError, ValueError) as exc:  # ENAMETOOLONG, ELOOP, EACCES, NUL in the name…
        reason = getattr(exc, "strerror", None) or str(exc)
        raise error(f"Cannot read the {what} at {_short(path)}: {reason}. Check the path.") from exc
    _refuse_non_regular(path, info.st_mode, what, error)
    if max_bytes is not None and info.st_size > max_bytes:
        raise error(
            f"{path} is {info.st_size:,} bytes, more than the {max_bytes:,} bytes a {what} may "
            "have; it is not a file lmkit wrote. Replace it with the real file."
        )
    return info.st_size


def _read_bytes(path: Path, what: str, max_bytes: int, error: type[LmkitError]) -> bytes:
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)  # non-blocking: a FIFO swapped in since the check won't hang
    except OSError as exc:
        raise error(f"Cannot open the {what} {path}: {exc.strerror}.") from exc
    with os.fdopen(fd, "rb") as handle:
        _refuse_non_regular(path, os.fstat(handle.fileno()).st_mode, what, error)
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise error(f"{path} grew past {max_bytes:,} bytes while being read; refusing it.")
    return data


def read_text(
    path: str | os.PathLike,
    what: str,
    *,
    max_bytes: int = MAX_TEXT_BYTES,
    error: type[LmkitError] = CheckpointError,
    missing: str | None = None,
) -> str:
    """The UTF-8 text of a regular file of at most ``max_bytes`` (else ``error``)."""
    path = Path(path)
    check_regular_file(path, what, error=error, missing=missing, max_bytes=max_bytes)
    try:
        return _read_bytes(path, what, max_bytes, error).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path} is not UTF-8 text ({exc}); the {what} is damaged.") from exc


def read_json(
    path: str | os.PathLike,
    what: str,
    *,
    max_bytes: int = MAX_JSON_BYTES,
    error: type[LmkitError] = CheckpointError,
    missing: str | None = None,
    fix: str = "The file is damaged; save it again.",
) -> Any:
    """The parsed JSON of a regular file of at most ``max_bytes``; any problem is ``error``.

    ``fix`` ends the message for a file that is not valid JSON.
    """
    path = Path(path)
    check_regular_file(path, what, error=error, missing=missing, max_bytes=max_bytes)
    try:
        return json.loads(_read_bytes(path, what, max_bytes, error).decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise error(f"{path} is not valid JSON (not UTF-8 text: {exc}). {fix}") from exc
    except json.JSONDecodeError as exc:
        raise error(f"{path} is not valid JSON ({exc}). {fix}") from exc
    except RecursionError as exc:
        raise error(f"{path} is not valid JSON (nested too deeply to parse). {fix}") from exc


def read_config(folder: Path, keys: tuple[str, ...], what: str, writer: str) -> dict[str, Any]:
    """``folder/config.json`` as a dict holding every one of ``keys``, else a CheckpointError.

    ``writer`` names the function that writes such folders, so the message says how to fix it.
    """
    try:
        config = read_json(folder / "config.json", what)
    except LmkitError as exc:
        raise CheckpointError(f"{folder}: the {what} cannot be read: {exc}") from exc
    missing = [k for k in keys if not isinstance(config, dict) or k not in config]
    if missing:
        raise CheckpointError(
            f"{folder}/config.json is not a {what}: {', '.join(missing)} missing. "
            f"Write the folder with {writer}."
        )
    return config


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(2**20):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: object, what: str) -> None:
    """Raise :class:`CheckpointError` unless ``path``'s SHA-256 is ``expected``."""
    check_regular_file(path, what)
    actual = sha256_file(path)
    if actual != expected:
        raise CheckpointError(
            f"{path} has changed since it was saved: its SHA-256 is {actual[:12]}…, the one "
            f"recorded at save time {str(expected)[:12]}…. The file is damaged or was replaced; "
            "use an earlier copy (or save it again)."
        )


def _short(path: Path) -> str:
    text = str(path)
    return text if len(text) <= 120 else f"{text[:80]}… ({len(text)} characters)"
