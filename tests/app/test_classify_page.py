"""The Classify page: probabilities and saliency equal what the model itself computes, the
method switch changes the scores, files come back as a CSV of predictions, and bad uploads or
odd text give friendly messages, never a traceback.

The page is driven with a tiny random BERT classifier put in place of the built-in ones (so the
checks do not depend on which trained models are installed), and once more with every built-in
classifier that is present.
"""

from __future__ import annotations

import csv
import io

import common
import pytest
import streamlit as st
import torch
from hypothesis import given
from hypothesis import strategies as st_

from lmkit.bert.model import BertConfig, BertForSequenceClassification
from lmkit.hub import LoadedModel
from lmkit.tokenizers.bert_bpe import BertBPETokenizer

from .conftest import no_errors, open_page, plotly_figures
from .page_text import page_settings, page_text, shown_messages

FAKE = "fake-sentiment"
BATCH = "classify_batch_result"  # where the page keeps the results CSV
REAL = {"model_names": common.model_names, "load_builtin": common.load_builtin}
TEXT = "The film was slow at first, but the ending was wonderful."


class LenientClassifier(BertForSequenceClassification):
    """Takes ``input_ids`` and ``inputs_embeds`` together (the embeddings win), as
    :mod:`lmkit.tasks.saliency` passes both; lmkit's BERT refuses that (reported to the lead)."""

    def forward(self, input_ids=None, attention_mask=None, *, inputs_embeds=None, **kwargs):
        if inputs_embeds is not None:
            input_ids = None
        return super().forward(input_ids, attention_mask, inputs_embeds=inputs_embeds, **kwargs)


@pytest.fixture(scope="module")
def fake():
    torch.manual_seed(0)
    tokenizer = BertBPETokenizer.train_bert(
        "the film was slow at first but the ending was wonderful 我喜欢 " * 20, vocab_size=300
    )
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, max_position=64, n_layer=1, n_head=2, n_embd=16,
        intermediate=32, dropout=0.0, labels=("negative", "positive"),
    )  # fmt: skip
    model = LenientClassifier(config).eval()
    model.max_length = 64  # text_classify reads this first; long texts are cut to it
    return LoadedModel(model, tokenizer, FAKE, "classifier", None)


@pytest.fixture(scope="module")
def page(fake):
    names, load = common.model_names, common.load_builtin
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            common, "model_names", lambda kind: [FAKE] if kind == "classifier" else names(kind)
        )
        patch.setattr(common, "load_builtin", lambda name: fake if name == FAKE else load(name))
        yield open_page("classify")


def _probabilities(loaded, text: str) -> torch.Tensor:
    ids = torch.tensor([loaded.tokenizer.encode(text)])
    with torch.no_grad():
        return loaded.model(ids).logits.softmax(-1)[0]


def _gradient_x_input(loaded, text: str, target: int) -> torch.Tensor:
    ids = torch.tensor([loaded.tokenizer.encode(text)])
    embeds = loaded.model.input_embeddings(ids).detach().requires_grad_(True)
    log_p = loaded.model(inputs_embeds=embeds).logits.log_softmax(-1)[0, target]
    (grad,) = torch.autograd.grad(log_p, embeds)
    return (grad * embeds).sum(-1)[0].detach()


def _classify(at, text: str, method: str = "gradient × input"):
    at.text_area(key="classify_text").input(text).run()
    at.radio(key="classify_method").set_value(method).run()
    at.button(key="classify_go").click().run()
    return at


def test_probabilities_and_saliency_are_the_models_own(page, fake):
    _classify(page, TEXT)
    no_errors(page)
    probs = _probabilities(fake, TEXT)
    best = int(probs.argmax())
    bars, saliency = plotly_figures(page)
    assert list(bars["data"][0]["y"]) == ["negative", "positive"]
    assert torch.allclose(torch.tensor(bars["data"][0]["x"]).float(), probs, atol=1e-5)
    assert page.success[0].value.startswith(f"**{fake.model.labels[best]}**")
    ids = fake.tokenizer.encode(TEXT)
    cells = saliency["data"][0]["customdata"]
    assert len(cells) == len(ids) and cells[0][1] == "[CLS]" and cells[-1][1] == "[SEP]"
    scores = torch.tensor([cell[3] for cell in cells])
    assert torch.allclose(scores, _gradient_x_input(fake, TEXT, best), atol=1e-4)


def test_integrated_gradients_give_other_scores_that_add_up(page, fake):
    _classify(page, TEXT, "gradient × input")
    plain = [cell[3] for cell in plotly_figures(page)[1]["data"][0]["customdata"]]
    _classify(page, TEXT, "integrated gradients")
    no_errors(page)
    figure = plotly_figures(page)[1]
    integrated = [cell[3] for cell in figure["data"][0]["customdata"]]
    assert "integrated gradients" in figure["layout"]["title"]["text"]
    assert len(integrated) == len(plain) and integrated != plain
    assert integrated[0] == 0.0 and integrated[-1] == 0.0  # [CLS]/[SEP] stay in the baseline


