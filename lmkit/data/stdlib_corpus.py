"""Real English text that is already on every reader's machine: the Python standard library.

The docstrings of the standard library are a few megabytes of careful technical English, and its
source files are several times more of real code. Both are installed wherever Python is, so a
chapter can train a tokenizer or a small language model on them with no download at all.

We read the files and pull docstrings out with :mod:`ast`; we never *import* the modules,
because importing runs code (and some stdlib modules open windows, play sounds or start
servers when imported). Introduced in chapter 8 (pretraining data), also handy for training
tokenizers.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import sys
import sysconfig
import time
import tokenize
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from lmkit.errors import ConfigError

CorpusKind = Literal["docstrings", "source"]
KINDS: tuple[str, ...] = ("docstrings", "source")

# Folders we never enter: third-party code, test suites (huge, repetitive, and full of
# deliberately broken snippets), bytecode caches and bundled wheels.
SKIP_DIRS = frozenset(
    {
        "site-packages",
        "dist-packages",
        "test",
        "tests",
        "idle_test",
        "__pycache__",
        "_bundled",
    }
)
# Machine-specific generated file: build paths and compiler flags, not prose or real code.
SKIP_FILE_PREFIXES = ("_sysconfigdata_",)
# Separates one document (a docstring, or a source file) from the next.
DOC_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class CorpusStats:
    """What went into a stdlib corpus: which files were read, which were skipped, how big."""

    kind: str
    root: str
    files_read: int
    files_skipped: int
    documents: int  # docstrings found (kind="docstrings") or files used (kind="source")
    chars: int
    seconds: float  # time to build it (0.0 when it came from the disk cache)
    files: tuple[str, ...]  # paths relative to root, in the order they were read
    skipped: tuple[str, ...]  # relative paths that could not be decoded or parsed


@dataclass(frozen=True)
class StdlibCorpus:
    """A corpus built from the standard library, with its statistics."""

    text: str
    stats: CorpusStats


def stdlib_root() -> Path:
    """The folder holding this Python's standard library (``sysconfig``'s ``stdlib`` path)."""
    return Path(sysconfig.get_paths()["stdlib"])


def iter_stdlib_files(root: Path | None = None) -> list[Path]:
    """Every ``.py`` file of the standard library in a fixed (sorted) order, tests excluded."""
    root = stdlib_root() if root is None else Path(root)
    found: list[Path] = []
    for folder, dirnames, filenames in os.walk(root):
        # Sorting in place makes os.walk visit sub-folders in a fixed order on every machine.
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            if name.endswith(".py") and not name.startswith(SKIP_FILE_PREFIXES):
                found.append(Path(folder) / name)
    return found


def _read_python_file(path: Path) -> str:
    """Decode a source file the way Python does: honour its ``# -*- coding -*-`` line."""
    with tokenize.open(path) as handle:  # raises SyntaxError/UnicodeDecodeError if undecodable
        return handle.read()


def _docstrings_in_order(tree: ast.Module) -> list[str]:
    """Module, class and function docstrings in source order (outer before inner)."""
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=True)  # clean=True applies inspect.cleandoc
            if doc:
                found.append(doc)
        # Walk statements only (definitions can hide inside if/try/with blocks, e.g.
        # platform-specific code); expressions hold no docstrings.
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.stmt, ast.excepthandler)):
                visit(child)

    visit(tree)
    return found


def _build(kind: str, root: Path) -> StdlibCorpus:
    start = time.perf_counter()
    documents: list[str] = []
    read: list[str] = []
    skipped: list[str] = []
    for path in iter_stdlib_files(root):
        relative = path.relative_to(root).as_posix()
        try:
            source = _read_python_file(path)
            docs = _docstrings_in_order(ast.parse(source)) if kind == "docstrings" else None
        except (SyntaxError, UnicodeDecodeError, ValueError, OSError, RecursionError):
            skipped.append(relative)
            continue
        read.append(relative)
        if docs is None:
            if source.strip():
                documents.append(source.strip("\n"))
        else:
            documents.extend(docs)
    text = DOC_SEPARATOR.join(documents)
    stats = CorpusStats(
        kind=kind,
        root=str(root),
        files_read=len(read),
        files_skipped=len(skipped),
        documents=len(documents),
        chars=len(text),
        seconds=round(time.perf_counter() - start, 3),
        files=tuple(read),
        skipped=tuple(skipped),
    )
    return StdlibCorpus(text=text, stats=stats)


