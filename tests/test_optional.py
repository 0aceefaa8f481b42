from __future__ import annotations

import sys

import pytest

from lmkit._optional import require
from lmkit.errors import LmkitError, MissingDependencyError


def test_require_returns_the_module():
    json_module = require("json", "parse JSON")
    assert json_module.loads("[1]") == [1]


def test_missing_module_names_the_extra_to_install(monkeypatch):
    # A None entry in sys.modules makes the import fail exactly as if the package were absent.
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "lmkit\[hf\]"') as info:
        require("transformers", "convert weights")
    assert isinstance(info.value, ImportError) and isinstance(info.value, LmkitError)
    assert "convert weights" in str(info.value)


def test_unknown_module_suggests_pip_install_of_itself():
    with pytest.raises(MissingDependencyError, match="pip install surely_not_a_module_xyz"):
        require("surely_not_a_module_xyz", "do anything")
