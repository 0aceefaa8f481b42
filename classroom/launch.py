"""Serve the app to a whole class: N Streamlit workers behind nginx, with sticky sessions.

``make classroom`` runs ``python -m classroom.launch``. It writes ``nginx.conf`` (from
``classroom/nginx.conf.template``) into a run directory, starts ``--workers`` Streamlit processes
of ``app/Home.py`` on local ports (default: one per CPU core), waits until each answers its
health check, then runs nginx in the foreground on ``--port``. Ctrl-C (or SIGTERM) stops nginx
and every worker. Logs: ``<run dir>/worker-<port>.log`` and ``<run dir>/nginx-error.log``.

Why several processes: one Streamlit server is one Python process, so its script reruns,
protobuf encoding and websocket traffic share one GIL however many cores the machine has.
One worker per core, each with one work slot (``LMKIT_APP_SLOTS=1``), keeps every core busy.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from lmkit.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = Path(__file__).with_name("nginx.conf.template")
DEFAULT_RUN_DIR = ROOT / "classroom" / "run"
NGINX_INSTALL = "sudo apt-get install -y nginx"
WORKER_START_S = 120.0  # a cold worker imports torch and Streamlit; a busy 2-core box is slow
STICKY = {"cookie": "hash $lmkit_route consistent;", "ip": "ip_hash;"}


class _NginxTemplate(string.Template):
    delimiter = "@"  # nginx itself uses $ for its variables


def find_nginx() -> str:
    """The nginx executable, or a ConfigError that names the install command."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).is_file()), None
    )
    if found is None:
        raise ConfigError(f"nginx is not installed; install it with: {NGINX_INSTALL}")
    return found


def render_nginx_config(
    worker_ports: list[int],
    listen_port: int,
    run_dir: Path,
    *,
    listen_address: str = "0.0.0.0",
    sticky: str = "cookie",
) -> str:
    """nginx.conf text that proxies ``listen_address:listen_port`` to the workers' ports."""
    if not worker_ports:
        raise ConfigError("At least one worker port is needed; use --workers 1 or more.")
    if sticky not in STICKY:
        raise ConfigError(f"sticky must be one of {sorted(STICKY)}, not {sticky!r}.")
    servers = "\n".join(f"        server 127.0.0.1:{port};" for port in worker_ports)
    return _NginxTemplate(TEMPLATE.read_text(encoding="utf-8")).substitute(
        run_dir=Path(run_dir).resolve(),
        servers=servers,
        balance=STICKY[sticky],
        listen_address=listen_address,
        listen_port=listen_port,
    )


