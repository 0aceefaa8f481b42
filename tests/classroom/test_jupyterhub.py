"""classroom/jupyterhub/jupyterhub_config.py: a real hub, two students, lmkit in their kernels.

Starts JupyterHub (with configurable-http-proxy) on free localhost ports and a throw-away state
folder, logs two students in through the login form with the shared password, starts their
servers with the instructor's API token, and runs all of chapter 1, cell by cell, plus checks
of the student's environment in each student's own kernel over the Jupyter kernel websocket. Stopping the hub must
stop everything it started.

configurable-http-proxy comes from npm (.ci/run installs it); without it the test skips with
the install command, as the browser tests do without Chromium.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

requests = pytest.importorskip("requests")
websocket = pytest.importorskip("websocket")  # websocket-client, a jupyter-server dependency
pytest.importorskip("jupyterhub", reason="needs JupyterHub: pip install -e '.[classroom]'")

from classroom.launch import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "classroom" / "jupyterhub" / "jupyterhub_config.py"
CHP_INSTALL = "sudo npm install -g configurable-http-proxy"
STUDENTS = ("ada", "grace")
PASSWORD = "lmkit-class-test"
START_S = 180  # a cold single-user server imports jupyter_server and torch on a busy 2-core box
CHAPTER = ROOT / "chapters" / "01_language_models.ipynb"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("configurable-http-proxy") is None,
        reason=f"needs configurable-http-proxy on this machine; install it with: {CHP_INSTALL}",
    ),
]


def _processes_under(folder: Path) -> list[int]:
    """PIDs whose working directory is inside ``folder`` (the students' servers and kernels)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "cwd")).is_relative_to(folder):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


class Hub:
    def __init__(self, state: Path) -> None:
        self.state, self.port = state, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_hex(16)
        env = {**os.environ, "LMKIT_HUB_PASSWORD": PASSWORD, "LMKIT_HUB_ADMIN_TOKEN": self.token,
               "LMKIT_HUB_IP": "127.0.0.1", "LMKIT_HUB_PORT": str(self.port),
               "LMKIT_HUB_API_PORT": str(free_port()),
               "LMKIT_HUB_PROXY_API_PORT": str(free_port()), "LMKIT_HUB_STATE": str(state)}  # fmt: skip
        self.log = state / "hub.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(CONFIG)],
                cwd=state, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def api(self, method: str, path: str, **kw):
        headers = {"Authorization": f"token {self.token}"}
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=60, **kw)

    def wait(self, ready, what: str, timeout: float = START_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"jupyterhub exited:\n{self.log.read_text(errors='replace')[-3000:]}")
            try:
                if ready():
                    return
            except requests.ConnectionError:
                pass
            time.sleep(1.0)
        pytest.fail(f"{what} not ready within {timeout:.0f} s:\n"
                    f"{self.log.read_text(errors='replace')[-3000:]}")  # fmt: skip

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # the hub stops servers and proxy itself
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    state = tmp_path_factory.mktemp("hub-state").resolve()
    hub = Hub(state)
    try:
        hub.wait(lambda: hub.api("GET", "/hub/api/").ok, "the hub")
        yield hub
    finally:
        hub.stop()
        time.sleep(2.0)
        left = _processes_under(state)
        proxy_pid = state / "jupyterhub-proxy.pid"
        for pid in left:  # ours (their cwd is our temporary folder): clean up, then fail
            os.kill(pid, signal.SIGKILL)
        assert not left, f"processes left behind after the hub stopped: {left}"
        assert not proxy_pid.exists() or not Path(f"/proc/{proxy_pid.read_text().strip()}").exists()


def _log_in(hub: Hub, name: str, password: str) -> requests.Response:
    """Submit the hub's login form as a browser does (its XSRF cookie and field included)."""
    session = requests.Session()
    session.get(f"{hub.url}/hub/login", timeout=60).raise_for_status()
    form = {"username": name, "password": password, "_xsrf": session.cookies.get("_xsrf", "")}
    return session.post(f"{hub.url}/hub/login", data=form, allow_redirects=False, timeout=60)


def _execute(channel, code: str, timeout: float = 120) -> dict:
    """Run ``code`` in a kernel over its websocket; return the reply and what it printed."""
    msg_id = uuid.uuid4().hex
    channel.send(json.dumps({
        "header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                   "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": True,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
    }))  # fmt: skip
    printed, reply, idle = [], None, False
    deadline = time.monotonic() + timeout
    while reply is None or not idle:  # the reply (shell) and the idle status (iopub) both come
        channel.settimeout(max(1.0, deadline - time.monotonic()))
        msg = json.loads(channel.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = msg["header"]["msg_type"]
        if kind == "stream":
            printed.append(msg["content"]["text"])
        elif kind == "error":
            printed.append("\n".join(msg["content"]["traceback"]))
        elif kind == "execute_reply":
            reply = msg["content"]
        elif kind == "status":
            idle = msg["content"]["execution_state"] == "idle"
    return {"status": reply["status"], "output": "".join(printed)}


def test_wrong_password_is_refused(hub):
    response = _log_in(hub, "mallory", "not-the-class-password")
    assert response.status_code != 302 and "jupyterhub-session-id" not in response.cookies
    assert hub.api("GET", "/hub/api/users/mallory").status_code == 404


def test_two_students_log_in_and_run_lmkit_in_their_own_kernels(hub):
    chapter = json.loads(CHAPTER.read_text(encoding="utf-8"))
    cells = ["".join(c["source"]) for c in chapter["cells"] if c["cell_type"] == "code"]
    for name in STUDENTS:
        response = _log_in(hub, name, PASSWORD)
        assert response.status_code == 302, response.text[-500:]
        assert hub.api("GET", f"/hub/api/users/{name}").ok  # logging in created the student
        assert hub.api("POST", f"/hub/api/users/{name}/server").status_code in (201, 202)
    for name in STUDENTS:
        hub.wait(lambda n=name: hub.api("GET", f"/hub/api/users/{n}").json()["servers"]
                 .get("", {}).get("ready"), f"{name}'s server")  # fmt: skip
    for name in STUDENTS:
        kernel = hub.api("POST", f"/user/{name}/api/kernels", json={"name": "python3"})
        assert kernel.status_code == 201, kernel.text
        channel = websocket.create_connection(
            f"ws://127.0.0.1:{hub.port}/user/{name}/api/kernels/{kernel.json()['id']}/channels",
            header=[f"Authorization: token {hub.token}"], timeout=START_S,
        )
        try:
            for index, code in enumerate(cells):  # all of chapter 1: ~30 s per student
                result = _execute(channel, code)
                assert result["status"] == "ok", (name, index, result["output"][-2000:])
            home = hub.state / "homes" / name
            check = (
                "import os, sys, lmkit\n"
                f"assert os.getcwd() == {str(home)!r}, os.getcwd()\n"
                f"assert sys.prefix == {sys.prefix!r}, sys.prefix\n"
                "assert os.path.isfile('lmkit-chapters/01_language_models.ipynb')\n"
                "assert device.type == 'cpu' and os.environ['OMP_NUM_THREADS'] == '1'\n"
                f"assert os.environ['MEM_LIMIT'] == str(2 * 1024**3)\n"
                f"assert os.environ['JUPYTERHUB_USER'] == {name!r}\n"
                "print('student', os.environ['JUPYTERHUB_USER'], 'ok')\n"
            )
            result = _execute(channel, check)
            assert result["status"] == "ok", (name, result["output"][-2000:])
            assert f"student {name} ok" in result["output"]
        finally:
            channel.close()
