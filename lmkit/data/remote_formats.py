"""Reading the downloaded datasets: the IMDB tarball, the SST-2 and WikiText-2 zips, plain text.

Archives are read in place (nothing is extracted to disk). A file that cannot be read raises
:class:`~lmkit.errors.CheckpointError`, lmkit's class for "a file is missing or corrupted",
naming the way to fetch it again. :func:`load_with_hf` goes through the Hugging Face
``datasets`` package instead and returns the same shapes. Used by
:func:`lmkit.data.remote.load_dataset`.
"""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

from lmkit._optional import require
from lmkit.data.remote_registry import RemoteDataset
from lmkit.errors import CheckpointError, ConfigError


def _corrupt(path: Path, name: str, what: str) -> CheckpointError:
    return CheckpointError(
        f"{path} (dataset '{name}') could not be read: {what}. Delete it, or call "
        f"download('{name}', force=True) to fetch it again."
    )


def parse_imdb(path: Path, split: str) -> list[tuple[str, int]]:
    """The labelled reviews of ``split`` ("train" or "test"), in a fixed order (by path)."""
    examples: list[tuple[str, str, int]] = []
    labels = {"pos": 1, "neg": 0}
    try:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:  # streamed; nothing is extracted to disk
                parts = member.name.split("/")
                # aclImdb/<split>/<pos|neg>/<id>_<rating>.txt ("unsup" has no label: skipped)
                if (
                    member.isfile()
                    and len(parts) == 4
                    and parts[1] == split
                    and parts[2] in labels
                    and parts[3].endswith(".txt")
                ):
                    raw = archive.extractfile(member)
                    text = raw.read().decode("utf-8") if raw is not None else ""
                    examples.append((member.name, text.replace("<br />", "\n"), labels[parts[2]]))
    except (tarfile.TarError, OSError, EOFError, UnicodeDecodeError) as exc:
        raise _corrupt(path, "imdb", str(exc)) from exc
    if not examples:
        raise _corrupt(path, "imdb", f"no aclImdb/{split}/pos|neg/*.txt reviews inside")
    examples.sort()  # archive order is not guaranteed; sorting by path makes it fixed
    return [(text, label) for _, text, label in examples]


def _read_zip_member(path: Path, name: str, member: str) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.read(member).decode("utf-8")
    except KeyError as exc:
        raise _corrupt(path, name, f"it has no member {member}") from exc
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError) as exc:
        raise _corrupt(path, name, str(exc)) from exc


def parse_sst2(path: Path, split: str) -> list[tuple[str, int]]:
    """The labelled sentences of ``split``; "test" is GLUE's dev set (its test has no labels)."""
    member = "SST-2/train.tsv" if split == "train" else "SST-2/dev.tsv"
    lines = _read_zip_member(path, "sst2", member).splitlines()
    if not lines or lines[0].split("\t") != ["sentence", "label"]:
        raise _corrupt(path, "sst2", f"{member} does not start with the header 'sentence\\tlabel'")
    examples = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        text, _, label = line.rpartition("\t")
        if label not in ("0", "1") or not text:
            raise _corrupt(path, "sst2", f"{member} line {number} is not 'sentence<TAB>0|1'")
        examples.append((text.strip(), int(label)))
    return examples


def parse_text(path: Path, entry: RemoteDataset, split: str) -> str:
    """The text of one WikiText-2 split, or of a whole plain-text file."""
    if entry.name == "wikitext2":
        member = {"train": "train", "validation": "valid", "test": "test"}[split]
        return _read_zip_member(path, entry.name, f"wikitext-2-raw/wiki.{member}.raw")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _corrupt(path, entry.name, str(exc)) from exc


def load_with_hf(entry: RemoteDataset, split: str, cache_dir: str | Path | None):
    """``split`` of ``entry`` through Hugging Face ``datasets``, as load_dataset returns it."""
    if entry.hf_path is None:
        raise ConfigError(
            f"'{entry.name}' has no Hugging Face datasets version registered; "
            "call load_dataset without use_hf=True."
        )
    hf_datasets = require("datasets", f"load '{entry.name}' through Hugging Face datasets")
    hf_split = {"validation": "validation", "test": "test", "train": "train"}[split]
    if entry.name == "sst2" and split == "test":
        hf_split = "validation"  # same convention as the direct download: GLUE dev = our test
    repo, config = entry.hf_path
    table = hf_datasets.load_dataset(
        repo, config, split=hf_split, cache_dir=None if cache_dir is None else str(cache_dir)
    )
    if entry.kind == "text":
        return "".join(table["text"])  # WikiText rows are lines that keep their "\n"
    column = "sentence" if "sentence" in table.column_names else "text"
    return [(str(t), int(y)) for t, y in zip(table[column], table["label"], strict=True)]


__all__ = ["load_with_hf", "parse_imdb", "parse_sst2", "parse_text"]
