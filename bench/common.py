"""What every benchmark shares: the environment stamp, interleaved timing, and the report.

A benchmark number is only worth something next to the machine, the software and the load it
was measured under, so every report carries them. Peers are always measured in the same run,
interleaved round by round, so that a slow minute (thermal throttling, a neighbour's job) hits
both sides alike; the ratios are then computed from the medians of those rounds.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import importlib.metadata
import json
import os
import platform
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmkit.errors import ConfigError, LmkitError

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"

__all__ = [
    "REPO_ROOT",
    "RESULTS_DIR",
    "Report",
    "add_common_args",
    "device_kind",
    "environment_stamp",
    "load_average",
    "markdown_table",
    "run_cli",
    "setup_from_args",
    "summarize",
    "sync",
    "time_interleaved",
]


# ----------------------------------------------------------------------------- environment
def load_average() -> float | None:
    """The 1-minute load average, or ``None`` where the OS has none (Windows)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _cpu_model() -> str:
    # /proc/cpuinfo names the real part ("AMD EPYC 7R13"); platform.processor() often says "x86_64".
    try:
        for line in (
            Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines()
        ):
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment_stamp() -> dict[str, Any]:
    """Hardware, software, date and thread counts of this process, as a JSON-ready dict."""
    try:
        cores_usable = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores_usable = os.cpu_count()
    gpu = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        gpu = {
            "name": props.name,
            "memory_gib": round(props.total_memory / 2**30, 1),
            "capability": f"{props.major}.{props.minor}",
            "count": torch.cuda.device_count(),
            "cuda": torch.version.cuda,
        }
    import lmkit

    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "hardware": {
            "cpu_model": _cpu_model(),
            "cpu_cores": os.cpu_count(),
            "cpu_cores_usable": cores_usable,
            "memory_gib": _memory_gib(),
            "gpu": gpu,
        },
        "software": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": _version("transformers"),
            "numpy": np.__version__,
            "lmkit": lmkit.__version__,
            "os": platform.platform(terse=True),
        },
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
    }


def device_kind(device: torch.device | str) -> str:
    """The tag that goes into result file names: ``cpu``, ``mps`` or ``cuda-<gpu>`` (e.g. ``cuda-h100-80gb-hbm3``).

    The GPU model is part of the tag so H100 and H200 results do not overwrite each other.
    """
    device = torch.device(device)
    if device.type != "cuda":
        return device.type
    name = torch.cuda.get_device_name(device).lower().replace("nvidia", "")
    slug = re.sub(r"[^a-z0-9]+", "-", name).strip("-")
    return f"cuda-{slug}" if slug else "cuda"


