"""Every chapter and solutions notebook runs top to bottom, headless, offline, within its limit.

Each notebook runs in its own empty temporary directory, so none can depend on files another
notebook left behind. Run times are written to test-artifacts/notebook_times.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"
NOTEBOOKS = sorted(CHAPTERS.glob("*.ipynb")) + sorted((CHAPTERS / "solutions").glob("*.ipynb"))
TIME_LIMIT_S = 180  # per notebook, on 2 CPU cores (issue: chapters 1–7)
ARTIFACTS = ROOT / "test-artifacts"


def _ids(paths):
    return [str(p.relative_to(CHAPTERS)) for p in paths]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_stored_without_outputs(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"cell {index} has stored outputs: strip them"
            assert cell.get("execution_count") is None, f"cell {index} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_headless_within_its_time_limit(path, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    # The kernel spec launches "python": make it this interpreter (the project's venv), and keep
    # every Hugging Face library offline, as in a classroom without network.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("LMKIT_HEADLESS", "1")
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=TIME_LIMIT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    # nbclient imitates a browser for ipywidgets' Output widget by sending state back to the
    # kernel on the connection it is waiting on; now and then it misses the cell's reply and
    # stalls for the whole cell timeout. Headless runs need no widget front end: the widget code
    # still runs in the kernel (and its errors still fail the test), only the imitation is off.
    client.comm_open_handlers["jupyter.widget"] = lambda msg: None
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    ARTIFACTS.mkdir(exist_ok=True)
    times_file = ARTIFACTS / "notebook_times.json"
    times = json.loads(times_file.read_text()) if times_file.exists() else {}
    times[str(path.relative_to(CHAPTERS))] = round(elapsed, 1)
    times_file.write_text(json.dumps(times, indent=2, sort_keys=True))
    assert elapsed <= TIME_LIMIT_S, (
        f"{path.name} took {elapsed:.0f} s; the limit is {TIME_LIMIT_S} s"
    )


def test_every_chapter_has_a_solutions_notebook():
    chapters = {p.stem for p in CHAPTERS.glob("[0-9][0-9]_*.ipynb")}
    solutions = {
        p.stem.removesuffix("_solutions") for p in (CHAPTERS / "solutions").glob("*.ipynb")
    }
    assert chapters <= solutions, f"chapters without solutions: {sorted(chapters - solutions)}"
