"""The standard-library corpus: real, deterministic, built without importing anything."""

from __future__ import annotations

import inspect
import json
import json.decoder
import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from lmkit.data import stdlib_corpus
from lmkit.data.stdlib_corpus import (
    build_stdlib_corpus,
    iter_stdlib_files,
    stdlib_docstrings,
    stdlib_root,
    stdlib_source,
)
from lmkit.errors import ConfigError


@pytest.fixture(scope="module")
def docstrings():
    return build_stdlib_corpus("docstrings")


def test_docstring_corpus_is_large_and_counts_add_up(docstrings):
    stats = docstrings.stats
    assert stats.chars == len(docstrings.text) > 200_000
    assert stats.files_read > 100 and stats.documents > 1_000
    assert stats.files_read + stats.files_skipped == len(iter_stdlib_files())
    assert len(stats.files) == stats.files_read and len(stats.skipped) == stats.files_skipped


def test_contains_docstrings_found_independently_by_importing(docstrings):
    # The test imports these modules itself; the corpus must hold their cleaned docstrings.
    for obj in (
        json,
        json.decoder.JSONDecoder,
        json.decoder.JSONDecoder.raw_decode,
        textwrap.dedent,
    ):
        assert inspect.cleandoc(obj.__doc__) in docstrings.text, obj


def test_only_py_files_outside_tests_and_site_packages(docstrings):
    assert docstrings.stats.files
    for relative in docstrings.stats.files:
        parts = Path(relative).parts
        assert relative.endswith(".py"), relative
        assert not {"site-packages", "dist-packages", "test", "tests", "idle_test"} & set(parts)
    assert "json/__init__.py" in docstrings.stats.files


def test_building_imports_nothing():
    # Importing `antigravity` opens a web browser and `this` prints the Zen of Python, so
    # neither may have been imported merely by reading their docstrings and source.
    for name in ("antigravity", "this", "turtledemo.__main__"):
        assert name not in sys.modules, name
    build_stdlib_corpus("docstrings")
    build_stdlib_corpus("source")
    for name in ("antigravity", "this", "turtledemo.__main__"):
        assert name not in sys.modules, name


def test_source_corpus_contains_real_files_verbatim():
    corpus = build_stdlib_corpus("source")
    assert corpus.stats.chars == len(corpus.text) > 1_000_000
    for module in (json, textwrap):
        assert Path(module.__file__).read_text(encoding="utf-8").strip("\n") in corpus.text
    assert stdlib_source() == corpus.text


def test_deterministic_two_independent_builds_are_identical(tmp_path, monkeypatch):
    # Two fresh builds (no cache involved) over a copy of three real stdlib packages.
    root = tmp_path / "lib"
    for package in ("json", "email", "collections"):
        shutil.copytree(stdlib_root() / package, root / package)
    first = stdlib_corpus._build("docstrings", root)
    second = stdlib_corpus._build("docstrings", root)
    assert first.text == second.text and len(first.text) > 50_000
    assert first.stats.files == second.stats.files
    # The full source corpus is quick to rebuild, so check the real thing end to end too.
    real_root = stdlib_root()
    assert stdlib_corpus._build("source", real_root).text == build_stdlib_corpus("source").text


def test_file_order_does_not_depend_on_the_order_the_os_lists_files(monkeypatch):
    expected = iter_stdlib_files()
    real_walk = os.walk

    def reversed_walk(top, *args, **kwargs):
        for folder, dirnames, filenames in real_walk(top, *args, **kwargs):
            shuffled = list(reversed(dirnames))
            yield folder, shuffled, list(reversed(filenames))
            dirnames[:] = shuffled  # hand the caller's pruning back to the real walk

    monkeypatch.setattr(stdlib_corpus.os, "walk", reversed_walk)
    assert iter_stdlib_files() == expected


def test_disk_cache_is_reused(tmp_path, monkeypatch):
    first = build_stdlib_corpus("source", cache_dir=tmp_path)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert any(name.endswith(".txt") for name in written)
    assert any(name.endswith(".json") for name in written)

    def no_build(*args, **kwargs):
        raise AssertionError("the disk cache should have been used")

    monkeypatch.setattr(stdlib_corpus, "_build", no_build)
    # Straight to the disk layer, bypassing (without clearing) the in-memory cache.
    again = stdlib_corpus._load_or_build("source", stdlib_root(), tmp_path)
    assert again.text == first.text
    assert again.stats.files == first.stats.files
    # A damaged cache entry is rebuilt, not trusted.
    for path in tmp_path.glob("*.txt"):
        path.write_text("garbage", encoding="utf-8")
    monkeypatch.undo()
    rebuilt = stdlib_corpus._load_or_build("source", stdlib_root(), tmp_path)
    assert rebuilt.text == first.text


def test_max_chars_is_respected(docstrings):
    for limit in (1, 1_000, 54_321):
        text = stdlib_docstrings(max_chars=limit)
        assert len(text) == limit and docstrings.text.startswith(text)
    assert len(stdlib_source(max_chars=777)) == 777
    assert stdlib_docstrings(max_chars=10**12) == docstrings.text


@pytest.mark.parametrize("bad", [0, -5, 1.5, True, "100"])
def test_bad_max_chars(bad):
    with pytest.raises(ConfigError, match="max_chars must be a positive integer"):
        stdlib_docstrings(max_chars=bad)
    with pytest.raises(ConfigError, match="max_chars must be a positive integer"):
        stdlib_source(max_chars=bad)


def test_bad_kind_and_cache_dir():
    with pytest.raises(ConfigError, match="kind must be one of"):
        build_stdlib_corpus("comments")
    with pytest.raises(ConfigError, match="cache_dir must be a path"):
        build_stdlib_corpus("docstrings", cache_dir=42)


def test_missing_stdlib_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(stdlib_corpus, "stdlib_root", lambda: tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="does not exist"):
        stdlib_docstrings()


GOOD = '''"""Module doc."""

import sys


class Box:
    """Box doc.

        Indented detail.
    """

    def open(self):
        """Open doc."""


if sys.platform:
    def hidden():
        """Hidden doc."""


def last():
    """Last doc."""
'''


def test_fake_stdlib_skips_bad_files_and_walks_in_source_order(tmp_path, monkeypatch):
    root = tmp_path / "lib"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "good.py").write_text(GOOD)
    (root / "broken_syntax.py").write_text('"""Broken doc."""\ndef f(:\n')
    (root / "latin.py").write_bytes(b'# -*- coding: utf-8 -*-\n"""caf\xe9"""\n')
    for skipped_dir in ("test", "site-packages", "__pycache__", "idle_test"):
        (root / skipped_dir).mkdir()
        (root / skipped_dir / "inside.py").write_text('"""Never seen."""\n')
    (root / "notes.txt").write_text('"""Not python."""\n')
    (root / "_sysconfigdata__fake.py").write_text('"""Generated."""\n')
    monkeypatch.setattr(stdlib_corpus, "stdlib_root", lambda: root)

    corpus = build_stdlib_corpus("docstrings")
    assert corpus.stats.files == ("pkg/good.py",)
    assert sorted(corpus.stats.skipped) == ["broken_syntax.py", "latin.py"]
    expected = ["Module doc.", inspect.cleandoc(GOOD.split('"""')[3]), "Open doc.", "Hidden doc."]
    expected.append("Last doc.")
    assert corpus.text == "\n\n".join(expected)
    # The source corpus needs decoding only, so a file with a syntax error still counts.
    source = build_stdlib_corpus("source")
    assert source.stats.skipped == ("latin.py",)
    assert "def f(:" in source.text and "Never seen" not in source.text
