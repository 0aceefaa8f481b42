"""Classic public datasets, for readers with a network: download once, check, cache, parse.

lmkit works offline by default (the story world, the hand-written review sets and the standard
library corpus are built in). This module is the optional next step: TinyShakespeare, IMDB,
SST-2 and WikiText-2, each in one registry entry (:mod:`lmkit.data.remote_registry`) with its
URL(s), SHA-256, size, license and the built-in dataset to use instead when there is no network.
The archives are read by :mod:`lmkit.data.remote_formats`.

How a download works: stream to a temporary file next to the cache, hash while writing, compare
with the published SHA-256, then rename into place (a rename is atomic, so the cache never
holds half a file). An entry without a published checksum gets one recorded on its first
download (in a small JSON file beside it), and every later load is checked against that record.

Errors: an unreachable network raises :class:`~lmkit.errors.OfflineError`; anything wrong with
the file itself (HTTP error such as 404, wrong size, wrong checksum, damaged archive) raises
:class:`~lmkit.errors.CheckpointError` -- the lmkit class for "a file is missing or corrupted"
-- after deleting the bad file. Introduced in chapter 8; IMDB and SST-2 return in chapter 11.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from lmkit.data.remote_formats import load_with_hf, parse_imdb, parse_sst2, parse_text
from lmkit.data.remote_registry import REGISTRY, RemoteDataset
from lmkit.errors import CheckpointError, ConfigError, InputError, OfflineError

DEFAULT_TIMEOUT_S = 10.0
CHUNK_BYTES = 1 << 16


def list_datasets() -> list[str]:
    """Names accepted by :func:`download` and :func:`load_dataset`."""
    return sorted(REGISTRY)


def dataset_info(name: str) -> RemoteDataset:
    """The registry entry for ``name`` (raises :class:`InputError` naming the valid ones)."""
    if not isinstance(name, str) or name not in REGISTRY:
        raise InputError(f"Unknown dataset {name!r}. Known datasets: {', '.join(list_datasets())}.")
    return REGISTRY[name]


def default_cache_dir() -> Path:
    """``$LMKIT_CACHE/datasets`` if ``LMKIT_CACHE`` is set, else ``~/.cache/lmkit/datasets``."""
    root = os.environ.get("LMKIT_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "lmkit"
    return base / "datasets"


def dataset_urls(name: str, mirror: str | None = None) -> list[str]:
    """Where ``name`` is fetched from: ``<mirror>/<filename>`` if a mirror is set, else its URLs.

    The mirror comes from the argument, else the ``LMKIT_DATA_MIRROR`` environment variable.
    """
    entry = dataset_info(name)
    mirror = mirror if mirror is not None else os.environ.get("LMKIT_DATA_MIRROR") or None
    if mirror is None:
        return list(entry.urls)
    if not isinstance(mirror, str) or not mirror.startswith(("http://", "https://")):
        raise ConfigError(
            f"The data mirror must be an http:// or https:// URL, got {mirror!r}. "
            "Check the mirror argument or the LMKIT_DATA_MIRROR environment variable."
        )
    return [f"{mirror.rstrip('/')}/{entry.filename}"]


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256.json")


def _expected_sha256(entry: RemoteDataset, path: Path) -> str | None:
    """The published checksum, else the one recorded on the first download, else None."""
    if entry.sha256 is not None:
        return entry.sha256
    try:
        return json.loads(_record_path(path).read_text(encoding="utf-8"))["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _is_network_failure(exc: BaseException) -> bool:
    """True for "could not talk to the server" (DNS, refused, reset, timeout), not disk errors."""
    if isinstance(exc, urllib.error.HTTPError):
        return False
    # urlopen wraps every failure to connect (DNS, refused, TLS, connect timeout) in URLError.
    return isinstance(
        exc,
        (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException),
    )


def _stream_to(url: str, target: Path, entry: RemoteDataset, timeout: float, progress: bool) -> str:
    """Download ``url`` into ``target``; return its SHA-256. Raises urllib/socket errors."""
    from tqdm.auto import tqdm  # a core dependency; imported here to keep import time low

    request = urllib.request.Request(url, headers={"User-Agent": "lmkit"})
    digest = hashlib.sha256()
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else entry.size
        with (
            open(target, "wb") as out,
            tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=entry.filename,
                disable=not progress,
            ) as bar,
        ):
            while block := response.read(CHUNK_BYTES):
                out.write(block)
                digest.update(block)
                bar.update(len(block))
    return digest.hexdigest()


def download(
    name: str,
    *,
    cache_dir: str | Path | None = None,
    force: bool = False,
    progress: bool = True,
    mirror: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Path:
    """Download dataset ``name`` into the cache (once) and return the path of the checked file.

    A cached file is re-hashed on every call and must match the published SHA-256 (or the one
    recorded on its first download); ``force=True`` downloads again and, for an entry without a
    published checksum, records the new one. You may also copy the file into the cache by
    hand (same name) when the machine has no network: it is checked the same way.
    Introduced in chapter 8.
    """
    entry = dataset_info(name)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ConfigError(f"timeout must be a positive number of seconds, got {timeout!r}.")
    if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
        raise ConfigError(f"cache_dir must be a path or None, got {type(cache_dir).__name__}.")
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    path = folder / entry.filename
    urls = dataset_urls(name, mirror)

    if path.is_file() and not force:
        expected = _expected_sha256(entry, path)
        actual = _sha256_of(path)
        if expected is not None and actual != expected:
            path.unlink()
            raise CheckpointError(
                f"The cached file {path} for '{name}' is corrupted: its SHA-256 is {actual}, "
                f"expected {expected}. It has been deleted; call download('{name}') again to "
                "fetch a fresh copy."
            )
        if expected is None:  # copied in by hand, never checked: record it now
            _write_record(path, actual, urls[0])
        return path

    failures: list[str] = []
    network_down = True
    for url in urls:
        tmp = _new_temp_file(folder, entry.filename)
        try:
            actual = _stream_to(url, tmp, entry, float(timeout), progress)
        except urllib.error.HTTPError as exc:
            exc.close()
            tmp.unlink(missing_ok=True)
            failures.append(f"{url}: HTTP {exc.code} {exc.reason}")
            network_down = False
            continue
        except (OSError, http.client.HTTPException) as exc:
            tmp.unlink(missing_ok=True)
            if not _is_network_failure(exc):
                raise
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            failures.append(f"{url}: {reason or type(exc).__name__}")
            continue
        except BaseException:  # KeyboardInterrupt included: never leave a partial file behind
            tmp.unlink(missing_ok=True)
            raise
        _verify_download(entry, tmp, actual, url, force)
        os.replace(tmp, path)  # atomic: the cache holds the whole file or nothing
        _write_record(path, actual, url)
        return path

    tried = "; ".join(failures)
    if network_down:
        raise OfflineError(
            f"Could not download dataset '{name}': the network is not reachable ({tried}). "
            f"Use {entry.offline_alternative}, which needs no network, or copy "
            f"{entry.filename} into {folder} by hand."
        )
    raise CheckpointError(
        f"Could not download dataset '{name}': the server has no such file ({tried}). "
        "The file may have moved: set LMKIT_DATA_MIRROR (or pass mirror=...) to a server that "
        f"has {entry.filename}, or use {entry.offline_alternative} meanwhile."
    )


def _new_temp_file(folder: Path, filename: str) -> Path:
    """An empty temporary file in the cache folder (same file system, so the rename is atomic)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(dir=folder, prefix=filename + ".", suffix=".part")
    except OSError as exc:
        raise ConfigError(
            f"Cannot write to the dataset cache {folder} ({exc}). Pass cache_dir=... or set "
            "LMKIT_CACHE to a folder you can write to."
        ) from exc
    os.close(handle)
    return Path(tmp_name)


