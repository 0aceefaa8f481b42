"""lmkit's Streamlit app: the entry point that `make app` runs.

Each page lives in ``app/views/``; this file only sets the page up and routes. Shared pieces
(cached models, the generation slots, input cleaning, error display) are in ``app/common.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import streamlit as st

APP_DIR = Path(__file__).resolve().parent
if str(APP_DIR) not in sys.path:  # `streamlit run` adds it; AppTest and other runners may not
    sys.path.insert(0, str(APP_DIR))

st.set_page_config(page_title="lmkit", page_icon="🔤", layout="wide")

# Presenter mode (`make app PRESENTER=1`, i.e. LMKIT_PRESENTER=1): type that the back row can read
# on a projector. Streamlit sizes its text in rem, so a larger root font scales every page.
PRESENTER_FONT_PX = 24  # Streamlit's default is 16 px
if os.environ.get("LMKIT_PRESENTER", "").strip() not in ("", "0"):
    st.markdown(f"<style>html {{ font-size: {PRESENTER_FONT_PX}px; }}</style>", unsafe_allow_html=True)

PAGES = [
    st.Page(APP_DIR / "views" / "home.py", title="Home", icon="🏠", default=True),
    st.Page(APP_DIR / "views" / "generate.py", title="Generate", icon="✍️"),
    st.Page(APP_DIR / "views" / "classify.py", title="Classify", icon="🏷️"),
    st.Page(APP_DIR / "views" / "attention.py", title="Attention", icon="🔍"),
    st.Page(APP_DIR / "views" / "tokenizer.py", title="Tokenizer", icon="🧩"),
    st.Page(APP_DIR / "views" / "embeddings.py", title="Embeddings", icon="🧭"),
    st.Page(APP_DIR / "views" / "applications.py", title="Applications", icon="🧰"),
    st.Page(APP_DIR / "views" / "train.py", title="Train", icon="🏋️"),
]

st.navigation(PAGES).run()
