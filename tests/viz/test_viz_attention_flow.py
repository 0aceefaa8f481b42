"""The generated-token attention figure: one row per new token, prompt/output boundary marked."""

from __future__ import annotations

import pytest
import torch

from lmkit.errors import InputError
from lmkit.viz.attention_flow import generation_attention_heatmap

TOKENS = ["A", "nna", " cooked", " a", " cake", "<|endoftext|>"]


def test_rows_are_generated_tokens_and_columns_every_token():
    weights = torch.rand(3, 6)
    fig = generation_attention_heatmap(weights, TOKENS, prompt_length=3).to_dict()
    heat = fig["data"][0]
    assert torch.allclose(torch.tensor(heat["z"]), weights)
    assert list(fig["layout"]["yaxis"]["ticktext"]) == ["→ ␣a", "→ ␣cake", "→ &lt;|endoftext|&gt;"]
    assert fig["layout"]["xaxis"]["ticktext"][-1] == "&lt;|endoftext|&gt;"  # escaped for plotly
    (line,) = fig["layout"]["shapes"]
    assert line["x0"] == line["x1"] == 2.5  # between the prompt and the output


@pytest.mark.parametrize(
    ("shape", "prompt_length"), [((3, 5), 3), ((2, 6), 3), ((3, 6), 6), ((3, 6), True)]
)
def test_mismatched_shapes_are_refused(shape, prompt_length):
    with pytest.raises(InputError):
        generation_attention_heatmap(torch.rand(*shape), TOKENS, prompt_length)
