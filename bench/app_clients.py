"""The visitors of :mod:`bench.app_load`: websocket sessions that drive the real app's pages.

Each visitor speaks the protocol a browser speaks (protobuf ``BackMsg``/``ForwardMsg`` on
``/_stcore/stream``): it opens a page, then presses its button ``rounds`` times, timing each
click from sending it to receiving ``script_finished``. Three pages are driven:

- **Generate**: *Max new tokens* = ``tokens``, *Stop at story end* off, **Generate** (greedy,
  the default prompt), so every click makes exactly ``tokens`` tokens with tiny-gpt;
- **Classify**: **Classify** with the page's defaults (classification and integrated-gradients
  saliency);
- **Attention**: opening the page (the default text's maps, GPT) and then **Generate and trace
  attention** with its defaults.

A click counts as an error if the page shows an exception or an ``st.error`` box, if the run
does not finish successfully, or if its result is missing (the *Tokens* metric, the label).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

__all__ = ["PageRun", "run_visitors"]

PAGES = ("generate", "classify", "attention")


class PageRun:
    """What one script run of a page sent: widget ids by label, problems, metrics."""

    def __init__(self) -> None:
        self.widgets: dict[str, str] = {}
        self.problems: list[str] = []
        self.metrics: dict[str, str] = {}
        self.page_hash = ""
        self.status = ""
        self.successes: list[str] = []
        self.texts: list[str] = []

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
            elif which == "text":
                self.texts.append(inner.body)
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


def _clicks(page: str, run: PageRun, tokens: int) -> list | str:
    """The widget states of one click on ``page``, or a problem if a widget is missing."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    needed = {"generate": ("Max new tokens", "Stop at story end", "Generate"),
              "classify": ("Classify",),
              "attention": ("Generate and trace attention",)}[page]  # fmt: skip
    missing = [name for name in needed if name not in run.widgets]
    if missing:
        return f"widget {missing[0]!r} not found on the {page} page"
    click = WidgetState(id=run.widgets[needed[-1]], trigger_value=True)
    if page != "generate":
        return [click]
    length = WidgetState(id=run.widgets["Max new tokens"])
    length.double_array_value.data.append(tokens)
    stop = WidgetState(id=run.widgets["Stop at story end"], bool_value=False)
    return [length, stop, click]


def _check(page: str, run: PageRun, tokens: int) -> list[str]:
    """Problems of one finished click: errors shown, a failed run, or a missing result."""
    problems = list(run.problems)
    if run.status != "FINISHED_SUCCESSFULLY":
        problems.append(f"{page} run ended with {run.status}")
    if page == "generate" and run.metrics.get("Tokens") != str(tokens):
        problems.append(f"Tokens metric {run.metrics.get('Tokens')!r}")
    if page == "classify" and not run.successes:
        problems.append("classify run: no label shown")
    if page == "attention" and not run.texts:
        problems.append("attention trace: no generated text shown")
    return problems


async def visitor(url: str, page: str, rounds: int, tokens: int, out: dict[str, list]) -> None:
    """One session: open ``page``, then press its button ``rounds`` times."""
    from websockets.asyncio.client import connect

    async with connect(url, subprotocols=["streamlit"], max_size=None, open_timeout=120) as ws:
        started = time.perf_counter()
        opened = await _run_script(ws, page, "", [])
        out["open"].append(time.perf_counter() - started)
        out["problems"] += opened.problems
        for round_ in range(rounds):
            states = _clicks(page, opened, tokens)
            if isinstance(states, str):
                out["problems"].append(states)
                return
            started = time.perf_counter()
            run = await _run_script(ws, page, opened.page_hash, states)
            out["click"].append(time.perf_counter() - started)
            if round_ == 0:
                out["first_click"].append(out["click"][-1])
            out["problems"] += _check(page, run, tokens)
            if page == "generate" and not _check(page, run, tokens):
                out["rates"].append(float(run.metrics.get("Tokens per second", "nan")))


async def _visitors(url: str, page: str, sessions: int, rounds: int, tokens: int) -> dict:
    out: dict[str, list] = {"open": [], "click": [], "first_click": [], "problems": [], "rates": []}
    tasks = [visitor(url, page, rounds, tokens, out) for _ in range(sessions)]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    out["problems"] += [f"session failed: {r!r}" for r in results if isinstance(r, BaseException)]
    return out


def run_visitors(url: str, page: str, sessions: int, rounds: int, tokens: int) -> dict:
    """``sessions`` visitors on ``page`` at once; their timings (seconds), problems and the
    Generate page's tokens/s, and the wall time of the whole burst."""
    if page not in PAGES:
        raise ValueError(f"page must be one of {PAGES}, got {page!r}")
    started = time.perf_counter()
    out = asyncio.run(_visitors(url, page, sessions, rounds, tokens))
    out["wall_s"] = time.perf_counter() - started
    return out
