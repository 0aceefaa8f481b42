"""Model cards are rendered from templates (lmkit/recipes/cards/<name>.md): rendering a shipped
model's metrics.json gives its shipped MODEL_CARD.md, character for character."""

from __future__ import annotations

import json

import pytest

from lmkit import hub
from lmkit.errors import InputError
from lmkit.recipes import (
    _cards,
    minilm_sentiment,
    tiny_bert,
    tiny_gpt,
    tiny_gpt_instruct,
    tiny_ner,
    tiny_qa,
    tiny_sentiment,
    tiny_seq2seq,
    zh_sentiment,
)

RECIPES = {
    "tiny-gpt": tiny_gpt,
    "tiny-gpt-instruct": tiny_gpt_instruct,
    "tiny-bert": tiny_bert,
    "tiny-sentiment": tiny_sentiment,
    "minilm-sentiment": minilm_sentiment,
    "zh-sentiment": zh_sentiment,
    "tiny-ner": tiny_ner,
    "tiny-qa": tiny_qa,
    "tiny-seq2seq": tiny_seq2seq,
}


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_the_card_renders_from_the_shipped_metrics(name):
    folder = hub.WEIGHTS_DIR / name
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    assert RECIPES[name].model_card(metrics) == (folder / "MODEL_CARD.md").read_text(
        encoding="utf-8"
    )


def test_every_template_is_a_shipped_model():
    assert sorted(p.stem for p in _cards.CARDS_DIR.glob("*.md")) == sorted(RECIPES)


def test_missing_fields_and_templates_are_clear_errors():
    with pytest.raises(InputError, match="needs"):
        _cards.render_card("tiny-bert", {"model_config": {}})
    with pytest.raises(InputError, match="no card template"):
        _cards.render_card("no-such-model", {})


def test_table_cells_stay_in_their_cell():
    assert _cards.table_cell("a | b\n c") == "a \\| b c"
    assert _cards.table_cell("  ") == "(empty)"
