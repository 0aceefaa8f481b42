"""Classify page: sentiment with a built-in classifier, why it decided, and whole files at once.

One text gives the class probabilities and a per-token saliency map (gradient × input or
integrated gradients); a CSV or text file gives a downloadable CSV of predictions.

A file is a :class:`lmkit.tasks.classify_files.FileJob` kept in the session: bounded by tokens
(``MAX_FILE_TOKENS``) and by work time (``MAX_JOB_SECONDS``), run in one-second chunks, each in
its own batch work slot (:func:`common.work_slot`), so other visitors' work goes in between,
with a progress bar and a **Stop** button; one file at a time per session.
"""

from __future__ import annotations

import csv
import io

import common
import streamlit as st

from lmkit.serving import SharedMemo

MAX_UPLOAD_MB = 1  # the server allows 2 MB (.streamlit/config.toml); this page asks for less
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1_000_000
MAX_ROWS = 2_000
# Work grows with tokens, not rows: MiniLM reads ~1,700 tokens/s on one core, so a full file is
# about 15 s of work, done in 1-second chunks that let other visitors' work in between.
MAX_FILE_TOKENS = 25_000
MAX_BATCH_TOKENS = 1_024  # padded tokens per forward pass: well under a second on MiniLM
CHUNK_SECONDS = 1.0  # work per chunk, each in its own (batch) work slot
MAX_JOB_SECONDS = 60.0  # a file stops after this much work, keeping what it has done
PREVIEW_ROWS = 20
EXPLANATIONS_KEPT = 256  # recent (model, text, method, steps) explanations shared by all sessions
DEFAULT_TEXT = "The film was slow at first, but the ending was wonderful."
# Integrated gradients first: a confident model (p ≈ 1) has almost no gradient left at its
# input, so gradient × input shows near-zero scores where integrated gradients still explains.
METHODS = {"integrated gradients": "integrated_gradients", "gradient × input": "gradient_x_input"}
RESULT_KEY = "classify_result"
BATCH_KEY = "classify_batch_result"  # (job, None, the results CSV)
JOB_KEY = "classify_job"  # {"job": FileJob, "key": (model, file id, column), "active": bool}
ESCAPE_NOTE = (
    "The download is the uploaded table with `predicted_label`, one `p_<label>` column per "
    "label (probabilities) and `truncated` added. To keep a spreadsheet from running a text as "
    "a formula, a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return (after "
    "any leading spaces) gets a `'` in front; plain numbers such as `-5` stay as they are."
)
ESCAPED_COLUMN_NOTE = (
    " Some cells were escaped: the last column, `escaped`, lists in each row the numbers of "
    "the columns (1 = first) whose cell got that `'`; any other `'` was in your file."
)


AUTO = "auto"  # the model list's first entry: the classifier made for the text's language
LANGUAGE_NAMES = {"en": "English", "zh": "Chinese · 中文"}


def _languages(name: str) -> str:
    from lmkit.hub import BUILTIN_MODELS

    info = BUILTIN_MODELS.get(name)
    if info is None or not info.languages:
        return "story-world sentences only"
    return " and ".join(LANGUAGE_NAMES.get(lang, lang) for lang in info.languages)


def _describe(name: str) -> str:
    if name == AUTO:
        return "Automatic: the model made for the text's language"
    return f"{name} — {_languages(name)}"


def _pick_model(choice: str, text: str, models: list[str]) -> str:
    """The model that reads ``text``: the one chosen, or for "automatic" the installed
    classifier made for the text's language (the first one when none is)."""
    if choice != AUTO:
        return choice
    from lmkit.tasks.text_classify import classifier_for, text_language

    picked = classifier_for(text_language(text) or "en")
    return picked if picked in models else models[0]


@st.cache_resource(show_spinner=False)
def _recent_explanations() -> SharedMemo:
    """Explanations shared by every session: a class clicking **Classify** on the example text
    gets one integrated-gradients run between them, not one each (they are deterministic)."""
    return SharedMemo(EXPLANATIONS_KEPT)