def test_an_empty_text_asks_for_one(page):
    _classify(page, "   \n ")
    no_errors(page)
    assert any("nothing to classify" in m for m in shown_messages(page))


def _upload(at, name: str, data: bytes, column: str = ""):
    at.text_input(key="classify_column").input(column).run()
    at.file_uploader(key="classify_upload").set_value((name, data, "text/csv")).run()
    at.button(key="classify_batch_go").click().run()
    return at


def test_a_csv_comes_back_with_a_prediction_per_row(page, fake):
    texts = ["I loved it", "Terrible, boring film", "我喜欢", "so-so; not sure"]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows([["id", "review"], *[[i, t] for i, t in enumerate(texts)]])
    _upload(page, "reviews.csv", buffer.getvalue().encode())
    no_errors(page)
    assert page.get("download_button")[0].proto.label == "Download the results (CSV)"
    output = page.session_state["classify_batch_result"][2].decode()
    header, *rows = list(csv.reader(io.StringIO(output)))
    assert header == ["id", "review", "predicted_label", "p_negative", "p_positive", "truncated"]
    assert [row[1] for row in rows] == texts
    for row in rows:
        probs = _probabilities(fake, row[1])
        assert [float(p) for p in row[3:5]] == pytest.approx(probs.tolist(), abs=1e-5)
        assert row[2] == fake.model.labels[int(probs.argmax())]
    assert len(page.dataframe[0].value) == len(texts)


def test_plain_text_is_one_text_per_line(page):
    _upload(page, "lines.txt", b"good film\n\nbad film\n")
    no_errors(page)
    messages = " ".join(shown_messages(page))
    assert "Classified 2 texts from 2 rows (3 lines in the file" in messages
    assert "read as plain text: 2 texts" in messages and "first line included" in messages


def _reviews(n: int) -> list[str]:
    return ["id,review", *[f"{i},the film was slow at first {i}" for i in range(1, n + 1)]]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # finding 2: one stray quote on row 5 used to give "Classified 6 rows." and no warning
        (("\n".join([*_reviews(5)[:5], '5,"the film was slow', *_reviews(999)[6:]])).encode(),
         'CSV row 6: a quote (") opens a cell on line 6 and is never closed'),
        (b"id,opinion\n1,the film was slow\n2,wonderful\n", "columns 'id', 'opinion'"),
        (b"sep=;\nid;opinion\n1;the film was slow\n", "columns 'id', 'opinion'"),
        # finding 1: 1,100 rows of 490 "!" held a work slot for minutes; now bounded by tokens
        (("text\n" + ("!" * 490 + "\n") * 1_100).encode(), "fit within the limit"),
    ],
)  # fmt: skip
def test_uploads_that_would_be_misread_or_too_heavy_are_refused_with_a_reason(page, data, message):
    _upload(page, "upload.csv", data)
    assert not page.exception
    errors = [e.value for e in page.error]
    assert any(message in e for e in errors), errors
    assert "classify_job" not in page.session_state and not page.get("download_button")


def test_the_token_limit_says_how_many_rows_fit(page):
    _upload(page, "bangs.csv", ("text\n" + ("!" * 490 + "\n") * 1_100).encode())
    (error,) = [e.value for e in page.error]
    limit, per_text = classify_page_constant("MAX_FILE_TOKENS"), 64  # the fake model reads 64
    assert f"more than {limit:,} tokens" in error and f"at most {per_text} tokens" in error
    assert f"The first {limit // per_text:,} of its 1,100 rows fit" in error


def classify_page_constant(name: str):
    import ast
    from pathlib import Path

    source = (Path(common.__file__).parent / "views" / "classify.py").read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            return ast.literal_eval(node.value)
    raise KeyError(name)


@pytest.mark.parametrize(
    ("data", "texts", "note"),
    [
        (b"id,review\r1,good film\r2,bad film\r", ["good film", "bad film"], "CR only"),
        (b"sep=;\nid;review\n1;good, really\n2;bad\n", ["good, really", "bad"], "delimiter"),
        ("review\n\u200b\ngood film\n\u00a0\n".encode(), ["good film"], "nothing visible"),
    ],
)
def test_line_endings_sep_lines_and_invisible_rows_are_handled_and_said(page, data, texts, note):
    _upload(page, "upload.csv", data)
    no_errors(page)
    header, *rows = list(csv.reader(io.StringIO(page.session_state[BATCH][2].decode())))
    assert [row[header.index("review")] for row in rows] == texts
    messages = " ".join(shown_messages(page))
    assert note in messages and f"Classified {len(texts)} texts" in messages


