"""End to end: the real app in a real (headless) browser, every page driven like a visitor would.

Starts ``streamlit run app/Home.py`` on a free localhost port, opens each of the 8 pages in
headless Chromium through Selenium, types into the page's text box, presses its main button,
waits for the result (and, where a visit names it, for the text the result must show), and
saves a screenshot to ``test-artifacts/screenshots/<page>.png``. A
visible exception, a traceback or an error box on any page fails the test.

Chromium and chromedriver come from the system (Debian: ``chromium`` and ``chromium-driver``);
Selenium is pointed at that chromedriver explicitly so it never tries to download one.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from browsers import CHROMEDRIVER, CHROMIUM, INSTALL, NEEDS_CHROMIUM

from .conftest import ROOT

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
SERVER_START_S = 90
PAGE_RESULT_S = 240  # a fresh server loads each model once; a 2-core CI box is slow


pytestmark = NEEDS_CHROMIUM
selenium = pytest.importorskip(
    "selenium", reason=f"needs Selenium (pip install -e '.[dev]') and Chromium: {INSTALL}"
)
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402


@dataclass(frozen=True)
class PageVisit:
    """How a visitor uses one page: what to type, which tab to open, which button to press."""

    name: str
    path: str
    text: str | None = None
    tab: str | None = None
    button: str | None = None
    result: str = '[data-testid="stPlotlyChart"], [data-testid="stAlertContentSuccess"]'
    then_press: str | None = None  # e.g. Stop, once the result is there
    expect: str | None = None  # text that one of the ``result`` elements must show


VISITS = [
    PageVisit("home", "", result="h1"),
    PageVisit(
        "generate",
        "generate",
        text="Anna cooked a cake for Jack.",
        button="Generate",
        result='[data-testid="stMarkdown"], [data-testid="stText"]',
    ),
    PageVisit("classify", "classify", text="I really loved this film!", button="Classify"),
    PageVisit(
        "attention",
        "attention",
        text="Anna cooked a cake for Jack. 她很高兴。Then Anna went to the",
        tab="While generating",
        button="Generate and trace attention",
    ),
    PageVisit("tokenizer", "tokenizer", text="Anna 喜欢 apples 🍎 and cake!"),
    PageVisit("embeddings", "embeddings", text="Is an internet connection required?"),
    PageVisit(
        "applications",
        "applications",
        text="Jenny went to the park with Liu Yang.",
        result='[data-testid="stPlotlyChart"]',
        expect="Liu Yang",  # the entity's box in the figure
    ),
    PageVisit(
        "applications-translation",
        "applications",
        tab="Translation EN ↔ ZH",
        result='[data-testid="stAlertContentSuccess"]',
        expect="午饭以后，安娜给山姆做了一碗面条。",  # the example's translation
    ),
    PageVisit("train", "train", button="Train", then_press="Stop"),
]


# Set a React-controlled <input>/<textarea> value and tell React about it, as a paste does.
PASTE_JS = """
const box = arguments[0];
const proto = box.tagName === "TEXTAREA" ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
Object.getOwnPropertyDescriptor(proto, "value").set.call(box, arguments[1]);
box.dispatchEvent(new Event("input", {bubbles: true}));
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def app_url():
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    log_path = ROOT / "test-artifacts" / "streamlit-e2e.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [
                sys.executable, "-m", "streamlit", "run", "app/Home.py",
                "--server.headless=true", f"--server.port={port}",
                "--server.address=127.0.0.1", "--server.fileWatcherType=none",
                "--browser.gatherUsageStats=false",
            ],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_for_health(url, server, log_path)
            yield url
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)


def _wait_for_health(url: str, server: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"streamlit exited early:\n{log_path.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"streamlit did not answer within {SERVER_START_S} s")


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
        "--window-size=1400,2200", "--lang=en-US", "--disable-extensions",
    ):  # fmt: skip
        options.add_argument(flag)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never reach for the network
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _running(driver) -> bool:
    """True while Streamlit reruns the script or a spinner is shown."""
    return bool(
        driver.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')
        or driver.find_elements(By.CSS_SELECTOR, '[data-testid="stSpinner"]')
    )


def _wait_idle(driver, timeout: float = PAGE_RESULT_S) -> None:
    """Wait until the script has been idle for a moment (runs can start a split second late)."""
    deadline, quiet_since = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        if _running(driver):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 1.5:
            return
        time.sleep(0.25)
    pytest.fail(f"the page was still running after {timeout:.0f} s")


