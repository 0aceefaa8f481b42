"""Token figures: boxes carry the right text, ids and colours; curves carry the right numbers."""

from __future__ import annotations

import itertools
import json

import pytest

from lmkit.errors import InputError
from lmkit.tokenizers import ByteBPETokenizer
from lmkit.viz.tokens import (
    PALETTE,
    compression_curve,
    display_width,
    plotly_text,
    token_boxes,
    token_count_bar,
    visible,
)


def _json(fig):
    return json.loads(fig.to_json())


def test_visible_and_display_width():
    assert visible(" the\n") == "␣the↵"
    assert visible("") == "∅"
    assert plotly_text("<s> & </s>") == "&lt;s&gt;␣&amp;␣&lt;/s&gt;"
    assert display_width("abc") == 3
    assert display_width("我喜欢") == 6  # CJK characters are two cells wide
    assert display_width("e\u0301") == 1  # a combining accent takes no cell


def test_token_boxes_one_box_per_token_with_text_and_id():
    tok = ByteBPETokenizer.train("the cat and the hat and the bat " * 5, 265)
    text = "the cat <b>"
    ids, pieces = tok.encode(text), tok.tokenize(text)
    fig = _json(token_boxes(pieces, ids))
    layout = fig["layout"]
    assert len(layout["shapes"]) == len(ids)
    texts = [a["text"] for a in layout["annotations"]]
    assert texts[0::2] == [visible(p).replace("<", "&lt;").replace(">", "&gt;") for p in pieces]
    assert all(plotly_text(p) == t for p, t in zip(pieces, texts[0::2], strict=True))
    assert texts[1::2] == [str(i) for i in ids]
    colours = [s["fillcolor"] for s in layout["shapes"]]
    assert colours == [PALETTE[i % len(PALETTE)] for i in range(len(ids))]
    assert all(a != b for a, b in itertools.pairwise(colours))  # neighbours always differ
    hover = fig["data"][0]["customdata"]
    assert [row[1] for row in hover] == ids
    assert [row[2] for row in hover] == [plotly_text(p) for p in pieces]
    # plotly reads labels as HTML: "<" must arrive escaped, or "<b>" would start a bold tag
    assert "&lt;" in texts and not any("<" in t for t in texts)
    assert f"({len(ids)} tokens)" in layout["title"]["text"]


def test_token_boxes_wrap_into_rows_and_boxes_do_not_overlap():
    pieces = ["word"] * 30
    fig = _json(token_boxes(pieces, list(range(30)), row_width=20))
    shapes = fig["layout"]["shapes"]
    assert all(s["x1"] <= 20 for s in shapes)
    rows = sorted({s["y1"] for s in shapes}, reverse=True)
    assert len(rows) > 1
    for top in rows:
        row = sorted((s for s in shapes if s["y1"] == top), key=lambda s: s["x0"])
        assert all(a["x1"] < b["x0"] for a, b in itertools.pairwise(row))


def test_token_boxes_make_wide_characters_wider():
    fig = _json(token_boxes(["我喜欢", "abc"], [1, 2]))
    wide, narrow = fig["layout"]["shapes"]
    assert (wide["x1"] - wide["x0"]) > (narrow["x1"] - narrow["x0"])


def test_token_boxes_reject_bad_input():
    with pytest.raises(InputError, match="same length"):
        token_boxes(["a", "b"], [1])
    with pytest.raises(InputError, match="row_width"):
        token_boxes(["a"], [1], row_width=0)
    with pytest.raises(InputError, match="integers"):
        token_boxes(["a"], ["1"])


def test_compression_curve_values_and_vocab_in_hover():
    fig = _json(
        compression_curve([0, 10, 20], {"English": [1.0, 1.5, 2.0], "中文": [1.0, 1.2, 1.4]})
    )
    traces = {t["name"]: t for t in fig["data"]}
    assert traces["English"]["x"] == [0, 10, 20]
    assert traces["English"]["y"] == [1.0, 1.5, 2.0]
    assert traces["中文"]["customdata"] == [256, 266, 276]


def test_compression_curve_rejects_bad_input():
    with pytest.raises(InputError, match="one value per entry"):
        compression_curve([0, 1], {"x": [1.0]})
    with pytest.raises(InputError, match="positive"):
        compression_curve([0], {"x": [0.0]})
    with pytest.raises(InputError, match="non-negative integers"):
        compression_curve([-1], {"x": [1.0]})
    with pytest.raises(InputError, match="series is empty"):
        compression_curve([0], {})


def test_token_count_bar_groups_by_text():
    counts = {"English": {"chars": 20, "BPE": 6}, "Chinese": {"chars": 7, "BPE": 9}}
    fig = _json(token_count_bar(counts))
    traces = {t["name"]: t for t in fig["data"]}
    assert traces["English"]["x"] == ["chars", "BPE"] and traces["English"]["y"] == [20, 6]
    assert traces["Chinese"]["y"] == [7, 9]
    assert fig["layout"]["barmode"] == "group"
    with pytest.raises(InputError, match="same tokenizers"):
        token_count_bar({"a": {"x": 1}, "b": {"y": 2}})
    with pytest.raises(InputError, match="non-negative integer"):
        token_count_bar({"a": {"x": -1}})
    with pytest.raises(InputError, match="empty"):
        token_count_bar({})


def test_wrap_boxes_starts_a_new_row_only_when_the_next_box_would_overflow():
    from lmkit.viz.tokens import wrap_boxes

    places, rows = wrap_boxes([3, 3, 3, 10, 2], row_width=8, gap=1, row_height=2)
    # 0..3, 4..7 fit in 8; the third box would end at 11, so it wraps; 10 is wider than a row
    # but an empty row always takes one box.
    assert places == [(0, 0), (4, 0), (0, -2), (0, -4), (0, -6)]
    assert rows == 4
    assert wrap_boxes([], row_width=8) == ([], 1)
