"""Classroom load on the app: many visitors at once, latency of the heavy work, zero errors.

Run it with ``python -m bench.app_load`` (defaults: 30 sessions, 3 requests each). Two workloads:

**(a) generation, through a real server.** The script starts ``streamlit run app/Home.py`` on a
free local port and opens ``--sessions`` websocket sessions to it, speaking the protocol the
browser speaks (protobuf ``BackMsg``/``ForwardMsg`` on ``/_stcore/stream``). Each session opens
the Generate page, then presses **Generate** ``--rounds`` times with *Max new tokens* =
``--tokens`` and *Stop at story end* off, so every request makes exactly that many tokens with
tiny-gpt (greedy, the page's default prompt). All sessions start together, as when a teacher
says "now press Generate". A request's latency is the time from sending the click to receiving
the server's ``script_finished``: waiting for one of the app's work slots
(``common.work_slot``), the generation with its streamed updates, the probability figure and
the rest of the page. A request counts as an error if the page shows an exception or an
``st.error`` box, if the run does not finish successfully, or if the *Tokens* metric does not
say ``--tokens``.

**(b) classification, in this process.** ``--sessions`` threads each make ``--rounds``
requests of one sentence through ``common.work_slot`` (the same slot logic and slot count as
the app, but its own semaphore since it is another process). The workload is
``lmkit.tasks.text_classify.predict_proba`` with ``lmkit.load("minilm-sentiment")`` when both exist,
otherwise MiniLM sentence embeddings (``lmkit.minilm.embeddings.encode_sentences``); the
report names which. **(c)** With ``--classify-page`` (the default) the same server is also
driven on the Classify page: each session presses **Classify** with the page's defaults, which
classify *and* explain (integrated-gradients saliency), so that row is the student's view.

The client runs on the same machine as the server and takes some CPU from it; the load average
is recorded at start and end.
"""

from __future__ import annotations

import argparse
import asyncio
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


# ------------------------------------------------------------------------------ a visitor
class PageRun:
    """What one script run of a page sent: widget ids by label, problems, metrics."""

    def __init__(self) -> None:
        self.widgets: dict[str, str] = {}
        self.problems: list[str] = []
        self.metrics: dict[str, str] = {}
        self.page_hash = ""
        self.status = ""
        self.successes: list[str] = []

    def read(self, msg: Any) -> bool:
        """Take in one ForwardMsg; True when the script run has finished."""
        from streamlit.proto.Alert_pb2 import Alert
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        kind = msg.WhichOneof("type")
        if kind == "navigation":  # the page that actually ran (new_session names the main script)
            self.page_hash = msg.navigation.page_script_hash
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            element = msg.delta.new_element
            which = element.WhichOneof("type")
            inner = getattr(element, which)
            if which == "exception":
                self.problems.append(f"exception: {inner.message}")
            elif which == "alert" and inner.format == Alert.ERROR:
                self.problems.append(f"error box: {inner.body}")
            elif which == "alert" and inner.format == Alert.SUCCESS:
                self.successes.append(inner.body)
            elif which == "metric":
                self.metrics[inner.label] = inner.body
            elif hasattr(inner, "id") and hasattr(inner, "label") and inner.id:
                self.widgets[inner.label] = inner.id
        elif kind == "script_finished":
            self.status = ForwardMsg.ScriptFinishedStatus.Name(msg.script_finished)
            return msg.script_finished != ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
        return False


async def _run_script(ws: Any, page: str, page_hash: str, states: list) -> PageRun:
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    back = BackMsg()
    back.rerun_script.query_string = ""
    back.rerun_script.page_name = page
    back.rerun_script.page_script_hash = page_hash
    back.rerun_script.widget_states.widgets.extend(states)
    await ws.send(back.SerializeToString())
    run = PageRun()
    while True:
        msg = ForwardMsg()
        msg.ParseFromString(await ws.recv())
        if run.read(msg):
            return run


