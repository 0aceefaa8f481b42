"""Train page: watch a tiny GPT learn, live, on the story world or on text you paste.

The run itself is :class:`lmkit.tasks.live_training.LiveTraining`; this page only lays it out. It
trains in one-second slices, each in a shared work slot (:func:`common.work_slot`), and redraws
the loss curve and the latest samples between slices. A click on **Stop** (or on anything else)
makes Streamlit rerun the page, which interrupts the script between two slices; the run lives
in ``st.session_state``, so the partial model, its history and its samples survive and
**Continue** picks up at the very next step. Steps and seconds are capped so that a classroom
on a small CPU server stays responsive.
"""

from __future__ import annotations

import common
import streamlit as st

from lmkit.errors import InputError
from lmkit.tasks.live_training import (
    MAX_TEXT_CHARS,
    MIN_TEXT_CHARS,
    LiveTraining,
    LiveTrainingSettings,
)
from lmkit.viz import loss_curve

SLICE_SECONDS = 1.0  # train this long between redraws (and between chances to stop)
PAGE_MAX_STEPS = 1_000
PAGE_MAX_SECONDS = 90.0
MODEL_SIZES = {
    "tiny: 2 layers × 64 dims": (2, 2, 64),
    "small: 4 layers × 128 dims": (4, 4, 128),
}
LANGUAGES = {"both": "English and Chinese", "en": "English", "zh": "Chinese"}
EXAMPLE_TEXT = (
    "Once upon a time there was a little fox who lived at the edge of a big forest. "
    "Every morning the fox ran to the river to drink, and every evening it ran back home. "
)


def _settings_form() -> tuple[LiveTrainingSettings | None, str | None]:
    source = st.radio(
        "Train on", ["story", "text"], key="train_source", horizontal=True,
        format_func={"story": "the story world", "text": "my own text"}.get,
    )  # fmt: skip
    text = None
    lang, n_stories = "both", 400
    if source == "story":
        lang = st.radio("Language", list(LANGUAGES), format_func=LANGUAGES.get,
                        key="train_lang", horizontal=True)  # fmt: skip
        n_stories = st.slider("Stories", 50, 2_000, 400, 50, key="train_stories")
    else:
        text = st.text_area(
            "Your text", key="train_text", height=160, max_chars=MAX_TEXT_CHARS,
            placeholder=EXAMPLE_TEXT,
            help=f"At least {MIN_TEXT_CHARS:,} characters; at most {MAX_TEXT_CHARS:,} are used.",
        )  # fmt: skip
    tokenizer = st.radio(
        "Tokenizer", ["bpe", "char"], key="train_tokenizer", horizontal=True,
        format_func={"bpe": "byte-level BPE", "char": "characters"}.get,
        help="Trained on the same text before the model. Characters: more, shorter tokens.",
    )  # fmt: skip
    vocab = st.slider("BPE vocabulary", 300, 1_024, 512, 4, key="train_vocab",
                      disabled=tokenizer != "bpe")  # fmt: skip
    size = st.selectbox("Model size", list(MODEL_SIZES), key="train_size")
    steps = st.slider("Steps", 10, PAGE_MAX_STEPS, 200, 10, key="train_steps")
    seconds = st.slider("Time budget (seconds)", 5, int(PAGE_MAX_SECONDS), 60, 5,
                        key="train_seconds")  # fmt: skip
    lr = st.select_slider("Learning rate", [1e-3, 3e-3, 1e-2], 3e-3, key="train_lr")
    sample_every = st.slider("Sample every … steps", 5, 100, 25, 5, key="train_sample_every")
    seed = st.number_input("Seed", 0, 2**31 - 1, 0, 1, key="train_seed")
    n_layer, n_head, n_embd = MODEL_SIZES[size]
    cleaned = None
    if source == "text":
        cleaned = common.clean_text(text, max_chars=MAX_TEXT_CHARS)
        common.show_notes(cleaned)
    settings = LiveTrainingSettings(
        source=source, lang=lang, n_stories=n_stories, tokenizer=tokenizer,
        bpe_vocab_size=vocab, n_layer=n_layer, n_head=n_head, n_embd=n_embd, lr=float(lr),
        max_steps=int(steps), max_seconds=float(seconds), sample_every=int(sample_every),
        seed=int(seed),
    )  # fmt: skip
    return settings, (cleaned.text if cleaned is not None else None)


