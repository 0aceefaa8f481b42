"""Memory of a training step: lmkit's GPT against transformers' GPT-2, with and without
gradient checkpointing.

Run: ``python -m bench.memory`` (``--help`` for options).

Three measurements per configuration, each in a fresh Python process so one measurement cannot
inherit another's allocator state:

- **peak RSS** (CPU): ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` after a few training steps,
  with the RSS before the model was built, so the difference is the model's own footprint;
- **saved activations** (any device): the bytes autograd keeps from forward for backward,
  summed with ``torch.autograd.graph.saved_tensors_hooks`` over distinct storages, parameters
  excluded. Exact and independent of the hardware and the allocator;
- **peak allocated** (CUDA): ``torch.cuda.max_memory_allocated`` during a step, and the part of
  it above the weights, gradients and optimizer state (activations and temporaries).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from bench.common import REPO_ROOT, Report, add_common_args, device_kind, run_cli
from lmkit.errors import ConfigError, LmkitError

CONFIGS = {
    "baby": {
        "model": {"vocab_size": 65, "block_size": 64, "n_layer": 4, "n_head": 4, "n_embd": 128},
        "batch_size": 12,
    },
    "larger": {
        "model": {"vocab_size": 65, "block_size": 256, "n_layer": 6, "n_head": 6, "n_embd": 384},
        "batch_size": 8,
    },
}
IMPLEMENTATIONS = ("lmkit", "transformers")
STEPS = 3
MIB = 2**20

__all__ = ["CONFIGS", "main", "measure", "peak_rss_bytes", "run", "saved_tensor_bytes"]


def peak_rss_bytes() -> int:
    """This process's peak resident set size in bytes (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def saved_tensor_bytes(
    fn: Callable[[], torch.Tensor], exclude: nn.Module | None = None
) -> tuple[int, torch.Tensor]:
    """Run ``fn`` and return (bytes autograd saved for backward, ``fn``'s result).

    Each storage counts once, however many ops saved it or views of it; storages of
    ``exclude``'s parameters and buffers are left out (they live on whether or not we train).
    """
    skip = set()
    if exclude is not None:
        skip = {t.untyped_storage().data_ptr() for t in (*exclude.parameters(), *exclude.buffers())}
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in skip:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        result = fn()
    return sum(storages.values()), result


def _build(
    impl: str, model_config: dict[str, int], checkpointing: bool, device: torch.device
) -> tuple[nn.Module, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]:
    """The model and its ``loss(x, y)``; weights are random (memory does not depend on them)."""
    from lmkit.gpt.config import GPTConfig
    from lmkit.gpt.model import GPT

    config = GPTConfig(**model_config, dropout=0.0, gradient_checkpointing=checkpointing)
    if impl == "lmkit":
        model = GPT(config).to(device)
        return model, lambda x, y: model(x, y).loss
    if impl != "transformers":
        raise ConfigError(f"impl must be one of {IMPLEMENTATIONS}, got {impl!r}.")
    from transformers import GPT2LMHeadModel

    from lmkit.gpt.interop import config_to_hf

    model = GPT2LMHeadModel._from_config(config_to_hf(config), attn_implementation="sdpa").to(
        device
    )
    if checkpointing:
        # transformers 5 renamed the switch; older releases only have gradient_checkpointing_enable.
        kwargs = {"use_reentrant": False}
        if hasattr(model, "activation_checkpointing_enable"):
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)

    def loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits = model(input_ids=x, use_cache=False).logits
        return nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))

    return model, loss