async def visitor(url: str, rounds: int, tokens: int, out: dict[str, list]) -> None:
    """One session: open the Generate page, press Generate ``rounds`` times."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState
    from websockets.asyncio.client import connect

    async with connect(url, subprotocols=["streamlit"], max_size=None, open_timeout=120) as ws:
        started = time.perf_counter()
        page = await _run_script(ws, "generate", "", [])
        out["open"].append(time.perf_counter() - started)
        out["problems"] += page.problems
        try:
            ids = {name: page.widgets[name] for name in
                   ("Max new tokens", "Stop at story end", "Generate")}  # fmt: skip
        except KeyError as exc:
            out["problems"].append(f"widget {exc} not found on the Generate page")
            return
        for round_ in range(rounds):
            length = WidgetState(id=ids["Max new tokens"])
            length.double_array_value.data.append(tokens)
            stop = WidgetState(id=ids["Stop at story end"], bool_value=False)
            click = WidgetState(id=ids["Generate"], trigger_value=True)
            started = time.perf_counter()
            run = await _run_script(ws, "generate", page.page_hash, [length, stop, click])
            out["generate"].append(time.perf_counter() - started)
            if round_ == 0:
                out["generate_first"].append(out["generate"][-1])
            out["problems"] += run.problems
            if run.status != "FINISHED_SUCCESSFULLY":
                out["problems"].append(f"run ended with {run.status}")
            if run.metrics.get("Tokens") != str(tokens):
                out["problems"].append(f"Tokens metric {run.metrics.get('Tokens')!r}")
            else:
                out["rates"].append(float(run.metrics.get("Tokens per second", "nan")))


async def classify_visitor(url: str, rounds: int, out: dict[str, list]) -> None:
    """One session: open the Classify page, press Classify ``rounds`` times (page defaults)."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState
    from websockets.asyncio.client import connect

    async with connect(url, subprotocols=["streamlit"], max_size=None, open_timeout=120) as ws:
        page = await _run_script(ws, "classify", "", [])
        out["problems"] += page.problems
        if "Classify" not in page.widgets:
            out["problems"].append("no Classify button on the Classify page")
            return
        for round_ in range(rounds):
            click = WidgetState(id=page.widgets["Classify"], trigger_value=True)
            started = time.perf_counter()
            run = await _run_script(ws, "classify", page.page_hash, [click])
            out["classify_page"].append(time.perf_counter() - started)
            if round_ == 0:
                out["classify_page_first"].append(out["classify_page"][-1])
            out["problems"] += run.problems
            if run.status != "FINISHED_SUCCESSFULLY" or not run.successes:
                out["problems"].append(f"classify run: {run.status}, no label shown")