def test_a_zero_width_cell_is_skipped_like_an_empty_one(page):
    # finding 14: a U+200B cell was classified (positive, 0.9998) while whitespace was skipped
    _upload(page, "upload.csv", "text,id\n\u200b,1\ngood film,2\n \u00a0,3\n".encode())
    no_errors(page)
    header, *rows = list(csv.reader(io.StringIO(page.session_state[BATCH][2].decode())))
    assert [row[header.index("predicted_label")] for row in rows] == ["", rows[1][2], ""]
    assert rows[1][2] and any("2 row(s) have no visible text" in m for m in shown_messages(page))


def test_the_download_says_which_cells_were_escaped(page):
    _upload(page, "upload.csv", b'text,note\n" =1+1",-5\n-5 stars,ok\ngood,fine\n')
    no_errors(page)
    header, *rows = list(csv.reader(io.StringIO(page.session_state[BATCH][2].decode())))
    assert header[-1] == "escaped" and [r[-1] for r in rows] == ["1", "1", ""]
    assert [r[:2] for r in rows] == [["' =1+1", "-5"], ["'-5 stars", "ok"], ["good", "fine"]]
    caption = " ".join(c.value for c in page.caption)
    assert "gets a `'` in front" in caption and "`escaped`, lists" in caption


def _running_job(fake, n: int = 40, **kwargs):
    """A job as the page keeps it mid-run: read, one batch done, still active."""
    from lmkit.tasks.classify_files import FileJob

    data = ("text\n" + "the film was wonderful\n" * n).encode()
    job = FileJob(fake, data, max_bytes=10**6, max_rows=2_000, batch_size=4, **kwargs)
    while job.done == 0 and not job.finished:
        job.advance(seconds=0)
    return job, data


def _with_job(at, job, data):
    """Put ``job`` in the session as the page's running job for the uploaded ``data``."""
    at.text_input(key="classify_column").input("").run()
    at.file_uploader(key="classify_upload").set_value(("f.csv", data, "text/csv")).run()
    file_id = at.file_uploader(key="classify_upload").value.file_id
    at.session_state["classify_job"] = {"job": job, "key": (FAKE, file_id, None), "active": True}
    at.session_state["classify_batch_result"] = None
    return at


def _interrupted(at, job):
    """Run the page once with ``job`` running, and end that run after its next chunk, as a
    visitor's click ends a run mid-job (Streamlit stops it at its next call); the job stays."""
    real = job.advance

    def advance(seconds=1.0):
        job.advance = real
        done = real(seconds=0)
        st.stop()  # what the next Streamlit call does when the visitor clicked
        return done

    job.advance = advance
    at.run()
    assert not at.exception
    assert at.session_state["classify_job"]["active"] and not job.finished
    return at


def test_a_second_click_while_a_file_runs_gets_a_message_and_the_job_goes_on(page, fake):
    job, data = _running_job(fake)
    _interrupted(_with_job(page, job, data), job)
    assert job.done == 8
    page.button(key="classify_batch_go").click().run()
    no_errors(page)
    assert any("already classifying a file (8 of 40 texts" in w.value for w in page.warning)
    assert page.session_state["classify_job"]["job"] is job  # not restarted
    assert job.finished and job.done == 40 and job.stopped is None


def test_stop_cancels_the_running_job_and_keeps_what_it_did(page, fake):
    job, data = _running_job(fake)
    _interrupted(_with_job(page, job, data), job)
    page.button(key="classify_batch_stop").click().run()
    no_errors(page)
    assert job.stopped == "cancelled" and job.done == 8
    assert any("Stopped, as you asked, after 8 of 40 texts" in w.value for w in page.warning)
    header, *rows = list(csv.reader(io.StringIO(page.session_state[BATCH][2].decode())))
    assert sum(bool(row[header.index("predicted_label")]) for row in rows) == 8
    assert page.get("download_button")
    page.button(key="classify_batch_go").click().run()  # a new click starts afresh
    no_errors(page)
    assert page.session_state["classify_job"]["job"] is not job
    assert page.session_state["classify_job"]["job"].done == 40


def test_a_job_stops_at_its_time_bound(page, fake):
    job, data = _running_job(fake, max_seconds=1e-9)
    assert job.stopped == "time"  # after its first slice of reading
    _with_job(page, job, data).run()
    no_errors(page)
    assert any("of work, the limit per file, with 0 of 40" in w.value for w in page.warning)


