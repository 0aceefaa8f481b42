"""Read the story world's data files: word tables, sentence templates and plot settings.

The files live in ``lmkit/data/story_data/`` and are UTF-8: tab-separated tables whose first
line names the columns, plus a few JSON files for settings that are maps rather than tables.
Keeping the words out of the code means a new name or food is a one-line edit to a table;
the module that reads a table says what its columns mean. Each file is parsed once per
process (``functools.cache``), so the returned rows are shared: read them, never modify them.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from lmkit.errors import InputError

if TYPE_CHECKING:  # importlib.resources.abc is new in Python 3.11
    from importlib.resources.abc import Traversable


def _file(name: str) -> Traversable:
    path = resources.files("lmkit.data") / "story_data"
    for part in name.split("/"):  # one step at a time: zip-backed readers want single names
        path = path / part
    return path


@cache
def read_table(name: str) -> tuple[dict[str, str], ...]:
    """The rows of ``story_data/<name>.tsv``, each a dict from column name to cell text.

    Blank lines are skipped, and cells missing at the end of a line count as empty (editors
    often strip trailing tabs).
    """
    lines = _file(name + ".tsv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) > len(header):
            raise InputError(
                f"story_data/{name}.tsv, line {number}: {len(cells)} cells, but the header "
                f"names {len(header)} columns ({', '.join(header)})."
            )
        rows.append(dict(zip(header, cells + [""] * (len(header) - len(cells)), strict=True)))
    return tuple(rows)


@cache
def read_json(name: str) -> Any:
    """The parsed content of ``story_data/<name>.json``."""
    return json.loads(_file(name + ".json").read_text(encoding="utf-8"))


__all__ = ["read_json", "read_table"]