async def _visitors(
    url: str, sessions: int, rounds: int, tokens: int, page: str
) -> dict[str, list]:
    out: dict[str, list] = {"open": [], "generate": [], "generate_first": [], "classify_page": [],
                            "classify_page_first": [], "problems": [], "rates": []}  # fmt: skip
    if page == "generate":
        tasks = [visitor(url, rounds, tokens, out) for _ in range(sessions)]
    else:
        tasks = [classify_visitor(url, rounds, out) for _ in range(sessions)]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    out["problems"] += [f"session failed: {r!r}" for r in results if isinstance(r, BaseException)]
    return out


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
def measure(args: argparse.Namespace, device: torch.device) -> Report:
    torch.set_num_threads(1)  # as the app does (common._configure_torch)
    slots = int(os.environ.get("LMKIT_APP_SLOTS", os.cpu_count() or 1))
    report = Report(
        "app-load",
        "cpu" if device.type == "cpu" else str(device),
        {"sessions": args.sessions, "rounds": args.rounds, "tokens": args.tokens,
         "work_slots": slots, "model": "tiny-gpt"},
    )  # fmt: skip
    port = _free_port()
    server = start_server(port)
    try:
        started = time.perf_counter()
        url = f"ws://127.0.0.1:{port}/_stcore/stream"
        generation = asyncio.run(
            _visitors(url, args.sessions, args.rounds, args.tokens, "generate")
        )
        generation_wall = time.perf_counter() - started
        classify_page = {"classify_page": [], "problems": []}
        page_wall = None
        if args.classify_page:
            started = time.perf_counter()
            classify_page = asyncio.run(
                _visitors(url, args.sessions, args.rounds, args.tokens, "classify")
            )
            page_wall = time.perf_counter() - started
    finally:
        stop_server(server)
    started = time.perf_counter()
    workload, classification = classify_under_load(args.sessions, args.rounds)
    classify_wall = time.perf_counter() - started

    report.add_row("open the Generate page (first run of a session)", unit="ms",
                   **percentiles(generation["open"]), errors=0, wall_s=None)  # fmt: skip
    report.add_row(f"generate {args.tokens} tokens, first click (all sessions at once)",
                   unit="ms", **percentiles(generation["generate_first"]), errors=None,
                   wall_s=None)  # fmt: skip
    report.add_row(f"generate {args.tokens} tokens, every click (click → page finished)",
                   unit="ms", **percentiles(generation["generate"]),
                   errors=len(generation["problems"]), wall_s=generation_wall)  # fmt: skip
    report.add_row("classify one sentence (MiniLM, in-process, work_slot)", unit="ms",
                   **percentiles(classification["classify"]),
                   errors=len(classification["problems"]), wall_s=classify_wall)  # fmt: skip
    if args.classify_page:
        report.add_row("Classify page, first click (all sessions at once)", unit="ms",
                       **percentiles(classify_page["classify_page_first"]), errors=None,
                       wall_s=None)  # fmt: skip
        report.add_row("Classify page, every click (click → page finished)", unit="ms",
                       **percentiles(classify_page["classify_page"]),
                       errors=len(classify_page["problems"]), wall_s=page_wall)  # fmt: skip
    rates = [r for r in generation["rates"] if np.isfinite(r)]
    report.checks = {
        "generation errors": len(generation["problems"]),
        "classification errors": len(classification["problems"]),
        "Classify page errors": len(classify_page["problems"]) if args.classify_page else None,
        "generation requests": args.sessions * args.rounds,
        "classification requests": args.sessions * args.rounds,
        "median tokens/s inside one generation": float(np.median(rates)) if rates else None,
        "classification workload": workload,
    }
    problems = generation["problems"] + classification["problems"] + classify_page["problems"]
    report.notes += [
        "Generation: real `streamlit run` server, websocket sessions speaking the browser's "
        "protocol; latency = click sent → script_finished received (slot wait + generation "
        "with streamed updates + figures). All sessions start at once; 'first click' is that "
        "burst, 'every click' also counts the later rounds, in which each session clicks again "
        "as soon as its page has finished, so the server stays saturated (a worst case). "
        "Errors are counted over every click.",
        "Classification: threads in the benchmark process through common.work_slot (same slot "
        "count as the app), one sentence per request; not through the server.",
        "Classify page (with --classify-page): the same server, sessions on the Classify page "
        "pressing Classify with its defaults (first classifier model, integrated-gradients "
        "saliency), i.e. classification plus explanation, as a student sees it.",
        "Client and server share this machine's cores.",
        *[f"problem: {p}" for p in problems[:20]],
    ]
    return report


def main(argv: list[str] | None = None) -> Report | None:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--sessions", type=int, default=30, help="concurrent visitors")
    parser.add_argument("--rounds", type=int, default=3, help="requests per visitor")
    parser.add_argument("--tokens", type=int, default=64, help="new tokens per generation")
    parser.add_argument(
        "--classify-page",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also drive the real Classify page through the server (default on)",
    )
    parser.set_defaults(device="cpu")
    return run_cli(parser, argv, measure)


if __name__ == "__main__":
    main()

__all__ = ["main", "percentiles"]
