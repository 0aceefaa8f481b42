"""Classroom load on the app: many visitors at once, latency of the heavy work, zero errors.

Run it with ``python -m bench.app_load`` (defaults: 30 and 60 sessions, 3 requests each).
``--label before`` names the report ``app-load-before`` so an earlier run is kept. Workloads:

**(a) the pages, through a real server.** The script starts ``streamlit run app/Home.py`` on a
free local port and, for each ``--sessions`` count and each page in ``--pages``, opens that
many websocket sessions at once (:mod:`bench.app_clients`), as when a teacher says "now press
Generate". Each session opens the page and presses its button ``--rounds`` times: on the
Generate page **Generate** with *Max new tokens* = ``--tokens`` and *Stop at story end* off, so
every request makes exactly that many tokens with tiny-gpt (greedy, the default prompt); on the
Classify page **Classify** with its defaults; on the Attention page **Generate and trace
attention**. A request's latency is the time from sending the click to receiving the server's
``script_finished``: any wait for shared work, the model's work with its streamed updates, the
figures and the rest of the page.

**(b) classification, in this process.** ``--sessions`` threads each make ``--rounds``
requests of one sentence through ``common.work_slot`` (the same slot logic and slot count as
the app, but its own semaphore since it is another process). The workload is
``lmkit.tasks.text_classify.predict_proba`` with ``lmkit.load("minilm-sentiment")`` when both exist,
otherwise MiniLM sentence embeddings (``lmkit.minilm.embeddings.encode_sentences``); the
report names which.

The client runs on the same machine as the server and takes some CPU from it; the load average
is recorded at start and end.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any

import numpy as np
import torch

from bench.app_clients import PAGES, run_visitors
from bench.common import REPO_ROOT, Report, add_common_args, run_cli
from lmkit.errors import LmkitError

APP_DIR = REPO_ROOT / "app"
SENTENCES = (
    "The movie was not bad at all, I really liked it.",
    "这部电影很好看，但是太长了。",
    "The food was cold and the waiter was rude.",
    "我非常喜欢这家餐厅。",
)


def percentiles(seconds: list[float]) -> dict[str, float | int]:
    """p50, p95 and max in milliseconds, and the count."""
    if not seconds:
        return {"p50": float("nan"), "p95": float("nan"), "max": float("nan"), "n": 0}
    ms = np.asarray(seconds) * 1e3
    p50, p95 = np.percentile(ms, [50, 95])
    return {"p50": float(p50), "p95": float(p95), "max": float(ms.max()), "n": len(ms)}


# ------------------------------------------------------------------------------ the server
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, timeout: float = 120.0) -> subprocess.Popen:
    """``streamlit run app/Home.py`` on ``port``, returned once its health check answers."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP_DIR / "Home.py"),
        "--server.port", str(port), "--server.address", "127.0.0.1",
        "--server.headless", "true", "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    server = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise LmkitError(
                f"The Streamlit server exited: {server.stderr.read().decode()[-2000:]}"
            )
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return server
        except OSError:
            time.sleep(0.5)
    server.terminate()
    raise LmkitError(f"The Streamlit server did not answer within {timeout:.0f} s.")


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


# ------------------------------------------------------------------------------ classification
def classify_workload() -> tuple[str, Any]:
    """The MiniLM classification to time, and its name in the report."""
    if importlib.util.find_spec("lmkit.tasks.text_classify") is not None:
        import lmkit
        from lmkit.tasks import text_classify

        try:
            loaded = lmkit.load("minilm-sentiment")
        except LmkitError:
            loaded = None
        if loaded is not None:
            return (
                "text_classify.predict_proba(minilm-sentiment)",
                lambda texts: text_classify.predict_proba(loaded, texts),
            )
    from lmkit.minilm.embeddings import encode_sentences

    return "sentence_embeddings.encode_sentences (MiniLM; minilm-sentiment not available)", (
        encode_sentences
    )


