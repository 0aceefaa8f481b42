"""End to end: a chapter of the book in real JupyterLab in a real (headless) browser, offline.

Does what a reader does after ``make lab``: the same working copy (lab_config/working_copy.py,
here in a temporary folder) and the same JupyterLab configuration (lab_config/ on
JUPYTER_CONFIG_PATH), then in headless Chromium with every non-local host unreachable: open
chapter 6, Run > Run All Cells from the menu, wait for the kernel to finish, move the attention
explorer's "layer" slider with the keyboard, and check that plotly figures and the widget's
redrawn heatmap are on the page, that no cell failed, that no news pop-up showed, and that the
page loaded nothing from outside localhost. Saves the copy (Ctrl+S) and checks that the
repository's chapters/ are exactly as before. Screenshots go to
``test-artifacts/screenshots/lab-06_attention*.png``, the server log to
``test-artifacts/jupyterlab-browser.log`` and the Run-All time to ``test-artifacts/lab_times.json``.

Chapter 6 is the fastest chapter with both a widget and plotly figures (about 20 s headless on 2
cores). Chromium and chromedriver come from the system (Debian: ``chromium`` and
``chromium-driver``); without them the test skips and says how to install them.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browsers import CHROMEDRIVER, CHROMIUM, INSTALL, NEEDS_CHROMIUM

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"
LAB_CONFIG = ROOT / "lab_config"
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
CHAPTER = "06_attention.ipynb"
SERVER_START_S = 90
PAGE_LOAD_S = 90
RUN_ALL_S = 240  # the chapter runs in ~20 s headless; a browser and a busy 2-core box add a lot
WIDGET_S = 60


pytestmark = NEEDS_CHROMIUM
pytest.importorskip("jupyterlab", reason="needs JupyterLab: pip install -e '.[notebooks]'")
pytest.importorskip(
    "selenium", reason=f"needs Selenium (pip install -e '.[dev]') and Chromium: {INSTALL}"
)
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import (  # noqa: E402
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

sys.path.insert(0, str(LAB_CONFIG))
import working_copy  # noqa: E402

sys.path.remove(str(LAB_CONFIG))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _chapters_state() -> tuple[str, dict[str, str]]:
    """git's view of chapters/ and a digest of every file in it, to compare before and after."""
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all", "--", "chapters"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    digests = {
        str(p.relative_to(ROOT)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(CHAPTERS.rglob("*"))
        if p.is_file()
    }
    return status, digests


@pytest.fixture(scope="module")
def chapters_before():
    return _chapters_state()


@pytest.fixture(scope="module")
def lab(tmp_path_factory, chapters_before):
    """JupyterLab as `make lab` starts it, on a temporary copy of the book and a free port."""
    home = tmp_path_factory.mktemp("lab")
    book = home / "book"
    working_copy.prepare(book)
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_PATH": str(LAB_CONFIG),
        # A reader's own Jupyter settings, data and kernels must not change what is tested.
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "user-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "IPYTHONDIR": str(home / "ipython"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
        "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={book}",
    ]  # fmt: skip
    if getattr(os, "geteuid", lambda: 1)() == 0:
        command.append("--allow-root")  # as `make lab` does for root
    log_path = ARTIFACTS / "jupyterlab-browser.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            command, cwd=book, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_for_server(url, token, server, log_path)
            yield {"url": url, "token": token, "book": book, "log": log_path}
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=20)


def _wait_for_server(url: str, token: str, server: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(
                f"jupyter lab exited early:\n{log_path.read_text(errors='replace')[-3000:]}"
            )
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"jupyter lab did not answer within {SERVER_START_S} s")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--no-first-run",
        "--disable-sync", "--disable-extensions", "--lang=en-US", "--window-size=1400,1100",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
        # The network is blocked: every host but this machine resolves to nothing.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
    ):  # fmt: skip
        options.add_argument(flag)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never reach for the network
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(PAGE_LOAD_S)
    yield driver
    driver.quit()


