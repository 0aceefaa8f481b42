from __future__ import annotations

import subprocess
import sys

import pytest

import lmkit


@pytest.mark.parametrize("name", sorted(lmkit._EXPORTS))
def test_every_top_level_name_resolves_to_its_module_object(name):
    import importlib

    expected = getattr(importlib.import_module(lmkit._EXPORTS[name]), name)
    assert getattr(lmkit, name) is expected


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        lmkit.nope  # noqa: B018


def test_import_lmkit_does_not_import_optional_dependencies():
    code = "import sys, lmkit; print(any(m in sys.modules for m in ('transformers', 'streamlit')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_lmkit_generate_is_the_module_and_holds_the_function():
    import lmkit.decoding.generation

    assert callable(lmkit.decoding.generation.generate) and lmkit.decoding.text.generate_text is lmkit.generate_text
