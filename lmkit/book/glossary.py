"""One bilingual glossary (English ↔ 中文) merged from every chapter's Key-terms table.

Each chapter ends with a markdown table under a heading "Key terms · 术语对照" whose columns are
English, 中文 and a one-line gloss. The chapters are the one source of truth: this module parses
those tables, merges them, and reports *conflicts* — the same English term given two different
Chinese translations in two places. The appendix renders the merged glossary. Introduced in the
appendix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lmkit.errors import InputError

HEADING = "Key terms · 术语对照"
_ROW = re.compile(r"^\s*\|(.+)\|\s*$")
_RULE = re.compile(r"^\s*\|?\s*:?-{3,}")


@dataclass(frozen=True)
class Term:
    """One row of a Key-terms table, and the chapter (notebook stem) it came from."""

    english: str
    chinese: str
    gloss: str
    chapter: str

    @property
    def key(self) -> str:
        """The English term as compared across chapters: case, backticks and spacing ignored."""
        return " ".join(self.english.replace("`", "").lower().split())


@dataclass
class Entry:
    """A merged glossary entry: one English term and every translation the chapters give it."""

    english: str
    chinese: str
    gloss: str
    chapters: list[str] = field(default_factory=list)
    translations: dict[str, list[str]] = field(default_factory=dict)  # 中文 -> chapters

    @property
    def is_conflict(self) -> bool:
        return len(self.translations) > 1


def _normalise_chinese(text: str) -> str:
    # Full-width and half-width brackets and spaces are the same translation.
    text = text.replace("（", "(").replace("）", ")")
    text = re.sub(r"\s*\(\s*", "(", re.sub(r"\s*\)", ")", text))
    return " ".join(text.split())


def _split_cells(row: str) -> list[str]:
    """Split a table row on its column bars; a bar inside `code` (`<|endoftext|>`) is text."""
    cells, current, in_code = [], [], False
    for char in row:
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code:
            cells.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    cells.append("".join(current).strip())
    return cells


def parse_key_terms(markdown: str, chapter: str = "") -> list[Term]:
    """The rows of the first Key-terms table in ``markdown`` (empty when there is none)."""
    lines = markdown.splitlines()
    start = next((i for i, line in enumerate(lines) if HEADING in line), None)
    if start is None:
        return []
    terms: list[Term] = []
    in_table = False
    for line in lines[start + 1 :]:
        match = _ROW.match(line)
        if not match:
            if in_table:
                break  # the table ended
            continue
        in_table = True
        if _RULE.match(line):
            continue
        cells = _split_cells(match.group(1))
        if len(cells) < 2 or cells[0].lower() == "english":
            continue
        gloss = " | ".join(cells[2:]) if len(cells) > 2 else ""
        terms.append(Term(cells[0], cells[1], gloss, chapter))
    return terms


def notebook_markdown(path: str | Path) -> str:
    """All markdown cells of a notebook, joined; the notebook is read as JSON."""
    path = Path(path)
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"cannot read notebook {path}: {error}; pass a .ipynb file.") from error
    return "\n\n".join(
        "".join(cell["source"])
        for cell in notebook.get("cells", [])
        if cell.get("cell_type") == "markdown"
    )


def book_chapters_dir() -> Path:
    """The repository's chapters/ folder, found next to the lmkit package (an editable install)."""
    folder = Path(__file__).resolve().parents[2] / "chapters"
    if not folder.is_dir():
        raise InputError(
            f"no chapters/ folder at {folder}: the glossary is built from the chapter notebooks; "
            "clone the lmkit repository and install it with `make setup` (pip install -e .)."
        )
    return folder


def chapter_terms(chapters_dir: str | Path) -> list[Term]:
    """Every Key-terms row of every numbered chapter (``NN_*.ipynb``) in ``chapters_dir``."""
    chapters_dir = Path(chapters_dir)
    paths = sorted(chapters_dir.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise InputError(f"no chapter notebooks (NN_*.ipynb) in {chapters_dir}; pass chapters/.")
    terms: list[Term] = []
    for path in paths:
        terms += parse_key_terms(notebook_markdown(path), chapter=path.stem)
    return terms


def merge(terms: Iterable[Term]) -> list[Entry]:
    """One entry per English term, in the order the book introduces them.

    The first chapter's wording (English, 中文, gloss) is kept; every translation met is recorded
    with its chapters, so :func:`conflicts` can show where two chapters disagree.
    """
    entries: dict[str, Entry] = {}
    for term in terms:
        entry = entries.get(term.key)
        if entry is None:
            entry = entries[term.key] = Entry(term.english, term.chinese, term.gloss)
        if term.chapter not in entry.chapters:
            entry.chapters.append(term.chapter)
        entry.translations.setdefault(_normalise_chinese(term.chinese), []).append(term.chapter)
    return list(entries.values())


def conflicts(entries: Iterable[Entry]) -> list[Entry]:
    """The entries whose English term has more than one Chinese translation in the book."""
    return [entry for entry in entries if entry.is_conflict]


def describe_conflicts(entries: Iterable[Entry]) -> str:
    """A readable list of conflicts, one line per term, naming the chapters of each translation."""
    lines = []
    for entry in conflicts(entries):
        where = "; ".join(f"{zh} ({', '.join(chs)})" for zh, chs in entry.translations.items())
        lines.append(f"{entry.english}: {where}")
    return "\n".join(lines)


def _chapter_link(stem: str, link_prefix: str) -> str:
    label = stem[:2] if stem[:2].isdigit() else stem
    return f"[{label}]({link_prefix}{stem}.ipynb)"


def _cell(text: str) -> str:
    # A bar inside a cell, even inside `code`, must be escaped or it ends the cell.
    return text.replace("|", "\\|")


def to_markdown(entries: Iterable[Entry], *, link_prefix: str = "") -> str:
    """The merged glossary as a markdown table sorted by English term, linking each chapter.

    ``link_prefix`` is put before each ``NN_name.ipynb`` target (``""`` from chapters/ itself).
    """
    rows = ["| English | 中文 | In one line | Chapters |", "|---|---|---|---|"]
    for entry in sorted(entries, key=lambda e: e.english.replace("`", "").lower()):
        links = ", ".join(_chapter_link(ch, link_prefix) for ch in entry.chapters)
        chinese = " · ".join(entry.translations) if entry.is_conflict else entry.chinese
        cells = [_cell(entry.english), _cell(chinese), _cell(entry.gloss), links]
        rows.append(f"| {' | '.join(cells)} |")
    return "\n".join(rows)