def _poll(condition, timeout: float, what: str, interval: float = 0.5):
    """Call ``condition`` until it returns something truthy; fail saying ``what`` never happened."""
    deadline, last_error = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            result = condition()
        except (StaleElementReferenceException, WebDriverException) as err:
            result, last_error = None, err
        if result:
            return result
        time.sleep(interval)
    detail = f" (last error: {last_error.__class__.__name__}: {last_error})" if last_error else ""
    pytest.fail(f"{what} did not happen within {timeout:.0f} s{detail}")


# The notebook's state as the page shows it: the execution prompts of its code cells, its
# kernel's status, and any error outputs.
NOTEBOOK_STATE_JS = """
const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
if (!panel) { return null; }
const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
    .map(p => p.textContent.trim());
const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
const errors = [...panel.querySelectorAll(
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]')]
    .map(e => e.textContent.slice(0, 2000));
return {prompts: prompts, status: indicator ? indicator.getAttribute('data-status') : null,
        errors: errors};
"""


def _state(driver) -> dict | None:
    return driver.execute_script(NOTEBOOK_STATE_JS)


def _click_menu(driver, menu: str, item: str) -> None:
    def open_menu():
        for element in driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-item"):
            if element.text.strip() == menu:
                element.click()
                return True
        return False

    _poll(open_menu, 30, f"opening the {menu!r} menu")

    def click_item():
        for element in driver.find_elements(By.CSS_SELECTOR, ".lm-Menu-item"):
            if element.is_displayed() and element.text.strip().startswith(item):
                element.click()
                return True
        return False

    _poll(click_item, 30, f"clicking {menu} > {item}")


def _run_all(driver, attempts: int = 3) -> None:
    """Run > Run All Cells, until a cell's prompt turns to [*] or a number.

    On a loaded machine JupyterLab can still be settling the notebook's session when the menu is
    clicked (it may even ask which kernel to use, though overrides.json says to start the
    preferred one), and the command is then dropped; the reader would click again, so do we.
    """

    def started():
        return any(p != "[ ]:" for p in (_state(driver) or {}).get("prompts", []))

    for _ in range(attempts):
        for button in driver.find_elements(By.CSS_SELECTOR, ".jp-Dialog .jp-mod-accept"):
            if button.is_displayed():
                button.click()  # "Select Kernel": take the preferred one it offers
        _click_menu(driver, "Run", "Run All Cells")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if started():
                return
            time.sleep(0.5)
    pytest.fail(f"Run All did not start a cell in {attempts} tries (prompts stayed [ ]:)")


def _news_popup(driver) -> list[str]:
    toasts = driver.find_elements(By.CSS_SELECTOR, ".jp-toast-message, .Toastify__toast")
    texts = [t.text for t in toasts]
    body = driver.find_element(By.TAG_NAME, "body").text
    if "Jupyter news" in body:
        texts.append("'Jupyter news' appears on the page")
    return [t for t in texts if "news" in t.lower()]


def _foreign_requests(driver) -> list[str]:
    urls = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name).concat([location.href]);"
    )
    local = ("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:", "about:")
    return [u for u in urls if not u.startswith(local)]


# The attention explorer's figure (a plotly figure inside the widget's Output): its title, and
# the blank band between the bottom of its heatmap and the bottom of the figure, in pixels.
WIDGET_FIGURE_JS = """
const plots = [...document.querySelectorAll('.widget-vbox .js-plotly-plot')];
const plot = plots[plots.length - 1];
if (!plot) { return null; }
const title = plot.querySelector('.gtitle');
const heat = plot.querySelector('.nsewdrag');
if (!title || !heat) { return null; }
return {title: title.textContent,
        blank_below: plot.getBoundingClientRect().bottom - heat.getBoundingClientRect().bottom};
"""


def _widget_figure(driver) -> dict | None:
    return driver.execute_script(WIDGET_FIGURE_JS)


def _heatmap_title(driver) -> str | None:
    figure = _widget_figure(driver)
    return figure["title"] if figure else None