def write_nginx_config(run_dir: Path, worker_ports: list[int], listen_port: int, **kw) -> Path:
    """Write ``run_dir/nginx.conf`` (and the temp folders it names); return its path."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "nginx.conf"
    path.write_text(render_nginx_config(worker_ports, listen_port, run_dir, **kw), encoding="utf-8")
    return path


def nginx_command(nginx: str, config: Path, *extra: str) -> list[str]:
    """nginx run on ``config`` with the run dir as prefix; ``-e`` keeps it off /var/log/nginx."""
    run_dir = Path(config).resolve().parent
    return [nginx, "-p", f"{run_dir}/", "-e", str(run_dir / "nginx-error.log"),
            "-c", str(Path(config).resolve()), *extra]  # fmt: skip


def check_nginx_config(nginx: str, config: Path) -> None:
    """``nginx -t``: raise ConfigError with nginx's own words if the config is invalid."""
    result = subprocess.run(nginx_command(nginx, config, "-t"), capture_output=True, text=True)
    if result.returncode != 0:
        raise ConfigError(f"nginx rejected {config}:\n{result.stderr.strip()}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_port_free(port: int, address: str = "127.0.0.1") -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError as exc:
            raise ConfigError(
                f"Port {port} on {address} is in use ({exc.strerror}). Stop what holds it "
                f"(`ss -ltnp | grep :{port}`) or choose another port."
            ) from exc


def start_worker(port: int, log_path: Path, *, cookie_secret: str, slots: int) -> subprocess.Popen:
    """``streamlit run app/Home.py`` on 127.0.0.1:``port``, in its own process group."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "LMKIT_APP_SLOTS": os.environ.get("LMKIT_APP_SLOTS", str(slots)),
           # One secret for all workers: the XSRF cookie one worker signs is valid on the others.
           # (Streamlit accepts it only from the environment or a config file, not the CLI.)
           "STREAMLIT_SERVER_COOKIE_SECRET": cookie_secret}  # fmt: skip
    command = [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "Home.py"),
        "--server.port", str(port), "--server.address", "127.0.0.1",
        "--server.headless", "true", "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    with Path(log_path).open("ab") as log:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


def wait_healthy(port: int, process: subprocess.Popen, log_path: Path,
                 timeout: float = WORKER_START_S) -> None:  # fmt: skip
    """Return once ``/_stcore/health`` on ``port`` says ok; ConfigError if the worker died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = Path(log_path).read_text(errors="replace")[-2000:]
            raise ConfigError(f"The worker on port {port} exited; its log ({log_path}):\n{tail}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise ConfigError(f"The worker on port {port} did not answer within {timeout:.0f} s; "
                      f"see {log_path}.")  # fmt: skip


def stop_process(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM the process group, then SIGKILL what is still there after ``timeout``."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


class Classroom:
    """Workers plus nginx, started by :meth:`start` and stopped by :meth:`stop` (or ``with``)."""

    def __init__(self, workers: int, port: int, *, run_dir: Path = DEFAULT_RUN_DIR,
                 address: str = "0.0.0.0", sticky: str = "cookie",
                 worker_ports: list[int] | None = None) -> None:  # fmt: skip
        if workers < 1:
            raise ConfigError(f"workers must be 1 or more, not {workers}.")
        self.workers, self.port, self.address, self.sticky = workers, port, address, sticky
        self.run_dir = Path(run_dir)
        self.worker_ports = worker_ports or [free_port() for _ in range(workers)]
        if len(self.worker_ports) != workers:
            raise ConfigError(f"{workers} workers need {workers} ports, got {self.worker_ports}.")
        self.processes: list[subprocess.Popen] = []
        self.nginx: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.address in ("0.0.0.0", "") else self.address
        return f"http://{host}:{self.port}"

    def start(self) -> Classroom:
        nginx = find_nginx()
        ensure_port_free(self.port, self.address)
        config = write_nginx_config(self.run_dir, self.worker_ports, self.port,
                                    listen_address=self.address, sticky=self.sticky)  # fmt: skip
        check_nginx_config(nginx, config)
        secret = secrets.token_hex(16)
        slots = max(1, (os.cpu_count() or 1) // self.workers)
        try:
            logs = [self.run_dir / f"worker-{port}.log" for port in self.worker_ports]
            for port, log in zip(self.worker_ports, logs, strict=True):
                ensure_port_free(port)
                self.processes.append(start_worker(port, log, cookie_secret=secret, slots=slots))
            for port, process, log in zip(self.worker_ports, self.processes, logs, strict=True):
                wait_healthy(port, process, log)
            self.nginx = subprocess.Popen(nginx_command(nginx, config), start_new_session=True)
            self._wait_for_proxy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_proxy(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.nginx.poll() is not None:
                log = (self.run_dir / "nginx-error.log").read_text(errors="replace")[-2000:]
                raise ConfigError(f"nginx exited at start:\n{log}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise ConfigError(f"nginx did not answer on {self.url} within {timeout:.0f} s.")

    def stop(self) -> None:
        """Stop nginx first (no new requests reach a dying worker), then every worker."""
        for process in [self.nginx, *self.processes]:
            if process is not None:
                stop_process(process)
        self.processes, self.nginx = [], None

    def __enter__(self) -> Classroom:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="Streamlit processes (default: one per CPU core)")  # fmt: skip
    parser.add_argument("--port", type=int, default=8501, help="where students connect")
    parser.add_argument("--address", default="0.0.0.0", help="0.0.0.0: every network interface")
    parser.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR,
                        help="where nginx.conf and the logs go")  # fmt: skip
    parser.add_argument("--sticky", choices=sorted(STICKY), default="cookie",
                        help="cookie (default) or ip: ip_hash, for browsers without cookies")
    args = parser.parse_args(argv)
    room = Classroom(args.workers, args.port, run_dir=args.run_dir, address=args.address,
                     sticky=args.sticky)  # fmt: skip
    # SIGTERM (systemd, docker stop) stops everything the same way Ctrl-C does; SIGINT is set
    # too, since a shell starts background jobs with it ignored.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, _interrupt)
    try:
        room.start()
        plural = "s" if args.workers != 1 else ""
        print(f"classroom: {args.workers} worker{plural} on ports {room.worker_ports}, nginx on "
              f"{room.url} (logs in {room.run_dir}). Ctrl-C stops everything.", flush=True)
        while room.nginx.poll() is None and all(p.poll() is None for p in room.processes):
            time.sleep(1.0)
        print("classroom: a process exited; stopping the rest (see the logs).", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nclassroom: stopping nginx and the workers.", flush=True)
        return 0
    except ConfigError as exc:
        print(f"classroom: {exc}", file=sys.stderr)
        return 2
    finally:
        room.stop()


if __name__ == "__main__":
    sys.exit(main())
