"""Train nanoGPT's "baby" Shakespeare model with lmkit's Trainer and report the validation loss.

Run: ``python -m bench.train_shakespeare`` (``--iters 50`` for a smoke run, ``--help`` for more).

The recipe is nanoGPT's CPU recipe for character-level Shakespeare: 4 layers, 4 heads, 128
dims, context 64, batch 12, dropout 0, no biases (``--bias`` adds them), AdamW (lr 1e-3 → 1e-4 by cosine after 100 warmup steps,
betas (0.9, 0.99), weight decay 0.1), gradient clipping 1.0, 2,000 iterations, and the mean loss
of 200 validation batches every 250 iterations. nanoGPT reaches 1.874 on this machine; lmkit's
target is ≤ 1.88. ``--nanogpt PATH`` (a karpathy/nanoGPT checkout) trains nanoGPT's own model
alongside, with the same Trainer, batches and validation estimator; ``--seeds N`` repeats over seeds.

The text is read from ``--data`` (default ``../shared/data/tinyshakespeare.txt`` next to the
repository); it is never copied into the repository.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from bench.common import REPO_ROOT, Report, add_common_args, device_kind, run_cli
from bench.nanogpt_train import median_iteration_ms
from lmkit.errors import ConfigError, InputError
from lmkit.gpt.config import GPTConfig
from lmkit.gpt.model import GPT
from lmkit.tokenizers import CharTokenizer
from lmkit.training.batching import LMBatches, split_train_val
from lmkit.training.config import TrainConfig
from lmkit.training.trainer import Trainer

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
ITERS = 2000
# nanoGPT's baby config has no biases (its default bias=False); --bias gives the GPT-2 layout.
MODEL = {"block_size": 64, "n_layer": 4, "n_head": 4, "n_embd": 128, "dropout": 0.0, "bias": False}
RECIPE = {
    "batch_size": 12,
    "lr": 1e-3,
    "min_lr": 1e-4,
    "warmup_steps": 100,
    "betas": (0.9, 0.99),
    "weight_decay": 0.1,
    "grad_clip": 1.0,
    "eval_interval": 250,
    "eval_steps": 200,
}
TARGET_VAL_LOSS = 1.88
REFERENCE = [{"name": "nanoGPT (reference, earlier run)", "val_loss": 1.874, "iters": 2000}]

__all__ = ["DEFAULT_DATA", "main", "read_text", "run"]


def read_text(path: str | Path) -> str:
    """The training text at ``path``, or :class:`InputError` saying how to get it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"The Shakespeare text was not found at {path}. Pass the file with --data PATH "
            f"(the tinyshakespeare corpus, about 1.1 MB of plain text); the benchmark reads it "
            f"in place and never copies it into the repository."
        )
    text = path.read_text(encoding="utf-8")
    if len(text) < 10 * (MODEL["block_size"] + 1):
        raise InputError(
            f"{path} holds only {len(text)} characters; that is too little to train on."
        )
    return text


def _fit(
    model: torch.nn.Module,
    config: TrainConfig,
    train_data: LMBatches,
    val_data: LMBatches,
) -> tuple[dict[str, Any], list[tuple[int, float]]]:
    """Train ``model`` with lmkit's Trainer; its row figures and (iteration, val loss) pairs.

    ``config`` logs every step, so the history's ``elapsed`` times each iteration, as nanoGPT
    times its loop; ``ms_per_iter`` is the median over the iterations without an evaluation,
    iteration 0 left out (``warmup_s``: where ``torch.compile`` compiles).
    """
    trainer = Trainer(model, config, train_data, val_data)
    eval_seconds = [0.0]
    evaluate = trainer.evaluate

    @functools.wraps(evaluate)
    def timed_evaluate(*args: Any, **kwargs: Any) -> float:
        start = time.perf_counter()
        try:
            return evaluate(*args, **kwargs)
        finally:
            eval_seconds[0] += time.perf_counter() - start

    trainer.evaluate = timed_evaluate  # type: ignore[method-assign]
    start = time.perf_counter()
    history = trainer.fit()
    wall = time.perf_counter() - start
    elapsed = [0.0] + [r["elapsed"] for r in history]
    iteration_ms = {
        r["step"]: (b - a) * 1e3
        for r, (a, b) in zip(history, itertools.pairwise(elapsed), strict=True)
    }
    evaluated = [r["step"] for r in history if "val_loss" in r]
    evals = [(r["step"] + 1, r["val_loss"]) for r in history if "val_loss" in r]
    row = {
        "iters": config.max_steps,
        "final_val_loss": evals[-1][1],
        "final_train_loss": history[-1]["loss"],
        "wall_s": wall,
        "eval_s": eval_seconds[0],
        "warmup_s": iteration_ms[0] / 1e3,
        "ms_per_iter": median_iteration_ms(iteration_ms, evaluated),
    }
    return row, evals


