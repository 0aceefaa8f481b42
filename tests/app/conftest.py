"""Helpers for the app's AppTest tests: open a page, read its plotly figures as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = ROOT / "app"
ENTRY = APP_DIR / "Home.py"
if str(APP_DIR) not in sys.path:  # lets tests import app/common.py as `common`
    sys.path.insert(0, str(APP_DIR))

# Model loading on a busy 2-core machine can take seconds; AppTest's default is 3 s.
PAGE_TIMEOUT = 120


def open_page(page: str):
    """An AppTest of the whole app, switched to ``views/<page>.py`` and run once."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ENTRY), default_timeout=PAGE_TIMEOUT)
    at.run()
    if page != "home":
        at.switch_page(f"views/{page}.py").run()
    return at


def plotly_figures(at) -> list[dict]:
    """The plotly figures a run drew, as the JSON dicts Streamlit sends to the browser."""
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def no_errors(at) -> None:
    """Fail with the page's messages if it raised or showed an error box."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
