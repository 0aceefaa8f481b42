"""The figures of lmkit.viz.core, .saliency, .decoding and .tokens serialize exactly as they did
before their layouts were made cheap to build (issue 17).

``data/figure_json.json`` was recorded from the code *before* that change (``python
tests/viz/test_figure_json.py --record`` with that code); each figure here, on the same fixed
inputs, must give the same JSON, template included, so the speed-up changed no pixel.
``beam_tree``'s entry was re-recorded once since (issue 21): decoding now asks the model for the
last position's logits only, which moved one beam score in its seventh digit (-3.6129589 ->
-3.6129591); the figure code did not change.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import plotly.io as pio
import pytest
import torch

# model_factories, when this file runs as a script (--record)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from model_factories import fresh_gpt

from lmkit.decoding.beam import beam_search
from lmkit.decoding.generation import TokenStep
from lmkit.tasks.saliency import Saliency
from lmkit.viz import core, decoding, saliency, tokens

RECORDED = Path(__file__).with_name("data") / "figure_json.json"


def _label(token_id: int) -> str:
    return f"t{token_id}"


def _steps(rng: random.Random, n: int) -> list[TokenStep]:
    steps = []
    for index in range(n):
        ids = rng.sample(range(500), 12)
        probs = sorted((round(rng.random() / 4, 6) for _ in ids), reverse=True)
        steps.append(TokenStep(index=index, token_id=ids[0], prob=probs[0], logprob=-1.0,
                               raw_prob=probs[0], top_ids=ids, top_probs=probs,
                               processed_top_ids=ids[:6], processed_top_probs=probs[:6],
                               elapsed=0.01 * index))  # fmt: skip
    return steps


def figures() -> dict:
    """Name -> a function drawing one figure on fixed inputs."""
    rng = random.Random(0)
    toks = ("[CLS]", "the", "film", "was", "slow", "at", "first", ",", "but", "good", "[SEP]")
    explained = Saliency(
        tokens=toks, scores=tuple(round(rng.uniform(-1, 1), 6) for _ in toks),
        target_label="positive", probabilities={"negative": 0.125, "positive": 0.875},
        special=(True,) + (False,) * (len(toks) - 2) + (True,), token_ids=tuple(range(len(toks))),
        method="integrated_gradients", target_score=-0.13, steps=16,
    )  # fmt: skip
    steps = _steps(rng, 20)
    weights = torch.softmax(torch.randn(3, 5, 5, generator=torch.Generator().manual_seed(0)), -1)
    history = [{"step": s, "loss": 3 - s / 64, "lr": 1e-3 * (1 - s / 64)} for s in range(0, 64, 4)]
    for record in history[::4]:
        record["val_loss"] = record["loss"] + 0.25
    beams = beam_search(
        fresh_gpt(0, vocab_size=40, block_size=16, n_layer=1, n_head=2, n_embd=16),
        [1, 2], num_beams=3, max_new_tokens=4,
    )  # fmt: skip
    words = list("abcde")
    return {
        "loss_curve": lambda: core.loss_curve(history),
        "loss_curve_plain": lambda: core.loss_curve([{"step": 1, "loss": 2.0}]),
        "attention_heatmap": lambda: core.attention_heatmap(weights[0], words, title="one head"),
        "attention_grid": lambda: core.attention_grid(weights, words),
        "class_probabilities": lambda: saliency.class_probabilities(["neg", "pos"], [0.25, 0.75]),
        "token_saliency": lambda: saliency.token_saliency(explained, row_width=20),
        "next_token_bars": lambda: decoding.next_token_bars(steps[3], _label),
        "token_confidence": lambda: decoding.token_confidence(steps, _label),
        "beam_tree": lambda: decoding.beam_tree(beams, _label),
        "token_boxes": lambda: tokens.token_boxes(["Hel", "lo", " 世界", "\n"], [5, 6, 7, 8]),
        "compression_curve": lambda: tokens.compression_curve([0, 10, 20], {"en": [1.0, 1.5, 2.0]}),
        "token_count_bar": lambda: tokens.token_count_bar({"en": {"bpe": 5, "bytes": 9}}),
    }


def _as_json(fig) -> dict:
    return json.loads(pio.to_json(fig, validate=False))


def _recorded() -> dict:
    return json.loads(RECORDED.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(figures()))
def test_figure_json_is_unchanged(name: str) -> None:
    assert _as_json(figures()[name]()) == _recorded()[name]


def test_a_figure_owns_its_template() -> None:
    # The template is handed over without re-validation; it must still be the figure's own copy.
    first, second = figures()["class_probabilities"](), figures()["class_probabilities"]()
    first.layout.template.layout.font.size = 99
    assert second.layout.template.layout.font.size != 99
    assert pio.templates[core.TEMPLATE].layout.font.size != 99


if __name__ == "__main__" and sys.argv[1:] == ["--record"]:
    drawn = {name: _as_json(make()) for name, make in sorted(figures().items())}
    RECORDED.write_text(json.dumps(drawn, sort_keys=True) + "\n", encoding="utf-8")
    print(f"recorded {len(drawn)} figures in {RECORDED}")
