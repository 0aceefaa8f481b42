"""The Home page: device, models with their cards, and the chapters."""

from __future__ import annotations

import json
from pathlib import Path

from lmkit.device import describe_device
from lmkit.hub import BUILTIN_MODELS, available_models

from .conftest import ROOT, no_errors, open_page


def test_home_lists_the_device_every_model_and_every_chapter():
    at = open_page("home")
    no_errors(at)
    text = " ".join(m.value for m in at.markdown)
    assert describe_device() in text
    table = at.dataframe[0].value
    assert list(table["model"]) == available_models()
    assert list(table["kind"]) == [BUILTIN_MODELS[n].kind for n in available_models()]
    tiny = table[table["model"] == "tiny-gpt"].iloc[0]
    card = (BUILTIN_MODELS["tiny-gpt"].path / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert tiny["about"] == card.splitlines()[2].strip()  # the line after the title
    notebooks = sorted(Path(ROOT, "chapters").glob("*.ipynb"))
    for path in notebooks:
        first_cell = next(
            c for c in json.loads(path.read_text(encoding="utf-8"))["cells"]
            if c["cell_type"] == "markdown"
        )  # fmt: skip
        title = "".join(first_cell["source"]).splitlines()[0].lstrip("# ")
        assert f"**{title}**" in text, title
    assert "make lab" in text
    assert any("lmkit.load" in c.value for c in at.code)