def classify_under_load(sessions: int, rounds: int) -> tuple[str, dict[str, list]]:
    """``sessions`` threads, ``rounds`` one-sentence requests each, through common.work_slot."""
    if str(APP_DIR) not in sys.path:
        sys.path.insert(0, str(APP_DIR))
    import common  # the app's shared layer: the same slots and slot count

    name, predict = classify_workload()
    predict([SENTENCES[0]])  # load and warm up once, as the app's cache does
    out: dict[str, list] = {"classify": [], "problems": []}
    lock, gate = threading.Lock(), threading.Barrier(sessions)

    def one_visitor(index: int) -> None:
        gate.wait()
        for r in range(rounds):
            started = time.perf_counter()
            try:
                with common.work_slot("classification"):
                    result = predict([SENTENCES[(index + r) % len(SENTENCES)]])
                if not torch.isfinite(torch.as_tensor(result)).all():
                    raise LmkitError("non-finite output")
            except Exception as exc:  # every failure is a counted error
                with lock:
                    out["problems"].append(f"classification failed: {exc!r}")
                continue
            with lock:
                out["classify"].append(time.perf_counter() - started)

    threads = [threading.Thread(target=one_visitor, args=(i,)) for i in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return name, out


# ------------------------------------------------------------------------------ the report
PAGE_ROWS = {  # page -> (what opening it is called, what a click is called)
    "generate": ("open the Generate page (first run of a session)", "generate {tokens} tokens"),
    "classify": ("open the Classify page (first run of a session)", "Classify page"),
    "attention": ("open the Attention page (first run, default maps)", "Attention page trace"),
}


def _page_rows(report: Report, page: str, result: dict, sessions: int, tokens: int) -> None:
    opening, click = PAGE_ROWS[page]
    click = click.format(tokens=tokens)
    suffix = f", {sessions} sessions"
    report.add_row(opening + suffix, unit="ms", **percentiles(result["open"]), errors=None,
                   wall_s=None)  # fmt: skip
    report.add_row(f"{click}, first click (all sessions at once){suffix}", unit="ms",
                   **percentiles(result["first_click"]), errors=None, wall_s=None)  # fmt: skip
    report.add_row(f"{click}, every click (click → page finished){suffix}", unit="ms",
                   **percentiles(result["click"]), errors=len(result["problems"]),
                   wall_s=result["wall_s"])  # fmt: skip


def measure(args: argparse.Namespace, device: torch.device) -> Report:
    torch.set_num_threads(1)  # as the app does (common._configure_torch)
    slots = int(os.environ.get("LMKIT_APP_SLOTS", os.cpu_count() or 1))
    name = "app-load" if not args.label else f"app-load-{args.label}"
    report = Report(
        name,
        "cpu" if device.type == "cpu" else str(device),
        {"sessions": args.sessions, "rounds": args.rounds, "tokens": args.tokens,
         "pages": args.pages, "work_slots": slots, "model": "tiny-gpt"},
    )  # fmt: skip
    port = _free_port()
    server = start_server(port)
    url = f"ws://127.0.0.1:{port}/_stcore/stream"
    problems: dict[str, list[str]] = {}
    rates: list[float] = []
    try:
        for sessions in args.sessions:
            for page in args.pages:
                result = run_visitors(url, page, sessions, args.rounds, args.tokens)
                _page_rows(report, page, result, sessions, args.tokens)
                problems[f"{page} page errors, {sessions} sessions"] = result["problems"]
                rates += [r for r in result["rates"] if np.isfinite(r)]
    finally:
        stop_server(server)
    for sessions in args.sessions:
        started = time.perf_counter()
        workload, classification = classify_under_load(sessions, args.rounds)
        report.add_row(f"classify one sentence (MiniLM, in-process, work_slot), {sessions} sessions",
                       unit="ms", **percentiles(classification["classify"]),
                       errors=len(classification["problems"]),
                       wall_s=time.perf_counter() - started)  # fmt: skip
        problems[f"classification errors, {sessions} sessions"] = classification["problems"]
    report.checks = {
        **{what: len(found) for what, found in problems.items()},
        "requests per page and session count": f"sessions × {args.rounds}",
        "median tokens/s inside one generation": float(np.median(rates)) if rates else None,
        "classification workload": workload,
    }
    report.notes += [
        "Pages: real `streamlit run` server, websocket sessions speaking the browser's "
        "protocol (bench/app_clients.py); latency = click sent → script_finished received. All "
        "sessions of a row start at once; 'first click' is that burst, 'every click' also "
        "counts the later rounds, in which each session clicks again as soon as its page has "
        "finished, so the server stays saturated (a worst case). Errors are counted over every "
        "click.",
        "Classify page: the page's defaults (first classifier model, integrated-gradients "
        "saliency), i.e. classification plus explanation, as a student sees it.",
        "Classification: threads in the benchmark process through common.work_slot (same slot "
        "count as the app), one sentence per request; not through the server.",
        "Client and server share this machine's cores.",
        *[f"problem: {p}" for found in problems.values() for p in found[:5]],
    ]
    return report


def main(argv: list[str] | None = None) -> Report | None:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument(
        "--sessions",
        type=int,
        nargs="+",
        default=[30, 60],
        help="concurrent visitors; several counts run one after another",
    )
    parser.add_argument("--rounds", type=int, default=3, help="requests per visitor")
    parser.add_argument("--tokens", type=int, default=64, help="new tokens per generation")
    parser.add_argument(
        "--pages",
        nargs="+",
        choices=PAGES,
        default=list(PAGES),
        help="pages to drive through the server (default: all three)",
    )
    parser.add_argument("--label", default="", help="report name suffix, e.g. 'before'")
    parser.set_defaults(device="cpu")
    return run_cli(parser, argv, measure)


if __name__ == "__main__":
    main()

__all__ = ["main", "percentiles"]