def test_the_page_works_in_batch_slots_and_gives_each_back(page, monkeypatch):
    slots = common.Slots(2)
    taken = []
    acquire = slots.acquire
    monkeypatch.setattr(common, "_slots", lambda: slots)
    monkeypatch.setattr(slots, "acquire", lambda **kw: taken.append(kw["batch"]) or acquire(**kw))
    _upload(page, "upload.csv", ("text\n" + "the film was wonderful\n" * 50).encode())
    no_errors(page)
    assert taken and all(taken)  # every piece of file work is a batch chunk
    assert slots.acquire(batch=False, timeout=0) and slots.acquire(batch=True, timeout=0)


@pytest.mark.parametrize(
    ("data", "column", "message"),
    [
        (b"\xff\xfe\x00b\x00a\x00d", "", "not UTF-8"),
        (b"text\n\n\n", "", "no text"),
        (b"id,text\n1,a,b\n", "", "fields"),
        (b"id,review\n1,fine\n", "comment", "No column named 'comment'"),
        (("text\n" + "ok\n" * 2_001).encode(), "", "limit is 2,000"),
        (b"id,review\n1,fine\n", "comment", "the columns found are 'id', 'review'"),
    ],
)
def test_malformed_uploads_get_a_clear_message(page, data, column, message):
    _upload(page, "upload.csv", data, column)
    assert not page.exception
    assert any(message in e.value for e in page.error), [e.value for e in page.error]
    assert "Traceback" not in " ".join(e.value for e in page.error)


@given(data=st_.binary(max_size=3000))
@page_settings(25)
def test_random_bytes_never_raise(page, data):
    _upload(page, "random.csv", data)
    assert not page.exception
    assert not any("Something went wrong" in e.value for e in page.error)


@given(text=page_text)
@page_settings(20)
def test_anything_typed_gives_a_result_or_a_hint(page, text):
    _classify(page, text)
    no_errors(page)
    assert plotly_figures(page) or shown_messages(page)


def _real_page(monkeypatch):
    for name, function in REAL.items():  # the module's fake may still be in place
        monkeypatch.setattr(common, name, function)
    return open_page("classify")


def test_every_builtin_classifier_present_classifies_and_explains(monkeypatch):
    from lmkit.hub import BUILTIN_MODELS

    at = _real_page(monkeypatch)
    names = common.model_names("classifier")
    if not names:
        assert any("No classifier model" in m for m in shown_messages(at))
    english = (TEXT, "word " * 3000)
    chinese = ("我很喜欢这部电影。",)
    for name in names:
        reads = BUILTIN_MODELS[name].languages or ("en", "zh")  # story world: both scripts
        at.selectbox(key="classify_model").select(name).run()
        for lang, texts in (("en", english), ("zh", chinese)):
            for text in texts:
                _classify(at, text, "integrated gradients")
                no_errors(at)
                if lang in reads:
                    assert len(plotly_figures(at)) == 2, (name, text[:20])
                elif not plotly_figures(at):  # a model that cannot read it says so instead
                    assert any("cannot read this text" in w.value for w in at.warning), name
        rows = (
            'text\n"我喜欢，太好看了"\n难看，不推荐。\n'
            if reads == ("zh",)
            # story-world sentences for tiny-sentiment (it knows only that world's words)
            else 'text\n"I loved the park, it was wonderful."\nThe soup was cold and not delicious.\n'
        )
        _upload(at, "reviews.csv", rows.encode())
        no_errors(at)
        header, *out = list(
            csv.reader(io.StringIO(at.session_state["classify_batch_result"][2].decode()))
        )
        assert header[:2] == ["text", "predicted_label"]
        assert [row[1] for row in out] == ["positive", "negative"], name


@pytest.mark.parametrize(
    ("text", "model"),
    [
        ("This movie was a complete waste of time.", "minilm-sentiment"),
        ("The plot was predictable and the acting was wooden.", "minilm-sentiment"),
        ("这部电影很无聊，看了一半就想走。", "zh-sentiment"),
    ],
)
def test_automatic_reads_a_plain_negative_review_with_the_model_for_its_language(
    monkeypatch, text, model
):
    at = _real_page(monkeypatch)
    if model not in common.model_names("classifier"):
        pytest.fail(f"{model} is a shipped model and must be installed")
    assert at.selectbox(key="classify_model").value == "auto"  # the default
    _classify(at, text)
    no_errors(at)
    assert any(f"Read by **{model}**" in c.value for c in at.caption)
    assert at.success[0].value.startswith("**negative**")


def test_chinese_text_into_the_english_model_gets_no_label(monkeypatch):
    at = _real_page(monkeypatch)
    at.selectbox(key="classify_model").select("minilm-sentiment").run()
    _classify(at, "这部电影很无聊。")
    no_errors(at)
    assert not at.success and not plotly_figures(at)
    assert any("minilm-sentiment cannot read this text" in w.value for w in at.warning)
