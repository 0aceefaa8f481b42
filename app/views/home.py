"""Home page: what the app is, the device it runs on, its models, and where to go next."""

from __future__ import annotations

import json
from pathlib import Path

import common
import streamlit as st

from lmkit.device import describe_device
from lmkit.hub import BUILTIN_MODELS, CARD_FILE, available_models

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS_DIR = ROOT / "chapters"
PAGES = [
    ("views/generate.py", "✍️ Generate", "every choice of the model, step by step",
     "Greedy, sampling and beam search; the alternatives of every token, raw and after "
     "temperature, top-k, top-p and repetition penalty; the beam-search tree."),
    ("views/classify.py", "🏷️ Classify", "sentiment, and which words decided it",
     "English and Chinese sentences or a whole file, with saliency."),
    ("views/attention.py", "🔍 Attention", "what every head of a GPT looks at", None),
    ("views/tokenizer.py", "🧩 Tokenizer", "how text becomes tokens", None),
    ("views/embeddings.py", "🧭 Embeddings", "sentences as vectors", None),
    ("views/applications.py", "🧰 Applications", "entities, answers, translation, an FAQ bot",
     "Chapter 13's models: named entities, extractive QA, English ↔ Chinese translation with "
     "its cross-attention, and an FAQ assistant that knows when it does not know."),
    ("views/train.py", "🏋️ Train", "train a GPT and watch it learn",
     "From scratch, on the story world or your own text, with a live loss curve."),
]  # fmt: skip


def card_summary(name: str) -> str:
    """The first line of a model card's text (its title skipped), or ``""`` if it has none."""
    card = BUILTIN_MODELS[name].path / CARD_FILE
    try:
        lines = card.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    return next((line.strip() for line in lines if line.strip() and not line.startswith("#")), "")


@st.cache_data(show_spinner=False)
def chapter_titles() -> list[tuple[str, str]]:
    """``(file name, title)`` of each chapter notebook: the first line of its first text cell."""
    titles = []
    for path in sorted(CHAPTERS_DIR.glob("*.ipynb")):
        title = path.stem
        try:
            cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
            text = next(c for c in cells if c.get("cell_type") == "markdown")["source"]
            first = ("".join(text) if isinstance(text, list) else text).strip().splitlines()[0]
            title = first.lstrip("# ").strip() or title
        except (OSError, ValueError, StopIteration, IndexError, KeyError, TypeError):
            pass
        titles.append((path.name, title))
    return titles


st.title("🔤 lmkit: language models you can take apart")
st.markdown(
    "This app is the hands-on side of the lmkit book. Every page runs a real model, small "
    "enough to answer instantly on an ordinary CPU, and shows what happens inside: the tokens, "
    "the probabilities behind each choice, the attention, the loss as a model learns. "
    "It works **offline**: the models ship with lmkit and nothing is downloaded."
)

left, right = st.columns(2, gap="large")
with left:
    st.subheader("Pages")
    for path, label, what, more in PAGES:
        with common.guarded("linking to a page"):
            st.page_link(path, label=f"{label}: {what}", help=more)
with right:
    st.subheader("Running on")
    with common.guarded("describing the device"):
        st.markdown(f"**{describe_device()}**, with {common.SLOTS} model job(s) at a time; "
                    "other visitors wait their turn.")  # fmt: skip
    with st.expander("How do I use another model?"):
        st.markdown("In Python (a notebook, a script) `lmkit.load` takes three kinds of names:")
        st.code(
            'import lmkit\n\n'
            'lmkit.load("tiny-gpt")          # a built-in model (offline)\n'
            'lmkit.load("runs/my-model")     # a folder you saved with lmkit\n'
            'lmkit.load("gpt2")              # a Hugging Face GPT-2, when online',
            language="python",
        )  # fmt: skip
        st.markdown(
            "The app itself only offers the built-in models. It is meant to be shared by a "
            "whole class on one server: a visitor must not be able to make it read any folder "
            "on that server, or download gigabytes from the internet, and every model here is "
            "small enough to answer quickly. To add a model to the app, save it with "
            "`lmkit.training.checkpoint.save_model` and register its folder in "
            "`lmkit.hub.BUILTIN_MODELS`."
        )

st.subheader("Models")
rows = []
for name in available_models():
    info = BUILTIN_MODELS[name]
    rows.append({
        "model": name,
        "kind": info.kind,
        "installed": "yes" if info.path.is_dir() else "no (reinstall lmkit)",
        "about": card_summary(name) or info.description,
    })  # fmt: skip
narrow = st.column_config.TextColumn(width="small")
st.dataframe(
    rows,
    hide_index=True,
    column_config={"model": narrow, "kind": narrow, "installed": narrow, "about": "about"},
)

st.subheader("Chapters")
titles = chapter_titles()
if titles:
    st.markdown("\n".join(f"- **{title}** (`chapters/{name}`)" for name, title in titles))
    st.markdown("Open them with `make lab` (JupyterLab on the `chapters` folder).")
else:
    st.markdown("The chapter notebooks are in the lmkit repository, folder `chapters/`.")