def _fingerprint(kind: str, root: Path) -> str:
    """Changes whenever the Python version or any stdlib file (name, size, mtime) changes."""
    digest = hashlib.sha256(f"{kind}|{sys.version}|{root}".encode())
    for path in iter_stdlib_files(root):
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _load_or_build(kind: str, root: Path, cache_dir: Path) -> StdlibCorpus:
    key = _fingerprint(kind, root)
    text_path = cache_dir / f"stdlib_{kind}_{key}.txt"
    stats_path = cache_dir / f"stdlib_{kind}_{key}.json"
    if text_path.is_file() and stats_path.is_file():
        try:
            text = text_path.read_text(encoding="utf-8")
            raw = json.loads(stats_path.read_text(encoding="utf-8"))
            raw.update(files=tuple(raw["files"]), skipped=tuple(raw["skipped"]), seconds=0.0)
            stats = CorpusStats(**raw)
            if stats.chars == len(text):
                return StdlibCorpus(text=text, stats=stats)
        except (OSError, ValueError, TypeError, KeyError):
            pass  # a damaged cache entry is simply rebuilt below
    corpus = _build(kind, root)
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Write to temporary names, then rename: a crash never leaves a half-written cache entry.
    for path, content in (
        (text_path, corpus.text),
        (stats_path, json.dumps(asdict(corpus.stats), indent=1)),
    ):
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_text(content, encoding="utf-8")
        os.replace(tmp, path)
    return corpus


@functools.lru_cache(maxsize=8)
def _cached(kind: str, root: str, cache_dir: str | None) -> StdlibCorpus:
    if cache_dir is None:
        return _build(kind, Path(root))
    return _load_or_build(kind, Path(root), Path(cache_dir))


def build_stdlib_corpus(
    kind: CorpusKind = "docstrings", *, cache_dir: str | Path | None = None
) -> StdlibCorpus:
    """Build (or fetch from cache) the stdlib corpus of ``kind`` and its :class:`CorpusStats`.

    ``kind="docstrings"``: every module, class and function docstring, cleaned with
    ``inspect.cleandoc`` and separated by blank lines. ``kind="source"``: every file's full text.
    The result is the same on every call for a given Python install; it is kept in memory, and
    also on disk under ``cache_dir`` when one is given (rebuilt if the stdlib changes).
    """
    if kind not in KINDS:
        raise ConfigError(f"kind must be one of {KINDS}, got {kind!r}.")
    if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
        raise ConfigError(f"cache_dir must be a path or None, got {type(cache_dir).__name__}.")
    root = stdlib_root()
    if not root.is_dir():
        raise ConfigError(
            f"The standard library folder {root} does not exist, so there is nothing to read. "
            "Use lmkit's built-in story world or review sets instead."
        )
    cache = None if cache_dir is None else str(Path(cache_dir).expanduser().resolve())
    return _cached(kind, str(root), cache)


def _check_max_chars(max_chars: int | None) -> None:
    if max_chars is None:
        return
    if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars <= 0:
        raise ConfigError(
            f"max_chars must be a positive integer or None (no limit), got {max_chars!r}."
        )


def stdlib_docstrings(max_chars: int | None = None, *, cache_dir: str | Path | None = None) -> str:
    """All docstrings of the installed standard library as one text (at most ``max_chars``).

    Introduced in chapter 8. See :func:`build_stdlib_corpus` for statistics and caching.
    """
    _check_max_chars(max_chars)
    text = build_stdlib_corpus("docstrings", cache_dir=cache_dir).text
    return text if max_chars is None else text[:max_chars]


def stdlib_source(max_chars: int | None = None, *, cache_dir: str | Path | None = None) -> str:
    """The source code of the installed standard library as one text (at most ``max_chars``).

    Introduced in chapter 8. See :func:`build_stdlib_corpus` for statistics and caching.
    """
    _check_max_chars(max_chars)
    text = build_stdlib_corpus("source", cache_dir=cache_dir).text
    return text if max_chars is None else text[:max_chars]


__all__ = [
    "CorpusStats",
    "StdlibCorpus",
    "build_stdlib_corpus",
    "iter_stdlib_files",
    "stdlib_docstrings",
    "stdlib_root",
    "stdlib_source",
]
