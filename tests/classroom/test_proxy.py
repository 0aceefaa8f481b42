"""`make classroom`: the generated nginx config, and two real app workers behind a real nginx.

nginx comes from the system (Debian: ``nginx``; .ci/run installs it). Without it the tests that
need it skip with the install command, as the browser tests do without Chromium.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest

from bench.app_clients import run_visitors
from classroom import launch
from lmkit.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).is_file()), None
)
NEEDS_NGINX = pytest.mark.skipif(
    NGINX is None, reason=f"needs nginx on this machine; install it with: {launch.NGINX_INSTALL}"
)


def _get(url: str, cookie: str | None = None):
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.headers, response.read()


def _worker_cookies(headers) -> list[str]:
    """The proxy's own Set-Cookie lines (Streamlit sets its XSRF cookie beside them)."""
    return [c for c in headers.get_all("Set-Cookie") or [] if c.startswith("lmkit_worker=")]


# ------------------------------------------------------------------------------ the config
def test_config_names_every_worker_and_leaves_no_placeholder(tmp_path):
    text = launch.render_nginx_config([9101, 9102, 9103], 8080, tmp_path, listen_address="127.0.0.1")
    assert re.findall(r"server 127\.0\.0\.1:(\d+);", text) == ["9101", "9102", "9103"]
    assert "listen 127.0.0.1:8080;" in text
    assert "hash $lmkit_route consistent;" in text and "ip_hash;" not in text
    assert str(tmp_path.resolve()) in text
    assert "@" not in text, "a placeholder was left unfilled"
    assert "ip_hash;" in launch.render_nginx_config([9101], 8080, tmp_path, sticky="ip")


@pytest.mark.parametrize(
    ("ports", "sticky", "message"),
    [([], "cookie", "At least one worker"), ([9101], "round-robin", "sticky must be one of")],
)
def test_bad_settings_are_refused_with_a_clear_message(tmp_path, ports, sticky, message):
    with pytest.raises(ConfigError, match=message):
        launch.render_nginx_config(ports, 8080, tmp_path, sticky=sticky)


def test_a_port_in_use_is_refused_with_what_to_do():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"Port {port} .* in use.*choose another port"):
            launch.ensure_port_free(port)


def test_the_benchmark_refuses_an_unknown_configuration_before_starting_anything():
    from bench.classroom_load import run_configuration

    with pytest.raises(ConfigError, match="use 1 or nginx-N"):
        run_configuration("nginx-two", None)


def test_missing_nginx_names_the_install_command(monkeypatch):
    monkeypatch.setattr(launch.shutil, "which", lambda name: None)
    monkeypatch.setattr(launch.Path, "is_file", lambda self: False)
    with pytest.raises(ConfigError, match=re.escape(launch.NGINX_INSTALL)):
        launch.find_nginx()


def test_make_classroom_passes_the_worker_count_and_port():
    def dry_run(*variables: str) -> str:
        return subprocess.run(["make", "-n", "classroom", *variables], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout  # fmt: skip

    assert re.search(r"classroom\.launch --port 8501\s*\\?\s*$", dry_run(), flags=re.M)
    custom = dry_run("CLASSROOM_WORKERS=3", "CLASSROOM_PORT=9000")
    assert "--port 9000" in custom and "--workers 3" in custom


@NEEDS_NGINX
@pytest.mark.parametrize("sticky", sorted(launch.STICKY))
def test_generated_config_passes_nginx_t(tmp_path, sticky):
    config = launch.write_nginx_config(tmp_path, [9101, 9102], launch.free_port(), sticky=sticky)
    result = subprocess.run(launch.nginx_command(NGINX, config, "-t"), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr
    broken = tmp_path / "broken.conf"
    broken.write_text(config.read_text().replace("proxy_pass", "proxy_pas"))
    with pytest.raises(ConfigError, match="unknown directive"):
        launch.check_nginx_config(NGINX, broken)


# ------------------------------------------------------------------------------ a live classroom
@pytest.fixture(scope="module")  # two Streamlit workers: ~30 s to start on 2 cores
def classroom(tmp_path_factory):
    room = launch.Classroom(2, launch.free_port(), address="127.0.0.1",
                            run_dir=tmp_path_factory.mktemp("classroom-run"))  # fmt: skip
    room.start()
    processes = [room.nginx, *room.processes]
    try:
        yield room
    finally:
        room.stop()
    assert all(p.poll() is not None for p in processes), "a worker or nginx outlived stop()"


@pytest.mark.slow
@NEEDS_NGINX
def test_the_app_page_and_its_health_check_come_through_the_proxy(classroom):
    status, headers, body = _get(f"{classroom.url}/")
    assert status == 200 and headers["Server"].startswith("nginx")
    assert b'<div id="root">' in body and b"<script" in body  # Streamlit's page shell
    assert _get(f"{classroom.url}/_stcore/health")[2].strip() == b"ok"
    assert headers["X-Lmkit-Worker"] in {f"127.0.0.1:{p}" for p in classroom.worker_ports}


@pytest.mark.slow
@NEEDS_NGINX
def test_one_client_sticks_to_one_worker_and_the_class_is_spread(classroom):
    _, headers, _ = _get(f"{classroom.url}/")
    (given,) = _worker_cookies(headers)
    cookie = given.split(";")[0]
    assert "HttpOnly" in given and "Path=/" in given
    first = headers["X-Lmkit-Worker"]
    for path in ("/", "/_stcore/health", "/_stcore/host-config", "/generate") * 3:
        _, again, _ = _get(f"{classroom.url}{path}", cookie)
        assert again["X-Lmkit-Worker"] == first, path
        assert _worker_cookies(again) == []  # the cookie is handed out once
    students = {_get(f"{classroom.url}/_stcore/health", f"lmkit_worker=student-{i}")[1]
                ["X-Lmkit-Worker"] for i in range(24)}  # fmt: skip
    assert students == {f"127.0.0.1:{p}" for p in classroom.worker_ports}


@pytest.mark.slow
@NEEDS_NGINX
def test_the_websocket_upgrade_passes_and_a_generation_runs_through_it(classroom):
    from websockets.sync.client import connect

    ws_url = f"ws://127.0.0.1:{classroom.port}/_stcore/stream"
    with connect(ws_url, subprotocols=["streamlit"], open_timeout=60) as ws:
        response = ws.response
        assert response.status_code == 101
        assert response.headers["Upgrade"].lower() == "websocket"
        assert response.headers["Connection"].lower() == "upgrade"
        assert response.headers["Sec-WebSocket-Protocol"] == "streamlit"
    # The browser's protocol end to end (bench/app_clients.py's visitors): two students open
    # Generate and press it; each click must come back with exactly 4 tokens.
    out = run_visitors(ws_url, "generate", sessions=2, rounds=1, tokens=4)
    assert out["problems"] == []
    assert len(out["open"]) == 2 and len(out["click"]) == 2