def run(
    device: torch.device | str = "cpu",
    *,
    data: str | Path = DEFAULT_DATA,
    iters: int = ITERS,
    eval_steps: int | None = None,
    bias: bool = False,
    seed: int = 0,
    seeds: int = 1,
    nanogpt: str | Path | None = None,
    nanogpt_loop: bool = True,
    compile: bool = False,
    progress_bar: bool = False,
) -> Report:
    """Train the baby config for ``iters`` steps on ``data``; return the report.

    ``bias=False`` is nanoGPT's setting for this recipe; ``True`` gives GPT-2's layout.
    ``seeds`` runs seeds ``seed, seed + 1, …`` (weights and batch order). With ``nanogpt`` (a
    nanoGPT checkout), nanoGPT's model is trained too, by the same Trainer, from lmkit's
    initial weights, on the same batches, and scored by the same validation estimator; the
    two alternate run by run (lmkit first for even seeds, nanoGPT first for odd ones). Then,
    with ``nanogpt_loop``, the checkout's own ``train.py`` trains once (it seeds itself with
    1337) and its checkpoint is scored by the same estimator. ``compile`` runs lmkit's Trainer
    (and nanoGPT's loop) under ``torch.compile``.
    """
    for name, value in (("iters", iters), ("seeds", seeds)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}.")
    device = torch.device(device)
    text = read_text(data)
    if nanogpt is not None:
        from bench.nanogpt import load_nanogpt_module, nanogpt_copy

        load_nanogpt_module(nanogpt)  # a wrong path fails now, not after the first training run
        if nanogpt_loop:
            from bench.nanogpt_train import check_nanogpt_checkout, run_nanogpt_loop

            check_nanogpt_checkout(nanogpt)
    tokenizer = CharTokenizer.train(text)
    train_ids, val_ids = split_train_val(tokenizer.encode(text), 0.1)
    recipe = dict(RECIPE, warmup_steps=min(RECIPE["warmup_steps"], iters))
    if eval_steps is not None:
        recipe["eval_steps"] = eval_steps
    block, batch = MODEL["block_size"], recipe["batch_size"]
    model_config = {**MODEL, "bias": bias}
    report = Report(
        "train_shakespeare",
        device_kind(device),
        {
            "data": Path(data).name,
            "characters": len(text),
            "vocab_size": tokenizer.vocab_size,
            "train_tokens": len(train_ids),
            "val_tokens": len(val_ids),
            **model_config,
            **recipe,
            "iters": iters,
            "seeds": list(range(seed, seed + seeds)),
            "nanogpt": None if nanogpt is None else str(nanogpt),
            "nanogpt_loop": nanogpt is not None and nanogpt_loop,
            "compile": compile,
        },
    )
    labelled = nanogpt is not None or seeds > 1
    results: dict[str, list[dict[str, Any]]] = {}
    for index, run_seed in enumerate(range(seed, seed + seeds)):
        torch.manual_seed(run_seed)
        lmkit_model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, **model_config))
        models = {"lmkit Trainer": lmkit_model}
        if nanogpt is not None:
            models["nanoGPT model, lmkit Trainer"] = nanogpt_copy(lmkit_model, nanogpt)
        order = list(models) if index % 2 == 0 else list(models)[::-1]
        for name in order:
            config = TrainConfig(
                max_steps=iters,  # the cosine decays over the whole run, as nanoGPT's lr_decay_iters
                log_interval=1,  # a record per step: its "elapsed" times each iteration
                device=str(device),
                seed=run_seed,
                progress_bar=progress_bar,
                compile=compile,
                # Compiled runs take the fastest CPU settings, as train_step's lmkit-compiled.
                fused=True if compile else None,
                **recipe,
            )
            report.config["amp"] = config.amp
            # Fresh batch streams per run: both models see the same batches in the same order.
            train_data = LMBatches(train_ids, block, batch, seed=run_seed)
            val_data = LMBatches(val_ids, block, batch, seed=run_seed + 1)
            row, evals = _fit(models[name], config, train_data, val_data)
            row_name = f"{name}, seed {run_seed}" if labelled else name
            report.add_row(row_name, seed=run_seed, **row)
            results.setdefault(name, []).append(row)
            report.checks[f"{row_name}: val loss at each evaluation (iteration: loss)"] = ", ".join(
                f"{step}: {loss:.4f}" for step, loss in evals
            )
    if labelled:
        _add_summary(report, results)
    if nanogpt is not None and nanogpt_loop:
        # Scored on each lmkit run's validation stream, so the mean compares with lmkit's mean.
        val_streams = [
            LMBatches(val_ids, block, batch, seed=s + 1) for s in range(seed, seed + seeds)
        ]
        loop = run_nanogpt_loop(
            nanogpt, tokenizer=tokenizer, train_ids=train_ids, val_ids=val_ids,
            model_config=model_config, recipe=recipe, iters=iters, device=device,
            compile=compile, progress_bar=progress_bar,
            val_data=val_streams,
        )  # fmt: skip
        _add_nanogpt_loop(report, loop, f"lmkit Trainer, {seeds} seeds")
    final_val = statistics.mean(r["final_val_loss"] for r in results["lmkit Trainer"])
    if iters == ITERS:
        report.reference = [dict(r) for r in REFERENCE]
        report.checks[f"lmkit final val loss ≤ {TARGET_VAL_LOSS} target"] = (
            final_val <= TARGET_VAL_LOSS
        )
    else:
        report.notes.append(
            f"Short run ({iters} iterations): the learning rate decays over {iters} steps, so "
            "the loss is not comparable with the 2,000-iteration target."
        )
    report.notes.append(
        "ms_per_iter is the median time of one iteration (the Trainer logs every step; the gaps "
        "between its records' elapsed, as nanoGPT's loop times itself), leaving out iteration 0 "
        "(warmup_s, "
        "where torch.compile compiles) and the iterations that include an evaluation (eval_s in "
        "all); wall_s includes everything."
    )
    if nanogpt is not None:
        report.notes.append(
            "nanoGPT's model (imported from the checkout) is trained by lmkit's Trainer: the same "
            "batches, AdamW groups and settings, schedule, clipping and validation estimator "
            f"({recipe['eval_steps']} fixed batches), from lmkit's initial weights. Whole runs "
            "alternate, so ms_per_iter ratios are noisier than bench.train_step's interleaved ones."
        )
    report.finish()
    return report


