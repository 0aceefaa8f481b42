"""Classify page: sentiment with a built-in classifier, why it decided, and whole files at once.

One text gives the class probabilities and a per-token saliency map (gradient × input or
integrated gradients); a CSV or text file gives a downloadable CSV of predictions.
"""

from __future__ import annotations

import csv
import io

import common
import streamlit as st

MAX_UPLOAD_MB = 1  # the server allows 2 MB (.streamlit/config.toml); this page asks for less
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1_000_000
MAX_ROWS = 2_000  # about 10 s on MiniLM on one core: a classroom can share that
PREVIEW_ROWS = 20
DEFAULT_TEXT = "The film was slow at first, but the ending was wonderful."
# Integrated gradients first: a confident model (p ≈ 1) has almost no gradient left at its
# input, so gradient × input shows near-zero scores where integrated gradients still explains.
METHODS = {"integrated gradients": "integrated_gradients", "gradient × input": "gradient_x_input"}
RESULT_KEY = "classify_result"
BATCH_KEY = "classify_batch_result"


def _describe(name: str) -> str:
    from lmkit.hub import BUILTIN_MODELS

    info = BUILTIN_MODELS.get(name)
    return f"{name}: {info.description}" if info else name


def _explain(loaded, text: str, method: str, steps: int):
    from lmkit.tasks import saliency

    if METHODS[method] == "integrated_gradients":
        return saliency.integrated_gradients(loaded, text, steps=steps)
    return saliency.gradient_x_input(loaded, text)


def _one_text(model_name: str) -> None:
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
    if st.button("Classify", type="primary", key="classify_go"):
        if cleaned.empty:
            st.info("Type a text above first: there is nothing to classify.")
        else:
            with common.guarded("classifying the text"), common.work_slot("the classification"):
                from lmkit.tasks.text_classify import classify

                loaded = common.load_builtin(model_name)
                result = classify(loaded, cleaned.text)
                st.session_state[RESULT_KEY] = (model_name, cleaned.text, result, None)
                # A failed explanation must not hide the classification itself.
                with common.guarded("explaining the decision"):
                    explanation = _explain(loaded, cleaned.text, method, steps)
                    st.session_state[RESULT_KEY] = (model_name, cleaned.text, result, explanation)
    stored = st.session_state.get(RESULT_KEY)
    if not stored or stored[:2] != (model_name, cleaned.text):
        return
    _, _, result, explanation = stored
    with common.guarded("drawing the result"):
        from lmkit.viz.saliency import class_probabilities, token_saliency

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
        f"UTF-8, at most {MAX_UPLOAD_MB} MB and {MAX_ROWS:,} texts. You get the same table back "
        "with the predicted label and one probability column per label."
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
    if upload is not None and st.button(
        "Classify the file", type="primary", key="classify_batch_go"
    ):
        with common.guarded("classifying the file"), common.work_slot("the file"):
            from lmkit.tasks.text_classify import classify_csv

            data = upload.getvalue()
            output = classify_csv(
                common.load_builtin(model_name),
                data,
                max_bytes=MAX_UPLOAD_BYTES,
                max_rows=MAX_ROWS,
                text_column=common.clean_text(column, 200).text.strip() or None,
            )
            st.session_state[BATCH_KEY] = (model_name, upload.file_id, output)
    stored = st.session_state.get(BATCH_KEY)
    if upload is None or not stored or stored[:2] != (model_name, upload.file_id):
        return
    output = stored[2]
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
        st.success(f"Classified {len(rows) - 1:,} rows.")
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
    model_name = st.selectbox("Model", models, format_func=_describe, key="classify_model")
    one, many = st.tabs(["One text", "Many texts (file)"])
    with one:
        _one_text(model_name)
    with many:
        _many_texts(model_name)
