"""Where the browser tests find Chromium and chromedriver, and what they say when they are absent."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

INSTALL = "sudo apt-get install -y chromium chromium-driver"


def _find(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or (name if Path(name).is_file() else None)
        if found:
            return found
    return None


CHROMIUM = _find("chromium", "chromium-browser", "/usr/bin/chromium", "google-chrome")
CHROMEDRIVER = _find("chromedriver", "/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
NEEDS_CHROMIUM = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None,
        reason=f"needs Chromium and chromedriver on this machine; install them with: {INSTALL}",
    ),
]