def _explain(loaded, text: str, method: str, steps: int):
    from lmkit.tasks import saliency

    def run():
        with common.work_slot("the explanation"):
            if METHODS[method] == "integrated_gradients":
                # All steps + 1 points of the path in one forward pass, not two.
                return saliency.integrated_gradients(
                    loaded, text, steps=steps, batch_size=steps + 1
                )
            return saliency.gradient_x_input(loaded, text)

    return _recent_explanations().get_or_make((loaded.name, text, method, steps), run)


def _one_text(choice: str, models: list[str]) -> None:
    raw = st.text_area("Text", value=DEFAULT_TEXT, key="classify_text", help=common.CHAR_LIMIT_HINT)
    left, right = st.columns(2)
    method = left.radio(
        "Saliency",
        list(METHODS),
        key="classify_method",
        horizontal=True,
        help="Integrated gradients: averages the gradient on the way from an empty input to "
        "yours; its scores add up to the change in log-probability. Gradient × input: one "
        "backward pass, fast, but near zero when the model is very sure.",
    )
    steps = right.select_slider(
        "Integration steps",
        [8, 16, 32, 64],
        16,  # ~0.2 s on MiniLM; the scores' sum is then within ~2% of the change they explain
        key="classify_steps",
        disabled=METHODS[method] != "integrated_gradients",
    )
    cleaned = common.clean_text(raw)
    common.show_notes(cleaned)
    if not cleaned.empty:  # load the model while the page is read, not on the first click
        with common.guarded("loading the model"):
            common.load_builtin(_pick_model(choice, cleaned.text, models))
    if st.button("Classify", type="primary", key="classify_go"):
        if cleaned.empty:
            st.info("Type a text above first: there is nothing to classify.")
        else:
            with common.guarded("classifying the text"):
                model_name = _pick_model(choice, cleaned.text, models)
                loaded = common.load_builtin(model_name)
                # One batched forward for every visitor who clicked at about the same time.
                result = common.classification_batcher(loaded).classify(cleaned.text)
                stored = (choice, cleaned.text, result, None, model_name)
                st.session_state[RESULT_KEY] = stored
                # Text the model cannot read gets no label, so nothing to explain either;
                # a failed explanation must not hide the classification itself.
                if result.readable:
                    with common.guarded("explaining the decision"):
                        explanation = _explain(loaded, cleaned.text, method, steps)
                        st.session_state[RESULT_KEY] = (*stored[:3], explanation, model_name)
    stored = st.session_state.get(RESULT_KEY)
    if not stored or stored[:2] != (choice, cleaned.text):
        return
    _, _, result, explanation, model_name = stored
    with common.guarded("drawing the result"):
        from lmkit.viz.saliency import class_probabilities, token_saliency

        if choice == AUTO:
            st.caption(f"Read by **{model_name}** ({_languages(model_name)}).")
        if not result.readable:
            st.warning(
                f"**{model_name} cannot read this text**: {result.unknown_share:.0%} of its "
                f"tokens are unknown to it (`[UNK]`), so any label would be a guess. It reads "
                f"{_languages(model_name)}; choose a model for the text's language, or "
                "**Automatic**."
            )
            return
        confidence = result.probabilities[result.label]
        st.success(f"**{result.label}** ({confidence:.0%})")
        if result.truncated:
            st.info(
                f"The text has {result.n_tokens} tokens; the model read only as many as it "
                "accepts (the start of the text)."
            )
        bars = class_probabilities(list(result.probabilities), list(result.probabilities.values()))
        bars.update_layout(height=max(240, 60 * len(result.probabilities) + 140))
        st.plotly_chart(bars, key="classify_probabilities")
        if explanation is None:
            st.warning("No saliency for this text: explaining the decision failed.")
            return
        st.plotly_chart(token_saliency(explanation), key="classify_saliency")
        st.caption(
            f"Saliency for the label **{explanation.target_label}**: blue tokens pushed the model "
            "towards it, red ones away from it. Saliency shows what the model used, not what "
            "is true."
        )
        if explanation.baseline_score is not None:
            change = explanation.target_score - explanation.baseline_score
            st.caption(
                f"Check: the scores add up to {sum(explanation.scores):+.3f}; the log-probability "
                f"of **{explanation.target_label}** rose by {change:+.3f} from the empty input "
                f"({explanation.baseline} baseline, {explanation.steps} steps)."
            )


