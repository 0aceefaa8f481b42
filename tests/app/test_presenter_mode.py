"""Presenter mode (`make app PRESENTER=1`): a larger root font on every page, for a projector."""

from __future__ import annotations

import re

import pytest

from .conftest import no_errors, open_page

STREAMLIT_DEFAULT_FONT_PX = 16  # Streamlit's own root font size (theme.baseFontSize)


def _root_font_sizes(at) -> list[int]:
    """The px sizes that injected <style> blocks give the html element."""
    sizes = []
    for block in at.markdown:
        if block.allow_html:
            sizes += [int(px) for px in re.findall(r"html\s*\{\s*font-size:\s*(\d+)px", block.value)]
    return sizes


@pytest.mark.parametrize("page", ["home", "generate"])
def test_presenter_mode_sets_a_larger_root_font_on_every_page(monkeypatch, page):
    monkeypatch.setenv("LMKIT_PRESENTER", "1")
    at = open_page(page)
    no_errors(at)
    sizes = _root_font_sizes(at)
    assert len(sizes) == 1, sizes
    assert sizes[0] >= STREAMLIT_DEFAULT_FONT_PX * 1.25


@pytest.mark.parametrize("value", [None, "0", ""])
def test_without_presenter_mode_the_font_is_left_alone(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("LMKIT_PRESENTER", raising=False)
    else:
        monkeypatch.setenv("LMKIT_PRESENTER", value)
    at = open_page("home")
    no_errors(at)
    assert _root_font_sizes(at) == []