def _add_summary(report: Report, results: dict[str, list[dict[str, Any]]]) -> None:
    """A row per model over its seeds (mean val loss, median ms/iter) and the peer ratios."""
    for name, rows in results.items():
        losses = [r["final_val_loss"] for r in rows]
        report.add_row(
            f"{name}, {len(rows)} seeds",
            final_val_loss=statistics.mean(losses),
            val_loss_min=min(losses),
            val_loss_max=max(losses),
            ms_per_iter=statistics.median(r["ms_per_iter"] for r in rows),
        )
    peer = "nanoGPT model, lmkit Trainer"
    if peer in results:
        n = len(results[peer])
        report.add_ratio(
            "nanoGPT ms/iter / lmkit ms/iter",
            f"{peer}, {n} seeds",
            f"lmkit Trainer, {n} seeds",
            column="ms_per_iter",
        )
        report.checks["lmkit mean val loss ≤ nanoGPT's (same estimator)"] = (
            report.row(f"lmkit Trainer, {n} seeds")["final_val_loss"]
            <= report.row(f"{peer}, {n} seeds")["final_val_loss"]
        )


def _add_nanogpt_loop(report: Report, loop: Any, lmkit_row: str) -> None:
    """The row of nanoGPT's own ``train.py`` run, its ratio to lmkit and the loss check."""
    name = "nanoGPT train.py (its loop, seed 1337)"
    report.add_row(
        name, iters=loop.iters, final_val_loss=loop.final_val_loss,
        nanogpt_val_loss=loop.nanogpt_val_loss, wall_s=loop.wall_s, ms_per_iter=loop.ms_per_iter,
    )  # fmt: skip
    report.add_ratio("nanoGPT train.py ms/iter / lmkit ms/iter", name, lmkit_row, "ms_per_iter")
    report.checks["lmkit mean val loss ≤ nanoGPT train.py's (same estimator)"] = (
        report.row(lmkit_row)["final_val_loss"] <= loop.final_val_loss
    )
    report.checks[f"{name}: its own val loss at each evaluation (iteration: loss)"] = ", ".join(
        f"{i}: {val:.4f}" for i, (_, val) in sorted(loop.evaluations.items())
    )
    report.notes.append(
        "nanoGPT train.py is the checkout's own script, run unchanged in a subprocess with the "
        "same settings on the command line, on lmkit's character ids of the same split, with "
        "as many torch threads (OMP_NUM_THREADS) as this process. It seeds itself with 1337, so "
        "it runs once, from its own initial weights and random batches: its loss is one sample, "
        "not a mean over seeds. final_val_loss scores its last checkpoint with lmkit's estimator "
        "(the lmkit runs' fixed validation batches, averaged over their seeds); nanogpt_val_loss "
        f"is its own ({loop.eval_interval}-iteration interval, eval_iters random batches). Its "
        "ms_per_iter is the median of its printed iteration times, leaving out iteration 0 and "
        "those that include an evaluation and checkpoint."
    )