def _verify_download(entry: RemoteDataset, tmp: Path, actual: str, url: str, force: bool) -> None:
    """Check a fresh download against the published or recorded checksum; delete it if wrong."""
    size = tmp.stat().st_size
    final = tmp.parent / entry.filename
    expected = entry.sha256
    if expected is None and not force:
        expected = _expected_sha256(entry, final)
    if expected is not None and actual != expected:
        tmp.unlink(missing_ok=True)
        raise CheckpointError(
            f"The download of '{entry.name}' from {url} is corrupted or not the expected file: "
            f"SHA-256 {actual} ({size} bytes), expected {expected}"
            + (f" ({entry.size} bytes)" if entry.size else "")
            + ". The bad file was deleted. Try again; if it keeps happening the file changed "
            "upstream or a proxy altered it."
        )
    if expected is None:
        # No published checksum: report what we got so the reader can compare and pin it.
        print(
            f"lmkit: no published SHA-256 for '{entry.name}'; recorded {actual} ({size} bytes). "
            "Later loads are checked against it.",
            file=sys.stderr,
        )


def _write_record(path: Path, sha256: str, url: str) -> None:
    record = {"sha256": sha256, "size": path.stat().st_size, "url": url}
    tmp = _record_path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1), encoding="utf-8")
    os.replace(tmp, _record_path(path))


def load_dataset(
    name: str,
    split: str | None = None,
    *,
    cache_dir: str | Path | None = None,
    use_hf: bool = False,
    progress: bool = True,
    mirror: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> str | list[tuple[str, int]]:
    """Download (if needed) and parse dataset ``name``.

    Returns the text (``str``) for ``tinyshakespeare`` and ``wikitext2``, and a list of
    ``(text, label)`` pairs (1 = positive, 0 = negative) for ``imdb`` and ``sst2``. ``split``
    defaults to the first of ``dataset_info(name).splits``. SST-2's ``"test"`` is GLUE's dev set
    (GLUE's own test set has no labels). ``use_hf=True`` goes through the Hugging Face
    ``datasets`` package instead (if installed; it then uses its own cache). Introduced in
    chapter 8.
    """
    entry = dataset_info(name)
    split = entry.splits[0] if split is None else split
    if split not in entry.splits:
        raise InputError(
            f"Dataset '{name}' has splits {entry.splits}, got split={split!r}."
            + (" Slice the text yourself for a held-out part." if entry.splits == ("all",) else "")
        )
    if use_hf:
        return load_with_hf(entry, split, cache_dir)
    path = download(name, cache_dir=cache_dir, progress=progress, mirror=mirror, timeout=timeout)
    if entry.name == "imdb":
        return parse_imdb(path, split)
    if entry.name == "sst2":
        return parse_sst2(path, split)
    return parse_text(path, entry, split)


__all__ = [
    "REGISTRY",
    "RemoteDataset",
    "dataset_info",
    "dataset_urls",
    "default_cache_dir",
    "download",
    "list_datasets",
    "load_dataset",
]
