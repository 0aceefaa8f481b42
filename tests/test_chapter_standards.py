"""The written rules for chapters 8 onwards, checked on the stored notebooks.

Each chapter has at least 2,000 words of prose, a Key-terms · 术语对照 table, Chinese text, two or
more lmkit.viz figures and a drawn diagram, a widget, and at least four auto-checked exercises
(two of them "build it": the reader writes a function), every one answered in the solutions
notebook. (Chapters 1–7 predate the diagram rule; their second edition adds it.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lmkit.exercises import all_exercises

CHAPTERS = Path(__file__).resolve().parents[1] / "chapters"
RULED = sorted(p for p in CHAPTERS.glob("[0-9][0-9]_*.ipynb") if int(p.name[:2]) >= 8)
MIN_WORDS = 2000


def _cells(path: Path, kind: str) -> list[str]:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == kind]


def prose_words(markdown: str) -> int:
    """Words of running prose: no tables, code, maths, headings' markup or link targets."""
    text = re.sub(r"```.*?```", " ", markdown, flags=re.S)
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("|"))
    text = re.sub(r"\$\$.*?\$\$|\$[^$\n]+\$|`[^`\n]+`|\]\([^)]*\)", " ", text, flags=re.S)
    return sum(1 for word in text.split() if re.search(r"[A-Za-z]", word))


def test_prose_words_skip_tables_code_and_maths():
    sample = "## Two words\n\n| a | b |\n|---|---|\nOne `code here` $x^2 + y$ three\n```\nnot me\n```"
    assert prose_words(sample) == 4  # Two, words, One, three


def test_chapters_eight_and_later_exist():
    assert [p.name[:2] for p in RULED][:3] == ["08", "09", "10"]


def _viz_names(code: str) -> set[str]:
    names: set[str] = set()
    pattern = r"from lmkit\.viz(?:\.\w+)? import (?:\(([\w\s,]+)\)|([\w ,]+))"
    for match in re.finditer(pattern, code):
        listed = match.group(1) or match.group(2)
        names |= {n.strip() for n in listed.split(",") if n.strip()}
    return names


@pytest.mark.parametrize("path", RULED, ids=[p.stem for p in RULED])
def test_chapter_meets_the_written_rules(path):
    markdown, code = "\n".join(_cells(path, "markdown")), "\n".join(_cells(path, "code"))
    words = prose_words(markdown)
    assert words >= MIN_WORDS, f"{path.name}: {words} words of prose, the rule is {MIN_WORDS}"
    assert "Key terms · 术语对照" in markdown
    assert len(re.findall(r"[\u4e00-\u9fff]", markdown + code)) >= 50, "too little Chinese"
    figures = _viz_names(code) - {"Box", "Arrow", "diagram", "TEMPLATE"}
    used = {name for name in figures if re.search(rf"\b{name}\(", code)}
    assert len(used) >= 2, f"{path.name}: lmkit.viz figures used: {sorted(used)}"
    assert re.search(r"\bdiagram\(", code), f"{path.name} draws no diagram"
    assert re.search(r"\bwidgets\.\w+\(", code), f"{path.name} has no widget"
    assert code.count("assert ") >= 10, f"{path.name}: its claims are not asserted"


@pytest.mark.parametrize("path", RULED, ids=[p.stem for p in RULED])
def test_exercises_are_checked_and_answered(path):
    prefix = f"ch{path.name[:2]}."
    exercises = [e for e in all_exercises() if e.id.startswith(prefix)]
    assert len(exercises) >= 4, f"{path.name}: {len(exercises)} exercises"
    assert sum(e.kind == "function" for e in exercises) >= 2, "fewer than 2 'build it' exercises"
    chapter_code = "\n".join(_cells(path, "code"))
    solutions = CHAPTERS / "solutions" / f"{path.stem}_solutions.ipynb"
    solved = "\n".join(_cells(solutions, "code"))
    for exercise in exercises:
        assert f'check("{exercise.id}"' in chapter_code, f"{exercise.id} is not in the chapter"
        assert f'assert check("{exercise.id}"' in solved, f"{exercise.id} is not solved"