# ----------------------------------------------------------------------------------- timing
def sync(device: torch.device | str) -> None:
    """Wait for queued GPU work, so a wall-clock reading covers the kernels, not their launch."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def summarize(samples: Sequence[float]) -> dict[str, float | int]:
    """Median, 10th and 90th percentile (linear interpolation), min and count of ``samples``."""
    if len(samples) == 0:
        raise ConfigError("Cannot summarize zero timing samples; use at least one repeat.")
    values = np.asarray(samples, dtype=np.float64)
    p10, median, p90 = np.percentile(values, [10, 50, 90])
    return {
        "median": float(median),
        "p10": float(p10),
        "p90": float(p90),
        "min": float(values.min()),
        "n": len(values),
    }


def time_interleaved(
    candidates: dict[str, Callable[[], object]],
    *,
    rounds: int,
    calls_per_round: int = 1,
    warmup: int = 1,
    device: torch.device | str = "cpu",
) -> dict[str, list[float]]:
    """Seconds per call of each candidate, one sample per round, rounds interleaved.

    Every candidate is first called ``warmup`` times (compilation, allocator and cache warm-up).
    Then each round runs every candidate ``calls_per_round`` times in a row, rotating which one
    goes first, so drift in machine speed during the run is shared by all of them.
    """
    for name, value in (("rounds", rounds), ("calls_per_round", calls_per_round)):
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}.")
    if not isinstance(warmup, int) or warmup < 0:
        raise ConfigError(f"warmup must be a non-negative integer, got {warmup!r}.")
    if not candidates:
        raise ConfigError("time_interleaved needs at least one candidate to time.")
    names = list(candidates)
    for name in names:
        for _ in range(warmup):
            candidates[name]()
        sync(device)
    samples: dict[str, list[float]] = {name: [] for name in names}
    # As timeit does: collect once, then keep the cycle collector out of the timed region, where
    # a pause (half a second with transformers loaded) would land on one candidate only.
    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                fn = candidates[name]
                sync(device)
                start = time.perf_counter()
                for _ in range(calls_per_round):
                    fn()
                sync(device)
                samples[name].append((time.perf_counter() - start) / calls_per_round)
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


# ----------------------------------------------------------------------------------- report
def _fmt(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:  # NaN
            return "—"
        # Four significant digits: enough to tell a loss of 1.874 from 1.88.
        return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|")


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A GitHub markdown table of ``rows``; columns default to the union of keys, in order."""
    if columns is None:
        columns = []
        for row in rows:
            columns.extend(k for k in row if k not in columns)
    header = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(_fmt(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join([header, rule, *body])


@dataclass
class Report:
    """One benchmark run: its rows of measurements, ratios between rows, checks and notes.

    ``rows`` are dicts with at least ``name``; timing rows also hold ``median``/``p10``/``p90``
    (in ``unit``) and derived throughput columns. Ratios always point back at two rows and one
    column, so anyone can recompute them from the JSON.
    """

    benchmark: str
    device: str
    config: dict[str, Any]
    environment: dict[str, Any] = field(default_factory=environment_stamp)
    rows: list[dict[str, Any]] = field(default_factory=list)
    ratios: list[dict[str, Any]] = field(default_factory=list)
    reference: list[dict[str, Any]] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    load_start: float | None = field(default_factory=load_average)
    load_end: float | None = None
    timed: bool = True  # False for reports without timings (memory): no load warning

    def add_row(self, name: str, **values: Any) -> dict[str, Any]:
        """Append a row named ``name`` (names must be unique) and return it."""
        if any(r["name"] == name for r in self.rows):
            raise ConfigError(f"Row {name!r} already exists in the {self.benchmark} report.")
        row = {"name": name, **values}
        self.rows.append(row)
        return row

    def add_timing_row(
        self, name: str, seconds: Sequence[float], *, unit: str = "ms", **extra: Any
    ) -> dict[str, Any]:
        """A row of summarized timings: ``seconds`` per call, shown in ``unit`` (``ms`` or ``s``)."""
        scale = {"ms": 1e3, "s": 1.0}.get(unit)
        if scale is None:
            raise ConfigError(f"unit must be 'ms' or 's', got {unit!r}.")
        stats = summarize([s * scale for s in seconds])
        return self.add_row(name, unit=unit, **stats, **extra)

    def row(self, name: str) -> dict[str, Any]:
        """The row called ``name``."""
        for r in self.rows:
            if r["name"] == name:
                return r
        raise ConfigError(
            f"No row {name!r} in the {self.benchmark} report; rows: {[r['name'] for r in self.rows]}."
        )

    def add_ratio(
        self, label: str, numerator: str, denominator: str, column: str = "median"
    ) -> float | None:
        """Record ``row(numerator)[column] / row(denominator)[column]`` under ``label``.

        The value is ``None`` when the denominator is 0.
        """
        top, bottom = float(self.row(numerator)[column]), float(self.row(denominator)[column])
        value = top / bottom if bottom else None  # None (JSON null): undefined, not infinite
        self.ratios.append(
            {
                "name": label,
                "numerator": numerator,
                "denominator": denominator,
                "column": column,
                "value": value,
            }
        )
        return value

    def finish(self) -> None:
        """Stamp the end-of-run load average (call once, after the last measurement).

        A load above the usable cores (plus one for ourselves) means other processes competed
        for the CPU; the report then says its timings are unreliable.
        """
        self.load_end = load_average()
        cores = self.environment["hardware"]["cpu_cores_usable"] or 1
        loads = [x for x in (self.load_start, self.load_end) if x is not None]
        if self.timed and loads and max(loads) > cores + 1:
            self.notes.append(
                f"WARNING: the 1-minute load average reached {max(loads)} on {cores} usable "
                "cores during this run: other processes competed for the CPU, so the timings "
                "are unreliable. Rerun on a quiet machine."
            )

    def to_dict(self) -> dict[str, Any]:
        """The whole report as JSON-ready data."""
        environment = dict(self.environment)
        environment["load_avg_1min_start"] = self.load_start
        environment["load_avg_1min_end"] = self.load_end
        return {
            "benchmark": self.benchmark,
            "device": self.device,
            "environment": environment,
            "config": self.config,
            "rows": self.rows,
            "ratios": self.ratios,
            "reference": self.reference,
            "checks": self.checks,
            "notes": self.notes,
        }

    def to_markdown(self) -> str:
        """A human-readable page: environment, configuration, results, ratios, checks, notes."""
        env = self.environment
        hw, sw = env["hardware"], env["software"]
        gpu = hw["gpu"]["name"] if hw.get("gpu") else None
        stamp = [
            {"item": "date", "value": env["date"]},
            {"item": "CPU", "value": f"{hw['cpu_model']} ({hw['cpu_cores_usable']} usable cores)"},
            {"item": "GPU", "value": gpu},
            {"item": "torch threads", "value": env["torch_threads"]},
            {
                "item": "load average (1 min)",
                "value": f"{self.load_start} at start, {self.load_end} at end",
            },
            {
                "item": "python / torch / transformers / lmkit",
                "value": f"{sw['python']} / {sw['torch']} / {sw['transformers']} / {sw['lmkit']}",
            },
        ]
        config = ", ".join(f"{k}={v}" for k, v in self.config.items())
        lines = [f"# {self.benchmark} — {self.device}", "", markdown_table(stamp), ""]
        lines += [f"Configuration: {config}", "", "## Results", "", markdown_table(self.rows), ""]
        if self.ratios:
            ratio_rows = [
                {
                    "ratio": r["name"],
                    "value": r["value"],
                    "computed as": f"{r['numerator']} / {r['denominator']} ({r['column']})",
                }
                for r in self.ratios
            ]
            lines += ["## Ratios", "", markdown_table(ratio_rows), ""]
        if self.reference:
            lines += ["## Reference, earlier run (not measured now)", ""]
            lines += [markdown_table(self.reference), ""]
        if self.checks:
            check_rows = [{"check": k, "result": v} for k, v in self.checks.items()]
            lines += ["## Checks", "", markdown_table(check_rows), ""]
        if self.notes:
            lines += ["## Notes", "", *[f"- {n}" for n in self.notes], ""]
        return "\n".join(lines)

    def write(self, out_dir: str | Path = RESULTS_DIR) -> tuple[Path, Path]:
        """Write ``<benchmark>-<device>.json`` and ``.md`` into ``out_dir``; return both paths."""
        if self.load_end is None:
            self.finish()
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{self.benchmark}-{self.device}"
        json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
        json_path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        md_path.write_text(self.to_markdown(), encoding="utf-8")
        return json_path, md_path


# ------------------------------------------------------------------------------ command line
def add_common_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options every benchmark accepts: ``--device``, ``--threads``, ``--out``, ``--seed``."""
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda or mps")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)"
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS_DIR, help=f"results folder (default {RESULTS_DIR})"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for weights and data")
    return parser


def run_cli(
    parser: argparse.ArgumentParser,
    argv: list[str] | None,
    make_report: Callable[[argparse.Namespace, torch.device], Report | None],
) -> Report | None:
    """Parse ``argv``, run ``make_report(args, device)``, then write and print its report.

    An lmkit error (bad setting, missing file) ends the program with its message and exit
    code 2 instead of a traceback. ``make_report`` may return ``None`` (nothing to write).
    """
    args = parser.parse_args(argv)
    try:
        device = setup_from_args(args)
        report = make_report(args, device)
    except LmkitError as exc:
        parser.exit(2, f"error: {exc}\n")
    if report is not None:
        paths = report.write(args.out)
        print(report.to_markdown())
        print("wrote", *paths)
    return report


def setup_from_args(args: argparse.Namespace) -> torch.device:
    """Apply ``--threads`` and ``--seed`` and return the device ``--device`` names."""
    from lmkit.device import pick_device, seed_everything

    if args.threads is not None:
        if args.threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {args.threads}.")
        torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    return pick_device(args.device)