def _draw(run: LiveTraining, status, chart, samples) -> None:
    """Redraw progress, the loss curve and the latest samples of ``run``."""
    info = run.summary()
    loss = f", loss {info['loss']:.3f}" if info["loss"] is not None else ""
    val = f", validation {info['val_loss']:.3f}" if info["val_loss"] is not None else ""
    status.progress(
        min(1.0, run.step / run.settings.max_steps),
        text=f"step {run.step} of {run.settings.max_steps} · {run.seconds:.1f} s{loss}{val}",
    )
    if run.history:
        title = f"Loss of a {info['parameters']:,}-parameter GPT"
        chart.plotly_chart(loss_curve(run.history, title=title), key=f"train_curve_{run.step}")
    with samples.container():
        if not run.samples:
            st.caption(f"A sample appears every {run.settings.sample_every} steps.")
        for step, text in reversed(run.samples[-4:]):
            st.markdown(f"**After step {step}**")
            st.text(text or "(the model ended the story at once)")


def _start(settings: LiveTrainingSettings, text: str | None) -> None:
    # A new run replaces the last one even when it is refused: the old run's results (and its
    # "Finished" line) must not stay on screen as if they answered this click.
    for key in ("train_run", "train_active", "train_run_input"):
        st.session_state.pop(key, None)
    try:
        with common.work_slot("preparing the data"):
            run = LiveTraining(settings, text)
    except InputError as exc:  # the visitor's text (too short, too many characters): a hint
        st.warning(str(exc))
        return
    st.session_state.train_run = run
    st.session_state.train_run_input = (settings, text)
    st.session_state.train_active = True


st.title("🏋️ Train a tiny GPT")
st.markdown(
    "Build a tokenizer and a small GPT from scratch and train it right here, on the story world "
    "or on your own text. Watch the loss fall and the samples turn from noise into words. "
    f"Runs stop after at most {PAGE_MAX_STEPS:,} steps or {PAGE_MAX_SECONDS:.0f} seconds, and "
    "**Stop** keeps everything learned so far."
)
left, right = st.columns([1, 2], gap="large")
with left:
    form_settings, form_text = None, None
    with common.guarded("reading the settings"):
        form_settings, form_text = _settings_form()
    buttons = st.columns(3)
    start = buttons[0].button("Train", type="primary", key="train_go")
    stop = buttons[1].button("Stop", key="train_stop")
    resume = buttons[2].button("Continue", key="train_continue")

with right:
    if start and form_settings is not None:
        with common.guarded("preparing the training run"):
            _start(form_settings, form_text)
    run: LiveTraining | None = st.session_state.get("train_run")
    if stop:
        st.session_state.train_active = False
    if resume and run is not None and not run.done:
        st.session_state.train_active = True
    if run is None:
        st.info("Choose the settings and press **Train**.")
        st.stop()
    for note in run.notes:
        st.info(note)
    status, chart, samples = st.empty(), st.empty(), st.empty()
    # With fastReruns, the script run that a click interrupted may still be finishing its
    # slice in another thread; the run's lock makes us wait for it (a second at most).
    with run.lock:
        _draw(run, status, chart, samples)
    if st.session_state.get("train_active") and not run.done:
        with common.guarded("training"):
            while not run.done:
                with common.work_slot("training"):
                    run.advance(seconds=SLICE_SECONDS)
                _draw(run, status, chart, samples)  # also where a Stop click interrupts
        st.session_state.train_active = False
    if run.done:
        why = "all steps done" if run.step >= run.settings.max_steps else "time budget used"
        st.success(f"Finished after {run.step} steps ({why}).")
    elif stop or not st.session_state.get("train_active"):
        st.info(f"Stopped at step {run.step}. Press **Continue** to go on from here.")
    # The pasted text is part of what a run was made from, as much as the settings are.
    _, run_text = st.session_state.get("train_run_input", (run.settings, form_text))
    if form_settings is not None and (form_settings, form_text) != (run.settings, run_text):
        st.caption("The settings have changed; press **Train** to start a new run with them.")
    if run.history and st.button("Write a new sample", key="train_sample"):
        st.session_state.train_sample_seed = st.session_state.get("train_sample_seed", 0) + 1
        with common.guarded("sampling"), common.work_slot("sampling"):
            st.text(run.sample(seed=run.settings.seed + st.session_state.train_sample_seed))
