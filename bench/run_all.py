"""Run every benchmark, each in its own process, and write a summary page.

Run: ``python -m bench.run_all`` (``--quick`` for a smoke run of a few minutes, ``--help``).

Each benchmark writes its own ``<name>-<device>.json``/``.md``; this script adds
``summary-<device>.md`` (every page, in order) and ``summary-<device>.json`` (which ones ran,
their exit codes and files). A fresh process per benchmark keeps one benchmark's memory,
threads and compiled kernels from leaking into the next one's timings.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from bench.common import REPO_ROOT, RESULTS_DIR, device_kind, environment_stamp, load_average
from lmkit.device import pick_device
from lmkit.errors import LmkitError

BENCHMARKS = ("matmul_peak", "train_step", "train_shakespeare", "generation", "memory")
# Small settings that exercise every code path in minutes; the numbers mean nothing.
QUICK_ARGS = {
    "train_step": ["--rounds", "2", "--steps", "2", "--warmup", "1"],
    "train_shakespeare": ["--iters", "20", "--eval-steps", "5"],
    "generation": ["--new-tokens", "10", "--repeats", "1"],
    "memory": ["--configs", "baby"],
    "matmul_peak": ["--size", "2048"],
}

QUICK_DIR = Path(tempfile.gettempdir()) / "lmkit-bench-quick"

__all__ = ["BENCHMARKS", "QUICK_ARGS", "commands", "main"]


def commands(
    device: torch.device,
    *,
    quick: bool,
    only: list[str] | None,
    extra: list[str],
    data: Path | None,
) -> dict[str, list[str]]:
    """The command line of each benchmark to run on ``device``, in order."""
    names = [n for n in BENCHMARKS if not only or n in only]
    if device.type != "cuda" and "matmul_peak" in names:
        names.remove("matmul_peak")  # it measures a GPU; there is nothing to measure here
    result = {}
    for name in names:
        command = [sys.executable, "-m", f"bench.{name}", "--device", str(device), *extra]
        if quick:
            command += QUICK_ARGS[name]
        if name == "train_shakespeare" and data is not None:
            command += ["--data", str(data)]
        result[name] = command
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command-line entry point: ``python -m bench.run_all``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda or mps")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per benchmark")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"results folder (default {RESULTS_DIR}; "
        f"with --quick, {QUICK_DIR}, so smoke numbers never land among real results)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny settings: a smoke run")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these")
    parser.add_argument("--data", type=Path, default=None, help="text file for train_shakespeare")
    args = parser.parse_args(argv)
    try:
        device = pick_device(args.device)
    except LmkitError as exc:
        parser.exit(2, f"error: {exc}\n")
    args.out = args.out or (QUICK_DIR if args.quick else RESULTS_DIR)
    extra = ["--out", str(args.out)]
    if args.threads is not None:
        extra += ["--threads", str(args.threads)]
    todo = commands(device, quick=args.quick, only=args.only, extra=extra, data=args.data)

    kind = device_kind(device)
    summary: dict[str, Any] = {
        "device": kind,
        "quick": args.quick,
        "environment": environment_stamp(),
        "load_avg_1min_start": load_average(),
        "benchmarks": {},
    }
    for name, command in todo.items():
        print(f"== {name}: {' '.join(command[1:])}", flush=True)
        start = time.perf_counter()
        done = subprocess.run(command, cwd=REPO_ROOT, check=False)
        files = [args.out / f"{name}-{kind}.{ext}" for ext in ("json", "md")]
        summary["benchmarks"][name] = {
            "command": command[1:],
            "returncode": done.returncode,
            "seconds": round(time.perf_counter() - start, 1),
            "files": [str(f) for f in files if f.exists()],
        }
    summary["load_avg_1min_end"] = load_average()

    args.out.mkdir(parents=True, exist_ok=True)
    pages = [f"# lmkit benchmarks — {kind}{' (quick smoke run)' if args.quick else ''}", ""]
    for name, entry in summary["benchmarks"].items():
        page = args.out / f"{name}-{kind}.md"
        if entry["returncode"] == 0 and page.exists():
            # Demote every heading one level, so each page becomes a section of the summary.
            text = page.read_text(encoding="utf-8")
            pages += [("#" + line if line.startswith("#") else line) for line in text.splitlines()]
            pages.append("")
        else:
            pages += [f"## {name} — failed (exit code {entry['returncode']})", ""]
    (args.out / f"summary-{kind}.md").write_text("\n".join(pages), encoding="utf-8")
    (args.out / f"summary-{kind}.json").write_text(
        json.dumps(summary, indent=2) + "\n", encoding="utf-8"
    )
    failed = [n for n, e in summary["benchmarks"].items() if e["returncode"] != 0]
    print(f"wrote {args.out / f'summary-{kind}.md'}; failed: {failed or 'none'}")
    if failed:
        raise SystemExit(1)
    return summary


if __name__ == "__main__":
    main()
