"""lmkit.tasks.text_classify with a toy classifier (maths known) and the CSV/plain-text upload path."""

from __future__ import annotations

import csv
import io

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toy_classifiers import ToyTokenizer, toy_loaded

from lmkit.errors import ConfigError, InputError
from lmkit.tasks.text_classify import (
    classify,
    classify_csv,
    encode_for_model,
    model_max_length,
    predict_batch,
    predict_proba,
)

LIMITS = {"max_bytes": 10_000, "max_rows": 50}


@pytest.fixture(scope="module")
def toy():
    return toy_loaded()


def reference_probs(loaded, text: str) -> torch.Tensor:
    """The toy model's probabilities computed by hand: mean of embeddings → head → softmax."""
    ids = loaded.tokenizer.encode(text)[: loaded.model.max_length]
    if len(loaded.tokenizer.encode(text)) > loaded.model.max_length:
        ids[-1] = 2  # [SEP] stays last
    with torch.no_grad():
        pooled = loaded.model.embed.weight[ids].mean(0)
        logits = loaded.model.head.weight @ pooled + loaded.model.head.bias
    return torch.softmax(logits, dim=-1)


def test_predict_proba_matches_hand_computation_and_ignores_batching(toy):
    texts = ["the movie was good", "bad", "not very good food", "the the the awful"]
    expected = torch.stack([reference_probs(toy, t) for t in texts])
    for batch_size in (1, 3, 32):  # padding in a batch must not change anything
        probs = predict_proba(toy, texts, batch_size=batch_size)
        assert probs.shape == (4, 2)
        torch.testing.assert_close(probs, expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(probs.sum(-1), torch.ones(4))


def test_truncation_keeps_sep_and_is_reported(toy):
    long_text = " ".join(["good"] * 30)
    result = predict_batch(toy, ["good", long_text])
    assert result.truncated == (False, True)
    assert result.n_tokens == (3, 32)
    ids, cut, full = encode_for_model(toy.tokenizer, long_text, 12)
    assert (len(ids), ids[0], ids[-1], cut, full) == (12, 1, 2, True, 32)
    torch.testing.assert_close(result.probabilities[1], reference_probs(toy, long_text))
    one = classify(toy, long_text)
    assert one.truncated and one.n_tokens == 32


def test_model_max_length_sources(toy):
    assert model_max_length(toy.model) == 12
    config_only = type("M", (), {"config": type("C", (), {"block_size": 64})()})()
    assert model_max_length(config_only) == 64
    bert_like = type("M", (), {"config": type("C", (), {"max_position": 40})()})()
    assert model_max_length(bert_like) == 40
    assert model_max_length(object()) is None


def test_classify_returns_label_and_probabilities(toy):
    result = classify(toy, "the food was awful")
    probs = reference_probs(toy, "the food was awful")
    assert set(result.probabilities) == {"negative", "positive"}
    assert result.label == ("negative", "positive")[int(probs.argmax())]
    assert result.probabilities["positive"] == pytest.approx(float(probs[1]), abs=1e-6)
    assert not result.truncated and result.n_tokens == 6


@pytest.mark.parametrize("bad", ["", "   ", "\n\t", None, 3])
def test_empty_or_non_text_is_an_input_error(toy, bad):
    with pytest.raises(InputError):
        classify(toy, bad)
    with pytest.raises(InputError):
        predict_proba(toy, ["good", bad])


def test_bad_arguments(toy):
    with pytest.raises(InputError, match="non-empty list"):
        predict_proba(toy, [])
    with pytest.raises(InputError, match="non-empty list"):
        predict_proba(toy, "a single string")
    with pytest.raises(ConfigError):
        predict_proba(toy, ["good"], batch_size=0)
    not_a_classifier = type("L", (), {"model": torch.nn.Linear(2, 2), "tokenizer": ToyTokenizer()})
    with pytest.raises(InputError, match="not a classifier"):
        classify(not_a_classifier(), "good")
    with pytest.raises(InputError, match=r"\.model and \.tokenizer"):
        classify(object(), "good")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=40))
def test_any_text_gives_probabilities_or_input_error(toy, text):
    try:
        result = classify(toy, text)
    except InputError:
        assert not text.strip()
    else:
        assert text.strip()
        assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-5)


# ----------------------------------------------------------------------------- files
def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def test_plain_text_one_text_per_line(toy):
    out = read_csv(classify_csv(toy, b"the movie was good\n\nbad food\r\n", **LIMITS))
    assert [row["text"] for row in out] == ["the movie was good", "bad food"]
    for row in out:
        probs = reference_probs(toy, row["text"])
        assert float(row["p_positive"]) == pytest.approx(float(probs[1]), abs=1e-5)
        assert row["predicted_label"] == ("negative", "positive")[int(probs.argmax())]
        assert row["truncated"] == "false"


