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


def headless_chromium(*extra_flags: str):
    """A Selenium driver for headless Chromium (the house flags plus ``extra_flags``).

    Selenium is pointed at the system chromedriver and kept offline (``SE_OFFLINE``), so it
    never tries to download a driver. The caller quits it.
    """
    import os

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
        "--window-size=1400,2200", "--lang=en-US", "--disable-extensions", *extra_flags,
    ):  # fmt: skip
        options.add_argument(flag)
    previous = os.environ.get("SE_OFFLINE")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never reach for the network
    try:
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    finally:
        if previous is None:
            del os.environ["SE_OFFLINE"]
        else:
            os.environ["SE_OFFLINE"] = previous
    driver.set_page_load_timeout(60)
    return driver