def measure(
    impl: str,
    config_name: str,
    checkpointing: bool,
    device: torch.device | str = "cpu",
    *,
    steps: int = STEPS,
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train ``steps`` steps of one configuration in *this* process and return its memory figures.

    Meant to run in a fresh process (see :func:`run`); peak RSS is a process-wide high-water mark.
    """
    from lmkit.device import autocast

    device = torch.device(device)
    spec = config or CONFIGS.get(config_name)
    if spec is None:
        raise ConfigError(f"Unknown config {config_name!r}; choose one of {sorted(CONFIGS)}.")
    if impl == "transformers":
        # transformers imports lazily: load the model code now, so the baseline includes it.
        from transformers import GPT2LMHeadModel  # noqa: F401
    # The first AdamW imports torch._dynamo (~200 MB); transformers imports it by itself.
    # Build a throwaway one so the baseline includes it for every implementation alike.
    torch.optim.AdamW([nn.Parameter(torch.zeros(1))])
    rss_before = peak_rss_bytes()
    torch.manual_seed(0)
    model, loss_fn = _build(impl, spec["model"], checkpointing, device)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    block, batch = spec["model"]["block_size"], spec["batch_size"]
    x = torch.randint(0, spec["model"]["vocab_size"], (batch, block), device=device)
    y = torch.randint(0, spec["model"]["vocab_size"], (batch, block), device=device)
    cuda = device.type == "cuda"

    saved = 0
    steady = 0
    for step in range(steps):
        if cuda and step == steps - 1:
            # The last step runs with weights, gradients' memory and optimizer state in place.
            torch.cuda.synchronize(device)
            steady = torch.cuda.memory_allocated(device)
            torch.cuda.reset_peak_memory_stats(device)
        with autocast(device):
            saved, loss = saved_tensor_bytes(lambda: loss_fn(x, y), exclude=model)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    result: dict[str, Any] = {
        "params": sum(p.numel() for p in model.parameters()),
        "saved_activations_mib": saved / MIB,
        "rss_before_model_mib": rss_before / MIB,
        "peak_rss_mib": peak_rss_bytes() / MIB,
    }
    result["rss_growth_mib"] = result["peak_rss_mib"] - result["rss_before_model_mib"]
    if cuda:
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
        result["peak_allocated_mib"] = peak / MIB
        result["above_steady_state_mib"] = (peak - steady) / MIB
    return result


def _measure_in_subprocess(
    impl: str, config_name: str, checkpointing: bool, device: torch.device, threads: int | None
) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "bench.memory",
        "--child",
        json.dumps({"impl": impl, "config": config_name, "checkpointing": checkpointing}),
        "--device",
        str(device),
    ]
    if threads is not None:
        command += ["--threads", str(threads)]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LmkitError(
            f"The memory measurement of {impl}/{config_name} (checkpointing={checkpointing}) "
            f"failed in its subprocess:\n{done.stderr[-2000:]}"
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(
    device: torch.device | str = "cpu",
    *,
    configs: tuple[str, ...] = tuple(CONFIGS),
    implementations: tuple[str, ...] = IMPLEMENTATIONS,
    threads: int | None = None,
) -> Report:
    """Measure every (config, implementation, checkpointing) combination in its own process."""
    device = torch.device(device)
    unknown = sorted(set(configs) - set(CONFIGS))
    if unknown:
        raise ConfigError(f"Unknown config(s) {unknown}; choose from {sorted(CONFIGS)}.")
    report = Report(
        "memory",
        device_kind(device),
        {
            **{
                name: {**CONFIGS[name]["model"], "batch_size": CONFIGS[name]["batch_size"]}
                for name in configs
            },
            "steps": STEPS,
            "optimizer": "AdamW",
            "dtype": "bf16 autocast" if device.type == "cuda" else "fp32",
        },
        timed=False,
    )
    for config_name in configs:
        for impl in implementations:
            for checkpointing in (False, True):
                figures = _measure_in_subprocess(impl, config_name, checkpointing, device, threads)
                name = f"{config_name} {impl}{' + checkpointing' if checkpointing else ''}"
                report.add_row(name, **figures)
            report.add_ratio(
                f"{config_name} {impl}: saved activations, checkpointing / none",
                f"{config_name} {impl} + checkpointing",
                f"{config_name} {impl}",
                column="saved_activations_mib",
            )
        if {"lmkit", "transformers"} <= set(implementations):
            report.add_ratio(
                f"{config_name}: saved activations, transformers / lmkit",
                f"{config_name} transformers",
                f"{config_name} lmkit",
                column="saved_activations_mib",
            )
            report.add_ratio(
                f"{config_name}: RSS growth, transformers / lmkit",
                f"{config_name} transformers",
                f"{config_name} lmkit",
                column="rss_growth_mib",
            )
    report.notes.append(
        "saved_activations_mib: bytes autograd keeps for backward (distinct storages, "
        "parameters excluded), counted with saved_tensors_hooks; exact and hardware-independent. "
        "With checkpointing only each block's input is kept, the rest is recomputed in backward."
    )
    report.notes.append(
        "peak_rss_mib is the process's high-water mark after "
        f"{STEPS} training steps; rss_growth_mib subtracts the RSS before the model was built "
        "(Python, torch and, for transformers rows, transformers imported). RSS depends on the "
        "allocator and the OS, so compare growth figures, not absolute ones."
    )
    report.finish()
    return report


def main(argv: list[str] | None = None) -> Report | None:
    """Command-line entry point: ``python -m bench.memory``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--child", help=argparse.SUPPRESS)  # one measurement, JSON on stdout

    def make_report(args: argparse.Namespace, device: torch.device) -> Report | None:
        if not args.child:
            return run(device, configs=tuple(args.configs), threads=args.threads)
        job = json.loads(args.child)
        print(json.dumps(measure(job["impl"], job["config"], job["checkpointing"], device)))
        return None

    return run_cli(parser, argv, make_report)


if __name__ == "__main__":
    main()