def test_csv_with_text_column_keeps_other_columns(toy):
    data = b'id,review,label\n1,"good, very good",pos\n2,awful,neg\n3,,neg\n'
    out = read_csv(classify_csv(toy, data, **LIMITS))
    assert list(out[0]) == [
        "id", "review", "label", "predicted_label", "p_negative", "p_positive", "truncated",
    ]  # fmt: skip
    assert [r["id"] for r in out] == ["1", "2", "3"] and out[1]["label"] == "neg"
    expected = reference_probs(toy, "good, very good")
    assert float(out[0]["p_negative"]) == pytest.approx(float(expected[0]), abs=1e-5)
    assert out[2]["predicted_label"] == "" and out[2]["p_positive"] == ""  # empty text: no result


def test_named_column_tab_delimiter_and_bom(toy):
    data = "\ufeffnote\tbody\nx\tthe food was bad\n".encode()
    out = read_csv(classify_csv(toy, data, text_column="body", **LIMITS))
    assert out[0]["body"] == "the food was bad" and out[0]["predicted_label"]
    with pytest.raises(InputError, match="No column named 'words'"):
        classify_csv(toy, data, text_column="words", **LIMITS)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"  \n\n ", "empty"),
        (b"\xff\xfe\x00g\x00o", "not UTF-8"),
        (b"good\x00bad", "NUL"),
        (b"text,id\n,1\n , 2\n", "no text to classify"),
        (b"review,id\n", "header line but no rows"),
        (b"text,id\ngood,1,extra\n", "row 2 has 3 fields"),
        (b"good\n" * 51, "limit is 50"),
        (b"x" * 10_001, "limit is 10,000"),
    ],
)
def test_bad_uploads_are_input_errors_with_a_reason(toy, data, message):
    with pytest.raises(InputError, match=message):
        classify_csv(toy, data, **LIMITS)


def test_upload_argument_checks(toy):
    with pytest.raises(InputError, match="bytes"):
        classify_csv(toy, "a str", **LIMITS)
    with pytest.raises(ConfigError, match="max_rows"):
        classify_csv(toy, b"good", max_bytes=10, max_rows=0)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=300))
def test_random_bytes_give_a_csv_or_an_input_error(toy, data):
    try:
        out = classify_csv(toy, data, max_bytes=200, max_rows=20)
    except InputError:
        return
    rows = read_csv(out)
    assert rows and "predicted_label" in rows[0]


csv_cells = st.text(alphabet=st.sampled_from('good bad,"\n\r\t;x\u00e9'), max_size=12)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.lists(csv_cells, min_size=1, max_size=3), max_size=6), st.booleans())
def test_malformed_csv_gives_a_csv_or_an_input_error(toy, rows, with_header):
    lines = (["text,other"] if with_header else []) + [",".join(r) for r in rows]
    data = "\n".join(lines).encode()
    try:
        out = classify_csv(toy, data, max_bytes=5_000, max_rows=20)
    except InputError:
        return
    table = read_csv(out)
    classified = [r for r in table if r["predicted_label"]]
    assert classified, "a result must classify at least one text"
    for row in classified:
        assert float(row["p_negative"]) + float(row["p_positive"]) == pytest.approx(1, abs=1e-5)


def test_csv_output_cells_cannot_run_as_spreadsheet_formulas(toy):
    upload = b'text,note\n"=HYPERLINK(""http://evil.example"",""x"")",@SUM(A1)\ngood,+1\n'
    out = classify_csv(toy, upload, max_bytes=10_000, max_rows=10)
    rows = list(csv.reader(io.StringIO(out.decode("utf-8"))))
    cells = [cell for row in rows for cell in row]
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)
    assert rows[1][0] == '\'=HYPERLINK("http://evil.example","x")' and rows[1][1] == "'@SUM(A1)"
    assert rows[2][:2] == ["good", "'+1"]


def test_csv_output_reads_back_when_texts_hold_bare_carriage_returns(toy):
    upload = b'text\n"good\rfood"\n"bad\r\nday"\n'
    out = classify_csv(toy, upload, max_bytes=10_000, max_rows=10)
    rows = list(csv.reader(io.StringIO(out.decode("utf-8"), newline="")))
    assert [row[0] for row in rows[1:]] == ["good\rfood", "bad\r\nday"]
    assert all(len(row) == len(rows[0]) for row in rows)