def _many_texts(model_name: str) -> None:
    st.write(
        "Upload a **CSV** with a header naming the text column (`text`, `review`, `sentence`…; "
        "comma, tab or semicolon separated) or a **.txt** file with one text per line, "
        f"UTF-8, at most {MAX_UPLOAD_MB} MB, {MAX_ROWS:,} texts and {MAX_FILE_TOKENS:,} tokens "
        "in all (a short review is 10–30 tokens). You get the same table back with the "
        "predicted label and one probability column per label."
    )
    upload = st.file_uploader(
        "File to classify",
        type=["csv", "tsv", "txt"],
        key="classify_upload",
        max_upload_size=MAX_UPLOAD_MB,
    )
    column = st.text_input(
        "Text column (optional)", key="classify_column", help="Leave empty to detect it."
    )
    text_column = common.clean_text(column, 200).text.strip() or None
    key = (model_name, upload.file_id if upload is not None else None, text_column)
    state = st.session_state.get(JOB_KEY)
    if state is not None and state["active"] and state["key"] != key:
        state["job"].cancel()  # the file, model or column changed: its results would not show
        state["active"] = False
    if upload is None:
        return
    running = state is not None and state["active"]
    go_column, stop_column = st.columns(2)
    # Stop is always drawn (disabled while nothing runs), so the layout does not jump.
    stop = stop_column.button("Stop", key="classify_batch_stop", disabled=not running)
    if go_column.button("Classify the file", type="primary", key="classify_batch_go"):
        if state is not None and state["active"]:
            job = state["job"]
            st.warning(
                f"This page is already classifying a file ({job.done:,} of {job.total:,} texts "
                "done): one file at a time. Wait for it, or press **Stop** first."
            )
        else:
            state = _new_job(model_name, upload, text_column, key)
    if state is not None and state["active"]:
        if stop:
            state["job"].cancel()
            state["active"] = False
        else:
            _run_job(state)
    state = st.session_state.get(JOB_KEY)  # gone if the file was refused while being read
    if state is not None and state["key"] == key and state["job"].finished:
        _show_results(state["job"])


def _new_job(model_name: str, upload, text_column: str | None, key: tuple) -> dict | None:
    """Read the upload into a job (refusals are shown as messages); None if it was refused."""
    st.session_state.pop(JOB_KEY, None)
    st.session_state.pop(BATCH_KEY, None)
    with common.guarded("reading the file"), common.work_slot("reading the file", batch=True):
        from lmkit.tasks.classify_files import FileJob

        job = FileJob(
            common.load_builtin(model_name), upload.getvalue(), max_bytes=MAX_UPLOAD_BYTES,
            max_rows=MAX_ROWS, text_column=text_column, max_tokens=MAX_FILE_TOKENS,
            max_seconds=MAX_JOB_SECONDS, max_batch_tokens=MAX_BATCH_TOKENS,
        )  # fmt: skip
        st.session_state[JOB_KEY] = {"job": job, "key": key, "active": True}
    return st.session_state.get(JOB_KEY)


def _progress_text(job) -> str:
    if job.done == 0 and job.fraction < 0.1:
        return f"Reading the texts… ({job.tokens:,} tokens so far)"
    return f"Classified {job.done:,} of {job.total:,} texts · {job.seconds:.1f} s of work"