def main(argv: list[str] | None = None) -> Report | None:
    """Command-line entry point: ``python -m bench.train_shakespeare``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser)
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help=f"text file (default {DEFAULT_DATA})"
    )
    parser.add_argument(
        "--iters", type=int, default=ITERS, help=f"training iterations (default {ITERS})"
    )
    parser.add_argument(
        "--eval-steps", type=int, default=None, help="validation batches per evaluation"
    )
    parser.add_argument(
        "--bias", action="store_true", help="biases in Linear/LayerNorm (GPT-2); nanoGPT has none"
    )
    parser.add_argument("--seeds", type=int, default=1, help="seeds to run, from --seed on")
    parser.add_argument(
        "--nanogpt", type=Path, default=None, help="a karpathy/nanoGPT checkout to train as a peer"
    )
    parser.add_argument(
        "--no-nanogpt-loop",
        dest="nanogpt_loop",
        action="store_false",
        help="with --nanogpt: skip running nanoGPT's own train.py",
    )
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile the models (inductor on CPU)"
    )
    return run_cli(
        parser,
        argv,
        lambda args, device: run(
            device,
            data=args.data,
            iters=args.iters,
            eval_steps=args.eval_steps,
            bias=args.bias,
            seed=args.seed,
            seeds=args.seeds,
            nanogpt=args.nanogpt,
            nanogpt_loop=args.nanogpt_loop,
            compile=args.compile,
            progress_bar=sys.stderr.isatty(),
        ),
    )


if __name__ == "__main__":
    main()
