"""Time one training step of lmkit's GPT against transformers' GPT2LMHeadModel.

Run: ``python -m bench.train_step`` (``--help`` for options).

A step is forward + backward + gradient clipping + ``optimizer.step()`` + ``zero_grad()``.
Both models start from identical weights (lmkit's, converted with :func:`lmkit.gpt.interop.to_hf`),
use the same AdamW settings and the same batches, and are timed round by round in turn.
With ``--nanogpt PATH`` (a checkout of karpathy/nanoGPT), nanoGPT's own ``GPT`` from ``PATH/model.py``
joins them with the same weights (:mod:`bench.nanogpt`) and its own ``configure_optimizers``
(the same AdamW settings and decay groups).

- CPU: nanoGPT's "baby" Shakespeare config in fp32; transformers is measured with both its
  ``sdpa`` and its ``eager`` attention, and lmkit's ratio is taken against the faster one.
  Unless ``--no-compile``, lmkit also runs compiled (``lmkit-compiled``: ``torch.compile`` with
  inductor and the fused AdamW kernel, what ``TrainConfig(compile=True, fused=True)`` does), and
  so does nanoGPT (``nanoGPT-compiled``: its ``--compile=True``, its own optimizer).
- CUDA: GPT-2 small (vocab padded to 50304), batch 12 × 1024, bf16 autocast, SDPA flash,
  ``torch.compile``, fused AdamW; tokens/s and MFU against a bf16 matmul peak measured in the
  same run (:mod:`bench.matmul_peak`).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.common import Report, add_common_args, device_kind, run_cli, time_interleaved
from lmkit.errors import ConfigError
from lmkit.gpt.config import GPTConfig
from lmkit.gpt.model import GPT
from lmkit.training.optim import build_adamw

# nanoGPT's CPU "baby" config for Shakespeare characters (its README's laptop recipe).
BABY = {"vocab_size": 65, "block_size": 64, "n_layer": 4, "n_head": 4, "n_embd": 128}
BABY_BATCH = 12
# GPT-2 small with the vocabulary padded to a multiple of 64 (faster matmuls on GPUs).
GPT2_SMALL_PADDED = {
    "vocab_size": 50304,
    "block_size": 1024,
    "n_layer": 12,
    "n_head": 12,
    "n_embd": 768,
}
GPT2_BATCH = 12

ADAMW = {"lr": 1e-3, "betas": (0.9, 0.99), "weight_decay": 0.1}
GRAD_CLIP = 1.0

# Measured on the project's 2-core CPU machine before this suite existed (see FIELD-NOTES).
REFERENCE_CPU = [
    {"name": "nanoGPT (reference, earlier run)", "ms_per_iter": 44.8},
    {"name": "transformers GPT-2 (reference, earlier run)", "ms_per_iter": 49.5},
    {"name": "lmkit target", "ms_per_iter": 40.0},
]
LMKIT_TARGET_MS = 40.0

__all__ = [
    "BABY",
    "GPT2_SMALL_PADDED",
    "adamw",
    "hf_peers",
    "main",
    "run",
    "training_flops_per_token",
]


def adamw(model: nn.Module, *, fused: bool = False) -> torch.optim.AdamW:
    """AdamW with the benchmark's settings; weight decay on matrices only, as nanoGPT does.

    :func:`lmkit.training.optim.build_adamw` leaves biases and LayerNorm gains (1-D tensors)
    undecayed. The same rule is applied to both models, so the optimizers do identical work.
    """
    return build_adamw(
        model,
        lr=ADAMW["lr"],
        weight_decay=ADAMW["weight_decay"],
        betas=ADAMW["betas"],
        fused=fused,
    )


def hf_peers(model: GPT, implementations: tuple[str, ...]) -> dict[str, nn.Module]:
    """transformers GPT-2 copies of ``model`` (same weights), one per attention implementation."""
    from lmkit.gpt.interop import to_hf

    return {
        f"transformers-{impl}": to_hf(model, attn_implementation=impl) for impl in implementations
    }


def training_flops_per_token(config: GPTConfig, n_params: int) -> float:
    """FLOPs of forward + backward per token: ``6N + 12·L·H·Q·T`` (PaLM paper, appendix B).

    ``6N`` covers every weight matmul (2 FLOPs per multiply-add, ×3 for forward + backward);
    ``12·L·H·Q·T`` the attention scores and their weighted sum, which have no weights.
    """
    c = config
    return 6 * n_params + 12 * c.n_layer * c.n_head * c.head_dim * c.block_size


def _loss_fn(model: nn.Module, name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if name.startswith("lmkit"):
        return lambda x, y: model(x, y).loss
    if name.startswith("nanoGPT"):
        return lambda x, y: model(x, y)[1]  # nanoGPT returns (logits, loss)

    # transformers' own ``labels=`` path shifts by one and drops the last position; the
    # benchmark gives both models the same (x, y) pairs and the same cross-entropy instead.
    def hf_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits = model(input_ids=x).logits
        return F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))

    return hf_loss


def _make_step(
    model: nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    batches: Iterator[tuple[torch.Tensor, torch.Tensor]],
    context: Callable[[], contextlib.AbstractContextManager],
) -> Callable[[], None]:
    def step() -> None:
        x, y = next(batches)
        with context():
            loss = loss_fn(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def _optimizer(name: str, model: nn.Module, cuda: bool) -> torch.optim.Optimizer:
    if name == "lmkit-compiled":
        return adamw(model, fused=True)
    if not name.startswith("nanoGPT"):
        return adamw(model, fused=cuda)
    from bench.nanogpt import nanogpt_optimizer

    return nanogpt_optimizer(
        model,
        lr=ADAMW["lr"],
        weight_decay=ADAMW["weight_decay"],
        betas=ADAMW["betas"],
        device="cuda" if cuda else "cpu",
    )


def _cuda_context(flash: bool) -> Callable[[], contextlib.AbstractContextManager]:
    """bf16 autocast, and SDPA restricted to the flash kernel when ``flash``."""

    @contextlib.contextmanager
    def context() -> Iterator[None]:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            if not flash:
                yield
                return
            from torch.nn.attention import SDPBackend, sdpa_kernel

            with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
                yield

    return context


@contextlib.contextmanager
def _float32_matmul_precision(precision: str | None) -> Iterator[None]:
    previous = torch.get_float32_matmul_precision()
    if precision is not None:
        torch.set_float32_matmul_precision(precision)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)


def _initial_losses(
    models: dict[str, nn.Module],
    batch: tuple[torch.Tensor, torch.Tensor],
    context: Callable[[], contextlib.AbstractContextManager],
) -> dict[str, float]:
    x, y = batch
    with torch.no_grad(), context():
        return {name: _loss_fn(m, name)(x, y).item() for name, m in models.items()}


def _check_same_losses(
    report: Report,
    models: dict[str, nn.Module],
    batch: tuple[torch.Tensor, torch.Tensor],
    cuda: bool,
) -> Callable[[], contextlib.AbstractContextManager]:
    """Record whether all models give lmkit's loss; return the context to train under.

    Identical weights must give identical losses, or the timings compare different models.
    On CUDA this first forward also tells whether the flash kernel accepts these shapes.
    """
    context = _cuda_context(flash=True) if cuda else contextlib.nullcontext
    try:
        losses = _initial_losses(models, batch, context)
    except RuntimeError as exc:
        if not cuda:
            raise
        report.notes.append(f"SDPA flash backend refused ({exc}); PyTorch picked the kernel.")
        context = _cuda_context(flash=False)
        losses = _initial_losses(models, batch, context)
    tolerance = 2e-2 if cuda else 1e-4
    report.checks["initial loss (same weights, same batch)"] = ", ".join(
        f"{name} {value:.5f}" for name, value in losses.items()
    )
    report.checks[f"losses agree within {tolerance:g}"] = all(
        abs(v - losses["lmkit"]) <= tolerance for v in losses.values()
    )
    return context


def run(
    device: torch.device | str = "cpu",
    *,
    config: dict[str, Any] | None = None,
    batch_size: int | None = None,
    rounds: int | None = None,
    calls_per_round: int | None = None,
    warmup: int | None = None,
    compile: bool | None = None,
    implementations: tuple[str, ...] | None = None,
    seed: int = 0,
    nanogpt: str | Path | None = None,
) -> Report:
    """Measure the training step of lmkit and its transformers peers; return the report.

    Defaults depend on the device: the baby config in fp32 on CPU (transformers sdpa and
    eager), GPT-2 small in bf16 with ``torch.compile`` and fused AdamW on CUDA (sdpa only).
    ``nanogpt``: a nanoGPT checkout whose model joins the peers. On CPU ``compile`` (default
    True) adds compiled copies of lmkit and nanoGPT next to their eager selves; on CUDA it
    compiles every model.
    """
    device = torch.device(device)
    cuda = device.type == "cuda"
    model_config = dict(config or (GPT2_SMALL_PADDED if cuda else BABY))
    batch_size = batch_size or (GPT2_BATCH if cuda else BABY_BATCH)
    rounds = rounds or (10 if cuda else 15)
    calls_per_round = calls_per_round or 10
    warmup = (10 if cuda else 5) if warmup is None else warmup
    compile = True if compile is None else compile
    # On CUDA every model is compiled; on CPU compiled copies join the eager ones.
    compiled_copies = compile and not cuda
    implementations = implementations or (("sdpa",) if cuda else ("sdpa", "eager"))
    if batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size}.")
    # TF32 for whatever stays in fp32 on the GPU; the caller's setting is restored afterwards.
    with _float32_matmul_precision("high" if cuda else None):
        torch.manual_seed(seed)
        gpt_config = GPTConfig(**model_config, dropout=0.0)
        lmkit_model = GPT(gpt_config).to(device)
        models: dict[str, nn.Module] = {
            "lmkit": lmkit_model,
            **hf_peers(lmkit_model, implementations),
        }
        if nanogpt is not None:
            from bench.nanogpt import nanogpt_copy

            models["nanoGPT"] = nanogpt_copy(lmkit_model, nanogpt)
        if compiled_copies:
            for name in [n for n in models if n in ("lmkit", "nanoGPT")]:
                models[f"{name}-compiled"] = copy.deepcopy(models[name])

        # A fixed pool of random batches, cycled: the step's cost does not depend on the data.
        generator = torch.Generator().manual_seed(seed)
        tokens = torch.randint(
            0,
            gpt_config.vocab_size,
            (8, batch_size, gpt_config.block_size + 1),
            generator=generator,
        ).to(device)
        pool = [(t[:, :-1].contiguous(), t[:, 1:].contiguous()) for t in tokens]

        report = Report(
            "train_step",
            device_kind(device),
            {
                **model_config,
                "batch_size": batch_size,
                "dtype": "bf16 autocast" if cuda else "fp32",
                "compile": compile if cuda else compile and "the -compiled copies",
                "adamw": {**ADAMW, "fused": cuda or (compile and "lmkit-compiled")},
                "grad_clip": GRAD_CLIP,
                "rounds": rounds,
                "steps_per_round": calls_per_round,
                "warmup_steps": warmup,
                "nanogpt": None if nanogpt is None else str(nanogpt),
            },
        )

        context = _check_same_losses(report, models, pool[0], cuda)

        steps = {}
        for name, model in models.items():
            model.train()
            loss_fn = _loss_fn(model, name)
            if (cuda and compile) or name.endswith("-compiled"):
                loss_fn = torch.compile(loss_fn)
            optimizer = _optimizer(name, model, cuda)
            steps[name] = _make_step(model, loss_fn, optimizer, itertools.cycle(pool), context)
        seconds = time_interleaved(
            steps, rounds=rounds, calls_per_round=calls_per_round, warmup=warmup, device=device
        )

        tokens_per_step = batch_size * gpt_config.block_size
        flops_per_token = training_flops_per_token(
            gpt_config, lmkit_model.num_parameters(exclude_position_embeddings=True)
        )
        peak = None
        if cuda:
            from bench.matmul_peak import measure_matmul_peak

            peak = measure_matmul_peak(device)["median_flops"]
            report.config["matmul_peak_tflops"] = round(peak / 1e12, 1)
        for name, samples in seconds.items():
            row = report.add_timing_row(name, samples, unit="ms")
            row["tokens_per_s"] = tokens_per_step / (row["median"] / 1e3)
            if peak is not None:
                row["mfu"] = flops_per_token * row["tokens_per_s"] / peak

        ours = [n for n in models if n.startswith("lmkit")]
        peers = [n for n in models if n not in ours]
        fastest_peer = min(peers, key=lambda n: report.row(n)["median"])
        for lmkit_name in ours:
            for peer in peers:
                report.add_ratio(f"{peer} time / {lmkit_name} time", peer, lmkit_name)
            report.add_ratio(
                f"fastest peer ({fastest_peer}) time / {lmkit_name} time", fastest_peer, lmkit_name
            )
        if not cuda and model_config == BABY and batch_size == BABY_BATCH:
            report.reference = [dict(r) for r in REFERENCE_CPU]
            report.checks[f"lmkit median ≤ {LMKIT_TARGET_MS} ms target"] = (
                report.row("lmkit")["median"] <= LMKIT_TARGET_MS
            )
            report.notes.append(
                "Reference figures come from an earlier run on the project's CPU machine; compare "
                "them with this run only when the hardware stamp matches."
            )
        report.notes.append(
            "A ratio above 1 means lmkit is faster. Both models use biases (GPT-2 layout), tied "
            "embeddings and no dropout; transformers' loss is the same cross-entropy on its logits."
        )
        if nanogpt is not None:
            report.notes.append(
                "nanoGPT holds lmkit's initial weights and trains with its own "
                "configure_optimizers (decay on tensors of 2+ dimensions, as lmkit's build_adamw; "
                "fused on CUDA only). Its MLP uses the exact GELU, lmkit's the tanh approximation."
            )
        if cuda:
            report.notes.append(
                "MFU = (6N + 12·L·H·Q·T) · tokens/s / peak, N = parameters without position "
                "embeddings, peak = the 8192³ bf16 matmul measured in this run."
            )
        report.finish()
        return report


def main(argv: list[str] | None = None) -> Report | None:
    """Command-line entry point: ``python -m bench.train_step``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser)
    parser.add_argument("--rounds", type=int, default=None, help="measurement rounds")
    parser.add_argument("--steps", type=int, default=None, help="steps per round")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up steps per model")
    parser.add_argument(
        "--no-compile",
        action="store_true",
        help="no torch.compile (CUDA: of every model; CPU: no -compiled copies)",
    )
    parser.add_argument(
        "--cpu-config-on-gpu", action="store_true", help="on CUDA, time the baby config instead"
    )
    parser.add_argument(
        "--nanogpt", type=Path, default=None, help="a karpathy/nanoGPT checkout to time as a peer"
    )
    return run_cli(
        parser,
        argv,
        lambda args, device: run(
            device,
            config=BABY if args.cpu_config_on_gpu else None,
            batch_size=BABY_BATCH if args.cpu_config_on_gpu else None,
            rounds=args.rounds,
            calls_per_round=args.steps,
            warmup=args.warmup,
            compile=False if args.no_compile else None,
            seed=args.seed,
            nanogpt=args.nanogpt,
        ),
    )


if __name__ == "__main__":
    main()