def _visible(root, css: str) -> list:
    """Displayed elements matching ``css``; ones that Streamlit re-rendered meanwhile are skipped."""
    found = []
    for element in root.find_elements(By.CSS_SELECTOR, css):
        try:
            if element.is_displayed():
                found.append(element)
        except StaleElementReferenceException:
            continue
    return found


def _retrying(action, attempts: int = 4) -> None:
    """Run ``action``; start again if the element it held was re-rendered under it."""
    for attempt in range(attempts):
        try:
            action()
            return
        except StaleElementReferenceException:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)


def _wait_for(driver, css: str, timeout: float = PAGE_RESULT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _visible(driver, css)
        if found:
            return found
        _fail_on_problems(driver)
        time.sleep(0.5)
    pytest.fail(f"nothing matching {css!r} appeared within {timeout:.0f} s")


def _wait_for_text(driver, css: str, text: str, timeout: float = PAGE_RESULT_S) -> None:
    """Wait until a visible element matching ``css`` shows ``text``."""
    deadline, seen = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        seen = []
        for element in _visible(driver, css):
            try:
                seen.append(element.text)
            except StaleElementReferenceException:
                continue
        if any(text in shown for shown in seen):
            return
        _fail_on_problems(driver)
        time.sleep(0.5)
    pytest.fail(f"no {css!r} showed {text!r} within {timeout:.0f} s; they showed {seen!r}")


def _main(driver):
    return driver.find_element(By.CSS_SELECTOR, '[data-testid="stMain"]')


def _type(driver, text: str) -> None:
    # Text areas and text inputs only: a selectbox also holds an <input> (for searching).
    css = '[data-testid="stTextArea"] textarea, [data-testid="stTextInput"] input'

    def type_into_first_box() -> None:
        boxes = [box for box in _visible(_main(driver), css) if box.is_enabled()]
        if not boxes:
            return
        box = boxes[0]
        box.click()
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.DELETE)
        if all(ord(ch) <= 0xFFFF for ch in text):
            box.send_keys(text)
        else:  # ChromeDriver types only the BMP; paste emoji the way React sees a paste
            driver.execute_script(PASTE_JS, box, text)
        # Commit the value: Ctrl+Enter in a text area, Enter in a text input.
        if box.tag_name == "textarea":
            box.send_keys(Keys.CONTROL, Keys.ENTER)
        else:
            box.send_keys(Keys.ENTER)

    _retrying(type_into_first_box)
    _wait_idle(driver)


def _click(driver, css: str, label: str) -> None:
    clicked = []

    def click_it() -> None:
        for element in _visible(_main(driver), css):
            if element.text.strip() == label:
                driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
                element.click()
                clicked.append(label)
                return

    _retrying(click_it)
    if not clicked:
        pytest.fail(f"no visible {label!r} ({css}) on the page")


def _fail_on_problems(driver) -> None:
    shown = _visible(driver, '[data-testid="stException"], [data-testid="stAlertContentError"]')
    body = driver.find_element(By.TAG_NAME, "body").text
    problems = []
    for element in shown:
        try:
            problems.append(element.text)
        except StaleElementReferenceException:
            continue
    if "Traceback (most recent call last)" in body:
        problems.append("a traceback is visible")
    assert not problems, problems


@pytest.mark.parametrize("visit", VISITS, ids=[v.name for v in VISITS])
def test_every_page_works_in_a_real_browser(app_url, browser, visit):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.get(f"{app_url}/{visit.path}")
    try:
        _wait_for(browser, "h1")
        _wait_idle(browser)
        _fail_on_problems(browser)
        if visit.text is not None:
            _type(browser, visit.text)
        if visit.tab is not None:
            _click(browser, '[role="tab"]', visit.tab)
            _wait_idle(browser)
        if visit.button is not None:
            _click(browser, "button", visit.button)
            time.sleep(0.5)
        _wait_for(browser, visit.result)
        if visit.expect is not None:
            _wait_for_text(browser, visit.result, visit.expect)
        if visit.then_press is not None:
            _click(browser, "button", visit.then_press)
        _wait_idle(browser)
        _fail_on_problems(browser)
        assert browser.find_elements(By.CSS_SELECTOR, "h1"), "the page has no title"
    finally:
        browser.save_screenshot(str(SCREENSHOTS / f"{visit.name}.png"))