def test_a_chapter_runs_in_real_jupyterlab_offline(lab, browser, chapters_before):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"lab-{Path(CHAPTER).stem}.png"
    browser.get(f"{lab['url']}/lab/tree/{CHAPTER}?token={lab['token']}")
    try:
        state = _poll(
            lambda: (s := _state(browser)) and s["prompts"] and s["status"] == "idle" and s,
            PAGE_LOAD_S,
            f"{CHAPTER} opening with an idle kernel",
        )
        assert not any(p not in ("[ ]:", "") for p in state["prompts"]), state["prompts"]

        started = time.monotonic()
        _run_all(browser)

        def finished():
            s = _state(browser)
            if not s:
                return None
            if s["errors"]:
                pytest.fail(f"a cell failed in the browser:\n{s['errors'][0]}")
            done = s["status"] == "idle" and all(p[1:-2].isdigit() for p in s["prompts"])
            return done and s

        state = _poll(finished, RUN_ALL_S, "every cell running to the end", interval=1)
        run_all_s = time.monotonic() - started
        _record_time(run_all_s)

        plots = browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")
        assert plots, "no plotly figure rendered (offline plotly should draw every figure)"
        assert _poll(lambda: _heatmap_title(browser), WIDGET_S, "the widget's heatmap appearing")
        assert "layer 2" in _heatmap_title(browser), _heatmap_title(browser)
        blank = _widget_figure(browser)["blank_below"]
        assert blank < 40, f"{blank:.0f} px of blank space under the explorer's heatmap"

        _move_layer_slider(browser)
        title = _poll(
            lambda: (t := _heatmap_title(browser)) and "layer 3" in t and t,
            WIDGET_S,
            "the heatmap redrawing for layer 3 after the slider moved",
        )
        assert title.startswith("MiniLM layer 3"), title

        assert not _news_popup(browser), _news_popup(browser)
        foreign = _foreign_requests(browser)
        assert not foreign, f"the page requested resources outside localhost: {foreign[:5]}"

        _save(browser, lab["book"] / CHAPTER)
    finally:
        browser.save_screenshot(str(shot))
        _screenshot_widget(browser)

    log = lab["log"].read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
    assert "without encryption" not in log, "the kernel still warns about unencrypted TCP"
    assert _chapters_state() == chapters_before, "chapters/ changed while the book was read"


def _move_layer_slider(driver) -> None:
    def focus_handle():
        for slider in driver.find_elements(By.CSS_SELECTOR, ".widget-slider"):
            label = slider.find_elements(By.CSS_SELECTOR, ".widget-label")
            if label and label[0].text.strip() == "layer":
                handle = slider.find_element(By.CSS_SELECTOR, ".noUi-handle")
                driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", handle)
                handle.click()
                return handle
        return None

    handle = _poll(focus_handle, WIDGET_S, "finding the 'layer' slider")
    handle.send_keys(Keys.ARROW_RIGHT)


def _save(driver, copy: Path) -> None:
    """Ctrl+S, then wait until the copy on disk holds the outputs: saving goes to the copy."""
    panel = driver.find_element(By.CSS_SELECTOR, ".jp-NotebookPanel:not(.lm-mod-hidden)")
    panel.find_element(By.CSS_SELECTOR, ".jp-Notebook").click()
    webdriver.ActionChains(driver).key_down(Keys.CONTROL).send_keys("s").key_up(
        Keys.CONTROL
    ).perform()

    def saved():
        notebook = json.loads(copy.read_text(encoding="utf-8"))
        return any(c.get("outputs") for c in notebook["cells"] if c["cell_type"] == "code")

    _poll(saved, 30, f"saving {copy.name} (with its outputs) into the working copy")


def _screenshot_widget(driver) -> None:
    """A screenshot of the attention explorer alone, to see its layout."""
    try:
        boxes = driver.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output .widget-vbox")
        if boxes:
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", boxes[-1])
            time.sleep(0.5)
            boxes[-1].screenshot(str(SCREENSHOTS / f"lab-{Path(CHAPTER).stem}-widget.png"))
    except WebDriverException:
        pass


def _record_time(seconds: float) -> None:
    times_file = ARTIFACTS / "lab_times.json"
    times = json.loads(times_file.read_text()) if times_file.exists() else {}
    times[CHAPTER] = round(seconds, 1)
    times_file.write_text(json.dumps(times, indent=2, sort_keys=True))
