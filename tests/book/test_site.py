"""The rendered site (tools/build_book.py) in headless Chromium with the network off.

Builds a small subset (chapter 1, chapter 13 and the appendix) to keep CI time low, serves it on
localhost, and opens it in Chromium whose only reachable host is that local server: every other
request goes to a dead proxy. Checks that a plotly figure is drawn (an svg inside a ``.plotly``
div), that Chinese text and the merged glossary are on the pages, that the search box finds a
term, and that no page asked for anything outside the site. Screenshots go to
``test-artifacts/screenshots/book-*.png`` (Chinese shows as boxes there when the machine has no
CJK font: ``sudo apt-get install -y fonts-noto-cjk``).
"""

from __future__ import annotations

import functools
import http.server
import subprocess
import sys
import threading
import time

import pytest
from browsers import INSTALL, NEEDS_CHROMIUM, headless_chromium

from .conftest import ROOT

pytestmark = NEEDS_CHROMIUM
pytest.importorskip("nbconvert", reason="needs the notebooks extra: pip install -e '.[book]'")
pytest.importorskip("pagefind", reason="needs the book extra: pip install -e '.[book]'")
selenium = pytest.importorskip("selenium", reason=f"needs Selenium and Chromium: {INSTALL}")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

SUBSET = ["01", "13", "appendix"]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
WAIT_S = 60


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "build_book.py"),
            "--out",
            str(out),
            "--only",
            *SUBSET,
        ],
        check=True,
        cwd=ROOT,
        timeout=1200,
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield out, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    # The network is off: everything but the local server goes to a port nobody listens on.
    driver = headless_chromium("--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1")
    yield driver
    driver.quit()


def _outside_requests(browser, origin: str) -> list[str]:
    urls = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    return [u for u in urls if not u.startswith(origin) and not u.startswith("data:")]


def test_every_subset_page_is_built(site):
    out, _ = site
    names = {p.name for p in out.glob("*.html")}
    assert {"index.html", "01_language_models.html", "appendix.html"} <= names
    assert (out / "assets" / "plotly.min.js").is_file()
    assert (out / "pagefind" / "pagefind-ui.js").is_file()


def test_plotly_figure_draws_offline(site, browser):
    _, origin = site
    browser.get(f"{origin}/01_language_models.html")
    WebDriverWait(browser, WAIT_S).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .plotly svg.main-svg")
    )
    drawn = browser.execute_script(
        "return document.querySelectorAll('.js-plotly-plot .plotly svg.main-svg').length"
    )
    assert drawn >= 1
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "book-chapter-01.png"))
    assert _outside_requests(browser, origin) == []


def test_chinese_text_and_glossary_are_on_the_appendix(site, browser):
    _, origin = site
    browser.get(f"{origin}/appendix.html")
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "术语对照" in text
    assert "权重绑定" in text  # weight tying, from chapter 7's table, merged into the glossary
    links = {a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "a")}
    assert f"{origin}/01_language_models.html" in links  # .ipynb links now point at pages
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "book-appendix.png"))
    assert _outside_requests(browser, origin) == []


def _search(browser, origin: str, query: str) -> list[str]:
    browser.get(f"{origin}/index.html")
    box = WebDriverWait(browser, WAIT_S).until(
        lambda b: b.find_element(By.CSS_SELECTOR, ".pagefind-ui__search-input")
    )
    box.send_keys(query)
    deadline = time.monotonic() + WAIT_S
    titles: list[str] = []
    while time.monotonic() < deadline and not titles:
        titles = [
            e.text for e in browser.find_elements(By.CSS_SELECTOR, ".pagefind-ui__result-link")
        ]
        time.sleep(0.5)
    assert _outside_requests(browser, origin) == []
    return titles


def test_search_box_finds_a_term(site, browser):
    _, origin = site
    titles = _search(browser, origin, "perplexity")
    assert "Chapter 1 — What is a language model?" in titles, titles


def test_search_box_finds_a_chinese_term(site, browser):
    _, origin = site
    titles = _search(browser, origin, "困惑度")  # perplexity, in chapter 1's table and the glossary
    assert any(t.startswith("Appendix") for t in titles), titles
