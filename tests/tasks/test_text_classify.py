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
from lmkit.tasks.classify_files import FileJob, classify_csv
from lmkit.tasks.csv_batch import escape_formula, plan_batches
from lmkit.tasks.text_classify import (
    classify,
    encode_for_model,
    is_blank,
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
        assert is_blank(text)
    else:
        assert not is_blank(text)
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
    assert not any(cell.startswith(("=", "@")) for cell in cells)
    assert rows[1][0] == '\'=HYPERLINK("http://evil.example","x")' and rows[1][1] == "'@SUM(A1)"
    assert rows[2][:2] == ["good", "+1"]  # a plain number is no formula: left as it is
    assert rows[0][-1] == "escaped" and [r[-1] for r in rows[1:]] == ["1 2", ""]


@pytest.mark.parametrize(
    ("cell", "escaped"),
    [
        ("=1+1", True),
        (" =1+1", True),  # finding: leading spaces hid the formula
        ("\n=1+1", True),  # …and so did a leading line break
        ("\u200b=1+1", True),  # …or a zero-width space
        ("\tx", True),  # OWASP: a leading tab or CR is escaped as such
        ("\rx", True),
        ("-5 stars", True),  # a spreadsheet reads this as a formula (#NAME?)
        ("+1+2", True),
        ("@SUM(A1)", True),
        ("-5", False),  # plain numbers stay as they are
        ("+1.5", False),
        (" -2e3 ", False),
        ("-0,5", False),
        ("-12%", False),
        ("'=1+1", False),  # already inert; the output's `escaped` column tells it apart
        ("good = bad", False),
        ("", False),
    ],
)
def test_escape_formula_follows_owasp_but_keeps_numbers(cell, escaped):
    assert escape_formula(cell) == ("'" + cell if escaped else cell)


def test_escaped_cells_are_listed_so_the_file_can_be_read_back_exactly(toy):
    texts = [" =1+1", "\n=1+1", "-5 stars", "'=1+1", "-5", "good"]
    buffer = io.StringIO()
    csv.writer(buffer).writerows([["text", "id"], *[[t, "-1"] for t in texts]])
    out = read_csv(classify_csv(toy, buffer.getvalue().encode(), **LIMITS))
    assert [row["escaped"] for row in out] == ["1", "1", "1", "", "", ""]
    restored = [r["text"][1:] if "1" in r["escaped"].split() else r["text"] for r in out]
    assert restored == texts and [r["id"] for r in out] == ["-1"] * len(texts)
    plain = classify_csv(toy, b"text\ngood\n-5\n", **LIMITS).decode()
    assert "escaped" not in plain.splitlines()[0]  # no column when nothing was changed


# ----------------------------------------------------------------------------- reading uploads
def _numbered_reviews(n: int = 1_000) -> list[str]:
    return ["id,review", *[f"{i},the movie was good and the food was bad {i}" for i in range(n)]]


def test_a_stray_quote_that_swallows_the_file_is_refused(toy):
    lines = _numbered_reviews()
    lines[5] = '5,"the movie was good'  # finding: 6 rows read, one cell of 24,671 characters
    with pytest.raises(InputError, match=r'CSV row 6: a quote \(\"\) opens a cell on line 6'):
        classify_csv(toy, "\n".join(lines).encode(), max_bytes=10**6, max_rows=2_000)
    lines[900] = '899,it was "good'  # a second stray quote closes the first one
    with pytest.raises(InputError, match="closes only on line 901"):
        classify_csv(toy, "\n".join(lines).encode(), max_bytes=10**6, max_rows=2_000)


def test_texts_over_several_lines_are_read_and_reported(toy):
    data = b'id,review\n1,"Good film, really.\nActing was fine, plot weak.\nFood bad, too."\n2,ok\n'
    job = FileJob(toy, data, **LIMITS)
    assert [row[1][:9] for row in job.table.rows] == ["Good film", "ok"]
    assert any("row 2 (lines 2–4)" in note for note in job.notes)
    assert any("Read 2 row(s) from 5 lines" in note for note in job.notes)


def test_cr_only_line_endings_are_read_as_lines(toy):
    out = read_csv(classify_csv(toy, b"id,review\r1,good\r2,bad food\r", **LIMITS))
    assert [row["review"] for row in out] == ["good", "bad food"]
    job = FileJob(toy, b"good\rbad\r", **LIMITS)
    assert [row[0] for row in job.table.rows] == ["good", "bad"]
    assert any("CR only" in note for note in job.notes)


def test_an_unknown_header_is_refused_with_the_columns_found(toy):
    data = b"id,opinion\n1,good film\n2,bad food\n"
    with pytest.raises(InputError, match=r"columns 'id', 'opinion'.*rename it to 'text'"):
        classify_csv(toy, data, **LIMITS)
    with pytest.raises(InputError, match=r"No column named 'words'.*'id', 'opinion'"):
        classify_csv(toy, data, text_column="words", **LIMITS)
    out = read_csv(classify_csv(toy, data, text_column="opinion", **LIMITS))
    assert [row["opinion"] for row in out] == ["good film", "bad food"]


def test_excel_sep_lines_set_the_delimiter(toy):
    out = read_csv(classify_csv(toy, b"sep=;\nid;text\n1;good, very good\n2;bad\n", **LIMITS))
    assert [(row["id"], row["text"]) for row in out] == [("1", "good, very good"), ("2", "bad")]
    with pytest.raises(InputError, match="columns 'id', 'opinion'"):
        classify_csv(toy, b"sep=;\nid;opinion\n1;good\n", **LIMITS)
    with pytest.raises(InputError, match="only comma, semicolon, tab"):
        classify_csv(toy, b"sep=#\nid#text\n1#good\n", **LIMITS)


def test_plain_text_says_it_read_every_line_as_a_text(toy):
    job = FileJob(toy, b"opinion\ngood film\n\nbad food\n", **LIMITS)
    assert [row[0] for row in job.table.rows] == ["opinion", "good film", "bad food"]
    assert any("plain text: 3 texts" in note and "first line included" in note for note in job.notes)


def test_invisible_only_texts_count_as_empty(toy):
    for blank in ["\u200b", "\u2060\ufeff", "\u00a0 \u3000", "\u202e\u200b", "\u3164"]:
        assert is_blank(blank)
        with pytest.raises(InputError, match="empty"):
            classify(toy, blank)
    assert not is_blank("a\u200b") and not is_blank("🙂")
    data = "text,id\n\u200b,1\ngood,2\n\u00a0,3\n".encode()
    out = read_csv(classify_csv(toy, data, **LIMITS))
    assert [row["predicted_label"] != "" for row in out] == [False, True, False]


# ----------------------------------------------------------------------------- jobs in slices
def test_a_file_over_the_token_budget_is_refused_saying_how_many_rows_fit(toy):
    data = ("text\n" + ("good " * 30 + "\n") * 40).encode()  # 40 texts, 12 tokens each (cut)
    with pytest.raises(InputError, match=r"more than 100 tokens.*at most 12 tokens.*first 8 of its 40 rows"):
        classify_csv(toy, data, **LIMITS, max_tokens=100)
    assert classify_csv(toy, data, **LIMITS, max_tokens=480)


def test_a_job_advances_in_slices_and_ends_with_the_same_results(toy):
    texts = [" ".join(["good", "bad", "the"][: 1 + i % 3] * (1 + i % 4)) for i in range(45)]
    data = ("text\n" + "\n".join(texts) + "\n").encode()
    job = FileJob(toy, data, **LIMITS, batch_size=4, max_batch_tokens=30)
    seen, fractions = [], []
    while not job.finished:
        seen.append(job.advance(seconds=0))  # one batch (or a few texts while reading) a call
        fractions.append(job.fraction)
    assert len(seen) > 10 and max(seen) <= 4 and sum(seen) == job.total == 45
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert job.to_csv() == classify_csv(toy, data, **LIMITS)
    calls = []
    classify_csv(toy, data, **LIMITS, progress=lambda j: calls.append(j.done))
    assert calls[-1] == 45


def test_a_job_can_be_cancelled_or_run_out_of_time_and_keeps_its_partial_results(toy):
    data = ("text\n" + "good movie\n" * 30).encode()
    job = FileJob(toy, data, **LIMITS, batch_size=5)
    while job.done == 0:
        job.advance(seconds=0)  # reads the texts (16 a call), then one batch of 5 a call
    job.cancel()
    assert job.finished and job.stopped == "cancelled" and job.advance() == 0
    out = read_csv(job.to_csv())
    assert [bool(row["predicted_label"]) for row in out] == [True] * 5 + [False] * 25
    slow = FileJob(toy, data, **LIMITS, batch_size=5, max_seconds=1e-9)
    slow.advance(seconds=60)
    assert slow.finished and slow.stopped == "time" and slow.done < 30
    with pytest.raises(InputError, match="longer than max_seconds"):
        classify_csv(toy, data, **LIMITS, max_seconds=1e-9)


def test_batches_hold_at_most_batch_size_texts_and_max_tokens_padded_tokens():
    lengths = [5, 50, 3, 3, 40, 7, 200, 1, 9, 12]
    batches = plan_batches(lengths, batch_size=3, max_tokens=60, window=4)
    assert sorted(i for b in batches for i in b) == list(range(10))
    for batch in batches:
        assert len(batch) <= 3
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= 60
    assert [set(b) <= set(range(0, 4)) or set(b) <= set(range(4, 8)) or set(b) <= {8, 9}
            for b in batches] == [True] * len(batches)  # fmt: skip


def test_csv_output_reads_back_when_texts_hold_bare_carriage_returns(toy):
    upload = b'text\n"good\rfood"\n"bad\r\nday"\n'
    out = classify_csv(toy, upload, max_bytes=10_000, max_rows=10)
    rows = list(csv.reader(io.StringIO(out.decode("utf-8"), newline="")))
    assert [row[0] for row in rows[1:]] == ["good\rfood", "bad\r\nday"]
    assert all(len(row) == len(rows[0]) for row in rows)


# ---------------------------------------------------------------- unreadable text
def test_unknown_share_counts_unk_among_content_tokens(toy):
    from lmkit.tasks.text_classify import UNREADABLE_SHARE, unknown_share

    tokenizer = toy.tokenizer
    assert unknown_share(tokenizer, tokenizer.encode("good movie")) == 0.0  # [CLS], [SEP] not counted
    assert unknown_share(tokenizer, tokenizer.encode("good 电影 真的")) == pytest.approx(2 / 3)
    assert unknown_share(tokenizer, [1, 2]) == 0.0  # nothing but specials: nothing unknown
    assert unknown_share(object(), [5, 6]) == 0.0  # no unknown token at all (byte-level BPE)
    readable = classify(toy, "good food")
    unreadable = classify(toy, "这部 电影 很 无聊")
    assert readable.readable and readable.unknown_share == 0.0
    assert not unreadable.readable and unreadable.unknown_share == 1.0 > UNREADABLE_SHARE
    batch = predict_batch(toy, ["good food", "好 good", "好 吃 的"])
    assert batch.unknown_share == (0.0, 0.5, 1.0)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("The food was cold.", "en"),
        ("Café crème, très bon", "en"),  # Latin script: an English model at least reads it
        ("这部电影很无聊", "zh"),
        ("App 太好用了 yyds", "zh"),  # 4 of 11 letters are Chinese: over 30%
        ("一个 wonderful film", "en"),  # 2 of 14 letters: under 30%
        ("12345 !!!", None),
        ("Это хороший фильм", None),
        ("", None),
    ],
)
def test_text_language(text, language):
    from lmkit.tasks.text_classify import text_language

    assert text_language(text) == language


def test_a_file_of_unreadable_texts_says_so(toy):
    job = FileJob(toy, "text\ngood food\n这部 电影 很 无聊\n好 吃\n".encode(), **LIMITS)
    while not job.finished:
        job.advance()
    assert any("2 text(s) are mostly unknown" in note for note in job.notes), job.notes
    readable = FileJob(toy, b"text\ngood food\nbad movie\n", **LIMITS)
    while not readable.finished:
        readable.advance()
    assert not any("unknown" in note for note in readable.notes)
