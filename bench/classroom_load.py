"""Classroom scale-out: the same class load on one app process and on N processes behind nginx.

Run it with ``python -m bench.classroom_load`` (defaults: 30 sessions, 3 rounds, 64 tokens,
configurations ``1,nginx-1,nginx-2``). Each configuration is started fresh and driven with
bench/app_load.py's websocket visitors (the browser's protocol on ``/_stcore/stream``):

- ``1``: one ``streamlit run`` process, as ``make app`` starts it (``LMKIT_APP_SLOTS`` = cores);
- ``nginx-N``: ``classroom.launch.Classroom`` — N processes behind nginx with sticky sessions,
  each with cores // N work slots, as ``make classroom`` starts them.

Every session opens each of ``--pages`` in turn (default: Generate, then Classify) and presses
its button ``--rounds`` times (bench/app_clients.py says what each click does). Throughput is
requests finished per second of wall time over the whole burst. The client shares the
machine's cores with the servers.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import torch

from bench import app_load
from bench.app_clients import PAGES, run_visitors
from bench.common import Report, add_common_args, run_cli
from classroom.launch import Classroom, free_port
from lmkit.errors import ConfigError


def run_configuration(name: str, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Start configuration ``name`` (``1`` or ``nginx-N``), drive it, stop it."""
    if name == "1":
        port = free_port()
        server = app_load.start_server(port)
        stop = lambda: app_load.stop_server(server)  # noqa: E731
    elif name.startswith("nginx-") and name[6:].isdigit():
        room = Classroom(int(name[6:]), free_port(), address="127.0.0.1").start()
        port, stop = room.port, room.stop
    else:
        raise ConfigError(f"Unknown configuration {name!r}; use 1 or nginx-N (e.g. nginx-2).")
    ws_url = f"ws://127.0.0.1:{port}/_stcore/stream"
    try:
        results = {page: run_visitors(ws_url, page, args.sessions, args.rounds, args.tokens)
                   for page in args.pages}  # fmt: skip
    finally:
        stop()
    return results


def measure(args: argparse.Namespace, device: torch.device) -> Report:
    torch.set_num_threads(1)
    configurations = [c.strip() for c in args.configs.split(",") if c.strip()]
    report = Report("classroom", "cpu", {
        "sessions": args.sessions, "rounds": args.rounds, "tokens": args.tokens,
        "configurations": configurations, "pages": args.pages, "cpu_cores": os.cpu_count(),
        "model": "tiny-gpt",
    })  # fmt: skip
    requests = args.sessions * args.rounds
    for name in configurations:
        count = name[6:]
        label = ("1 process (make app)" if name == "1" else
                 f"{count} process{'es' if count != '1' else ''} behind nginx")  # fmt: skip
        results = run_configuration(name, args)
        for page, got in results.items():
            what = f"generate {args.tokens} tokens" if page == "generate" else f"{page} page"
            report.add_row(f"{label}: {what}, first click", unit="ms",
                           **app_load.percentiles(got["first_click"]), errors=None,
                           wall_s=None, requests_per_s=None)  # fmt: skip
            report.add_row(f"{label}: {what}, every click", unit="ms",
                           **app_load.percentiles(got["click"]), errors=len(got["problems"]),
                           wall_s=got["wall_s"], requests_per_s=requests / got["wall_s"])  # fmt: skip
            report.notes += [f"problem ({label}, {what}): {p}" for p in got["problems"][:10]]
    report.notes += [
        "Latency = click sent → script_finished received, through the proxy where there is one. "
        "All sessions start at once; each clicks again as soon as its page has finished, so "
        "the servers stay saturated (a worst case). requests_per_s = clicks / wall time.",
        "Sessions reach nginx without a cookie, so each websocket is hashed on a fresh random "
        "key, as a new browser's first visit is; the split between workers is not exact.",
        "Client and servers share this machine's cores (and, on a shared machine, other "
        "jobs: see the load average).",
    ]
    return report


def main(argv: list[str] | None = None) -> Report | None:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--sessions", type=int, default=30, help="concurrent visitors")
    parser.add_argument("--rounds", type=int, default=3, help="clicks per visitor and page")
    parser.add_argument("--tokens", type=int, default=64, help="new tokens per generation")
    parser.add_argument("--configs", default="1,nginx-1,nginx-2",
                        help="comma-separated: 1 (one plain process) or nginx-N")  # fmt: skip
    parser.add_argument("--pages", nargs="+", choices=PAGES, default=["generate", "classify"],
                        help="pages to drive, one after another (default: generate classify)")
    parser.set_defaults(device="cpu")
    return run_cli(parser, argv, measure)


if __name__ == "__main__":
    main()

__all__ = ["main", "run_configuration"]
