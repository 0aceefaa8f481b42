"""Measure the GPU's achievable bf16 matmul throughput: the denominator of MFU.

Run: ``python -m bench.matmul_peak`` (CUDA only).

Datasheet peaks assume boost clocks and perfect kernels; a large square bf16 matmul measured on
the same GPU, in the same run, is what a training step could reach at best. MFU computed against
it says how much of *this* GPU's practical peak a model uses.
"""

from __future__ import annotations

import argparse

import torch

from bench.common import (
    Report,
    add_common_args,
    device_kind,
    run_cli,
    summarize,
    time_interleaved,
)
from lmkit.errors import ConfigError

__all__ = ["main", "measure_matmul_peak"]


def measure_matmul_peak(
    device: torch.device | str = "cuda",
    *,
    size: int = 8192,
    dtype: torch.dtype = torch.bfloat16,
    rounds: int = 10,
    calls_per_round: int = 20,
    warmup: int = 5,
) -> dict[str, float | list[float]]:
    """FLOP/s of a ``size``³ matmul in ``dtype``: median, best, and the seconds per matmul."""
    device = torch.device(device)
    if device.type != "cuda":
        raise ConfigError(
            f"The matmul peak is measured on a CUDA GPU (it is the MFU denominator), got "
            f"device {device}. Run on a machine with CUDA or skip this benchmark."
        )
    if not isinstance(size, int) or size < 1:
        raise ConfigError(f"size must be a positive integer, got {size!r}.")
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(size, size, device=device, dtype=dtype, generator=generator)
    b = torch.randn(size, size, device=device, dtype=dtype, generator=generator)
    out = torch.empty(size, size, device=device, dtype=dtype)
    seconds = time_interleaved(
        {"matmul": lambda: torch.mm(a, b, out=out)},
        rounds=rounds,
        calls_per_round=calls_per_round,
        warmup=warmup,
        device=device,
    )["matmul"]
    flops = 2 * size**3  # one multiply and one add per (i, j, k)
    stats = summarize(seconds)
    return {
        "median_flops": flops / stats["median"],
        "best_flops": flops / stats["min"],
        "seconds": seconds,
        "size": size,
    }


def main(argv: list[str] | None = None) -> Report | None:
    """Command-line entry point: ``python -m bench.matmul_peak``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser)
    parser.add_argument("--size", type=int, default=8192, help="matrix size (default 8192)")

    def make_report(args: argparse.Namespace, device: torch.device) -> Report:
        result = measure_matmul_peak(device, size=args.size)
        report = Report("matmul_peak", device_kind(device), {"size": args.size, "dtype": "bf16"})
        row = report.add_timing_row(f"{args.size}³ bf16 matmul", result["seconds"], unit="ms")
        row["tflops"] = 2 * args.size**3 / (row["median"] / 1e3) / 1e12
        row["best_tflops"] = result["best_flops"] / 1e12
        report.finish()
        return report

    return run_cli(parser, argv, make_report)


if __name__ == "__main__":
    main()