def _run_job(state: dict) -> None:
    """Work on the job in chunks of ``CHUNK_SECONDS``, each in its own batch slot, so that other
    visitors' work runs in between; redraw the progress bar after each chunk. A click on Stop
    (or anywhere) reruns the page, which interrupts this loop at the progress bar; the job
    lives in the session, so the next run goes on with it (or stops it)."""
    job = state["job"]
    bar = st.progress(job.fraction, text=_progress_text(job))
    with common.guarded("classifying the file"):
        try:
            while not job.finished:
                with common.work_slot("the next part of the file", batch=True):
                    job.advance(seconds=CHUNK_SECONDS)
                bar.progress(job.fraction, text=_progress_text(job))
        except Exception:  # a refused file or a busy server: stop here, with the message
            bar.empty()
            state["active"] = False
            if job.stopped == "refused":
                st.session_state.pop(JOB_KEY, None)
            raise
    state["active"] = False
    bar.empty()


def _show_results(job) -> None:
    for note in job.notes:
        st.info(note)
    if job.stopped == "cancelled":
        st.warning(
            f"Stopped, as you asked, after {job.done:,} of {job.total:,} texts. The download "
            "holds those; the other rows have empty result cells."
        )
    elif job.stopped == "time":
        st.warning(
            f"Stopped after {job.max_seconds:g} s of work, the limit per file, with {job.done:,} "
            f"of {job.total:,} texts done. The download holds those; split the file for the rest."
        )
    table = job.table
    st.success(
        f"Classified {job.done:,} texts from {len(table.rows):,} rows ({table.lines:,} lines in "
        f"the file, {job.tokens:,} tokens) in {job.seconds:.1f} s."
    )
    cached = st.session_state.get(BATCH_KEY)
    if cached is None or cached[0] is not job:
        cached = st.session_state[BATCH_KEY] = (job, None, job.to_csv())
    output = cached[2]
    st.download_button(
        "Download the results (CSV)",
        output,
        file_name="predictions.csv",
        mime="text/csv",
        key="classify_download",
        on_click="ignore",
        type="primary",
    )
    with common.guarded("showing the results"):
        # newline="" lets the csv module handle line breaks inside quoted texts itself.
        rows = list(csv.reader(io.StringIO(output.decode("utf-8"), newline="")))
        st.caption(ESCAPE_NOTE + (ESCAPED_COLUMN_NOTE if rows[0][-1].startswith("escaped") else ""))
        st.dataframe(
            [dict(zip(rows[0], row, strict=False)) for row in rows[1 : PREVIEW_ROWS + 1]],
            hide_index=True,
        )
        if len(rows) - 1 > PREVIEW_ROWS:
            st.caption(f"The first {PREVIEW_ROWS} of {len(rows) - 1:,} rows; download for all.")


st.title("🏷️ Classify")
st.write(
    "A classifier reads a whole text and gives a probability to every label. Saliency then asks "
    "which tokens moved that decision, by following the gradient back to the token embeddings."
)
models = common.model_names("classifier")
if not models:
    st.info(
        "No classifier model is installed yet. Build one with "
        "`python -m lmkit.recipes.tiny_sentiment` (or reinstall lmkit), then reload this page."
    )
else:
    choices = [AUTO, *models] if len(models) > 1 else models
    model_name = st.selectbox("Model", choices, format_func=_describe, key="classify_model")
    st.caption(
        "Which model reads what: "
        + "; ".join(f"**{m}**: {_languages(m)}" for m in models)
        + (". **Automatic** picks by the text's language." if AUTO in choices else ".")
    )
    one, many = st.tabs(["One text", "Many texts (file)"])
    with one:
        _one_text(model_name, models)
    with many:
        # one model reads a whole file; automatic takes the English one
        _many_texts(_pick_model(model_name, "", models))
