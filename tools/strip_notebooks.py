#!/usr/bin/env python3
"""Strip outputs and per-run metadata from Jupyter notebooks, the way the book stores them.

The chapters are committed without outputs (tests/test_notebooks.py checks it). Readers run
`make lab`, which works on a copy, but a contributor who runs a chapter in place would commit
hundreds of kilobytes of outputs. Three ways to use this script (standard library only, no
network, any Python >= 3.8):

    python3 tools/strip_notebooks.py --stdin < in.ipynb > out.ipynb    # as a git clean filter
    python3 tools/strip_notebooks.py chapters                          # strip files in place
    python3 tools/strip_notebooks.py --check chapters                  # exit 1 if any need it

`make notebook-filter` registers the first as git's `filter.lmkit-notebooks.clean` for this
clone (.gitattributes applies it to chapters/**/*.ipynb): git then stores every chapter
stripped, whatever the working file holds, and `git status` ignores a mere Run All.

What is removed: code-cell outputs and execution counts; the cell metadata JupyterLab writes
while you work (execution timing, collapsed/scrolled, hidden inputs/outputs); saved widget
state; and the kernel details JupyterLab fills in when it opens a notebook (language_info
beyond its name, the kernelspec display name). Everything else, tags included, is kept. The
output is the nbformat layout (sorted keys, one-space indent, UTF-8, final newline), so a
notebook that is already stripped comes out byte for byte the same.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

TRANSIENT_CELL_METADATA = ("execution", "ExecuteTime", "collapsed", "scrolled", "jupyter")
# The kernelspec every chapter is stored with; JupyterLab rewrites its display name on opening.
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def strip(notebook: dict) -> dict:
    """Return ``notebook`` (an nbformat-4 dict) without outputs or per-run metadata."""
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        metadata = cell.get("metadata", {})
        for key in TRANSIENT_CELL_METADATA:
            metadata.pop(key, None)
    metadata = notebook.get("metadata", {})
    metadata.pop("widgets", None)
    language = metadata.get("language_info")
    if isinstance(language, dict) and "name" in language:
        metadata["language_info"] = {"name": language["name"]}
    kernelspec = metadata.get("kernelspec")
    if isinstance(kernelspec, dict) and kernelspec.get("name") == KERNELSPEC["name"]:
        metadata["kernelspec"] = dict(KERNELSPEC)
    return notebook


def dumps(notebook: dict) -> str:
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def strip_text(text: str) -> str:
    """Stripped notebook text; text that is not a notebook (a merge conflict) passes unchanged."""
    try:
        notebook = json.loads(text)
    except ValueError:
        return text
    if not isinstance(notebook, dict) or "cells" not in notebook:
        return text
    return dumps(strip(notebook))


def _notebooks(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        else:
            found.append(path)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="notebooks or folders of notebooks")
    parser.add_argument("--stdin", action="store_true", help="filter stdin to stdout (git)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if needed")
    args = parser.parse_args(argv)
    if args.stdin:
        data = sys.stdin.buffer.read().decode("utf-8")
        sys.stdout.buffer.write(strip_text(data).encode("utf-8"))
        return 0
    if not args.paths:
        parser.error("give notebooks or folders, or --stdin")
    dirty = []
    for path in _notebooks(args.paths):
        text = path.read_text(encoding="utf-8")
        stripped = strip_text(text)
        if stripped != text:
            dirty.append(path)
            if not args.check:
                with path.open("w", encoding="utf-8", newline="\n") as out:
                    out.write(stripped)
    verb = "need stripping" if args.check else "stripped"
    for path in dirty:
        print(f"{verb}: {path}")
    return 1 if args.check and dirty else 0


if __name__ == "__main__":
    sys.exit(main())
