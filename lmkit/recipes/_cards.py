"""Model cards rendered from templates: ``lmkit/recipes/cards/<model>.md``.

Introduced in chapter 9. A template is the card's Markdown with ``str.format`` fields, filled
from the model's ``metrics.json`` dict and a few fields the recipe derives from it (tables,
sizes in MB): ``{parameters:,}``, ``{data[train_stories]:,}`` (item access into the metrics),
``{val_loss:.4f}``. So the card of a shipped model can be re-rendered from its metrics at any
time, and the wording lives in one readable file instead of in code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lmkit.errors import InputError

__all__ = ["CARDS_DIR", "machine_sentence", "render_card", "table_cell"]

CARDS_DIR = Path(__file__).resolve().parent / "cards"


def render_card(model: str, fields: Mapping[str, Any]) -> str:
    """The card of ``model`` with its template's fields filled from ``fields``.

    ``fields`` are read as ``metrics.json`` gives them back (tuples become lists), so a card
    written at the end of training equals one rendered later from the saved file.
    """
    path = CARDS_DIR / f"{model}.md"
    if not path.is_file():
        raise InputError(f"There is no card template for {model!r} (looked for {path}).")
    values = json.loads(json.dumps(fields, ensure_ascii=False))
    try:
        return path.read_text(encoding="utf-8").format_map(values)
    except (KeyError, IndexError) as exc:
        raise InputError(
            f"The {model} card template needs {exc} from the metrics; render it from the "
            "metrics.json its recipe writes."
        ) from None


def table_cell(text: object) -> str:
    """Text that stays inside one cell of a Markdown table."""
    return " ".join(str(text).split()).replace("|", "\\|") or "(empty)"


def machine_sentence(training: Mapping[str, Any]) -> str:
    """One sentence for a card: how long training took, on what, how busy the machine was."""
    t = training
    return (
        f"Training took {t['train_seconds']:.0f} s ({t['train_seconds'] / 60:.1f} min) on "
        f"{t['device']}, a machine with {t['cpu_count']} CPUs whose load average was "
        f"{t['load_average_before']} before and {t['load_average_after']} after (other jobs "
        f"shared it), with torch {t['torch']}."
    )
