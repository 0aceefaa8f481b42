"""nanoGPT's own training loop as a peer: its ``train.py`` run on lmkit's data, scored by lmkit.

Used by :mod:`bench.train_shakespeare` with ``--nanogpt PATH`` (a karpathy/nanoGPT checkout).
The checkout's ``train.py`` runs unchanged, in a subprocess, in a temporary work folder that
holds nanoGPT's dataset format (``data/shakespeare_char/{train,val}.bin`` and ``meta.pkl``, as
its ``prepare.py`` writes them) with lmkit's character ids of lmkit's train/validation split,
and a copy of its ``configurator.py`` (``train.py`` reads both relative to the working folder).
Every setting comes from the caller's model and recipe dicts, on the command line.

Its printed ``iter N: … time T ms`` lines give the time per iteration; its ``step N: … val
loss`` lines its own estimate (``eval_iters`` random batches). Its last checkpoint is then
loaded into nanoGPT's ``GPT`` and scored with lmkit's estimator, :meth:`Trainer.evaluate` on
the same fixed validation batches as lmkit's runs. nanoGPT seeds itself with 1337, so it runs
once, with its own initial weights and batch order.
"""

from __future__ import annotations

import collections
import contextlib
import io
import os
import pickle
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from lmkit.device import autocast_dtype
from lmkit.errors import InputError
from lmkit.tokenizers import CharTokenizer
from lmkit.training.batching import LMBatches
from lmkit.training.config import TrainConfig
from lmkit.training.trainer import Trainer

DATASET = "shakespeare_char"
CONFIG_FILE = Path("config") / "train_shakespeare_char.py"
_TAIL_LINES = 20  # of the subprocess's output, quoted when it fails
# The formats of train.py's two print statements (its timing is "time {dt*1000:.2f}ms").
_ITER_LINE = re.compile(r"^iter (\d+): loss (\S+), time ([\d.]+)\s*ms")
_EVAL_LINE = re.compile(r"^step (\d+): train loss (\S+), val loss (\S+)")

__all__ = [
    "NanoGPTRun",
    "check_nanogpt_checkout",
    "evaluate_with_trainer",
    "median_iteration_ms",
    "nanogpt_train_args",
    "parse_nanogpt_line",
    "run_nanogpt_loop",
    "write_nanogpt_dataset",
]


@dataclass
class NanoGPTRun:
    """What one run of nanoGPT's ``train.py`` gave."""

    model: nn.Module  # nanoGPT's GPT holding the final checkpoint
    iters: int  # optimizer steps behind that checkpoint
    eval_interval: int
    iteration_ms: dict[int, float]  # iteration → its printed time
    ms_per_iter: float  # median over iterations without an evaluation, iteration 0 left out
    evaluations: dict[int, tuple[float, float]]  # iteration → its own (train, val) loss
    wall_s: float
    final_val_loss: float | None = None  # lmkit's estimator, set by run_nanogpt_loop
    output_tail: list[str] = field(default_factory=list)

    @property
    def nanogpt_val_loss(self) -> float:
        """nanoGPT's own validation estimate at the checkpoint's iteration."""
        return self.evaluations[self.iters][1]


def check_nanogpt_checkout(path: str | Path) -> Path:
    """``path`` if it holds nanoGPT's ``train.py``, ``configurator.py`` and the Shakespeare config."""
    path = Path(path)
    missing = [
        name
        for name in ("train.py", "configurator.py", str(CONFIG_FILE))
        if not (path / name).is_file()
    ]
    if missing:
        raise InputError(
            f"The nanoGPT checkout at {path} lacks {', '.join(missing)}, which running its own "
            "training loop needs. Pass --nanogpt PATH with PATH a full checkout of "
            "karpathy/nanoGPT, or --no-nanogpt-loop to train only its model with lmkit's Trainer."
        )
    return path


def write_nanogpt_dataset(
    work_dir: str | Path,
    tokenizer: CharTokenizer,
    train_ids: Sequence[int] | np.ndarray,
    val_ids: Sequence[int] | np.ndarray,
) -> Path:
    """Write ``data/shakespeare_char/`` under ``work_dir`` as nanoGPT's ``prepare.py`` does.

    ``train.bin`` and ``val.bin`` hold the ids as ``np.uint16``; ``meta.pkl`` the vocabulary
    size and the id ↔ character maps, which ``train.py`` reads for ``vocab_size``. (We write
    this pickle for nanoGPT; nothing here loads one.) Returns the data folder.
    """
    if tokenizer.vocab_size > np.iinfo(np.uint16).max + 1:
        raise InputError(
            f"nanoGPT stores ids as uint16; vocab_size {tokenizer.vocab_size} is too big."
        )
    data_dir = Path(work_dir) / "data" / DATASET
    data_dir.mkdir(parents=True, exist_ok=True)
    np.asarray(train_ids, dtype=np.uint16).tofile(data_dir / "train.bin")
    np.asarray(val_ids, dtype=np.uint16).tofile(data_dir / "val.bin")
    itos = dict(enumerate(tokenizer.chars))
    meta = {
        "vocab_size": tokenizer.vocab_size,
        "itos": itos,
        "stoi": {c: i for i, c in itos.items()},
    }
    with open(data_dir / "meta.pkl", "wb") as f:
        pickle.dump(meta, f)
    return data_dir


def nanogpt_train_args(
    config_file: str | Path,
    *,
    model_config: Mapping[str, Any],
    recipe: Mapping[str, Any],
    iters: int,
    eval_interval: int,
    out_dir: str | Path,
    device: torch.device | str = "cpu",
    compile: bool = False,
) -> list[str]:
    """``train.py``'s arguments: the config file, then every setting of the run as ``--key=value``.

    Its configurator checks each value's type against its default, so floats stay floats.
    """
    device = torch.device(device)
    warmup = int(recipe["warmup_steps"])
    # As lmkit's Trainer with amp="auto": bf16 autocast on capable GPUs, fp32 elsewhere.
    dtype = "bfloat16" if autocast_dtype(device) == torch.bfloat16 else "float32"
    settings = {
        "device": str(device),
        "compile": compile,
        "dtype": dtype,
        "dataset": DATASET,
        "out_dir": str(out_dir),
        "always_save_checkpoint": True,
        "log_interval": 1,
        "eval_interval": eval_interval,
        "eval_iters": int(recipe["eval_steps"]),
        "gradient_accumulation_steps": 1,
        "batch_size": int(recipe["batch_size"]),
        "block_size": int(model_config["block_size"]),
        "n_layer": int(model_config["n_layer"]),
        "n_head": int(model_config["n_head"]),
        "n_embd": int(model_config["n_embd"]),
        "dropout": float(model_config["dropout"]),
        "bias": bool(model_config["bias"]),
        "max_iters": iters,
        # The cosine ends with the run, as lmkit's max_steps. When the warm-up fills the whole
        # run, train.py's get_lr(max_iters) would divide by zero; one more iteration changes
        # only the lr of its extra, never-saved last iteration (see run_nanogpt_loop).
        "lr_decay_iters": max(iters, warmup + 1),
        "warmup_iters": warmup,
        "learning_rate": float(recipe["lr"]),
        "min_lr": float(recipe["min_lr"]),
        "beta1": float(recipe["betas"][0]),
        "beta2": float(recipe["betas"][1]),
        "weight_decay": float(recipe["weight_decay"]),
        "grad_clip": float(recipe["grad_clip"]),
    }
    return [str(config_file), *(f"--{key}={value}" for key, value in settings.items())]


def parse_nanogpt_line(line: str) -> tuple[str, dict[str, float | int]] | None:
    """``("iter", {iter, loss, ms})``, ``("eval", {iter, train_loss, val_loss})`` or ``None``."""
    if match := _ITER_LINE.match(line):
        return "iter", {"iter": int(match[1]), "loss": float(match[2]), "ms": float(match[3])}
    if match := _EVAL_LINE.match(line):
        values = {"train_loss": float(match[2]), "val_loss": float(match[3])}
        return "eval", {"iter": int(match[1]), **values}
    return None


def median_iteration_ms(iteration_ms: Mapping[int, float], skip: Iterable[int]) -> float:
    """The median time of the iterations other than 0 (warm-up) and those in ``skip``.

    If that leaves none (a very short run), the median of all iterations not in ``skip``,
    then of all of them.
    """
    skip = set(skip)
    for keep in (
        lambda i: i != 0 and i not in skip,
        lambda i: i not in skip,
        lambda i: True,
    ):
        times = [ms for i, ms in iteration_ms.items() if keep(i)]
        if times:
            return statistics.median(times)
    raise InputError("No iteration times to summarize.")


def evaluate_with_trainer(
    model: nn.Module, val_data: LMBatches, eval_steps: int, device: torch.device | str = "cpu"
) -> float:
    """lmkit's validation estimate of ``model``: :meth:`Trainer.evaluate` on ``val_data``."""
    config = TrainConfig(max_steps=1, eval_steps=eval_steps, device=str(device), seed=None)
    return Trainer(model, config, val_data, val_data).evaluate()


def _stream(command: list[str], cwd: Path, total: int, progress_bar: bool) -> tuple[list[str], int]:
    """Run ``command``, reading its output line by line; return the lines and the exit code."""
    # The same intra-op threads as lmkit's runs in this process (torch reads OMP_NUM_THREADS).
    env = dict(os.environ, OMP_NUM_THREADS=str(torch.get_num_threads()), PYTHONUNBUFFERED="1")
    lines: list[str] = []
    bar = tqdm(total=total, desc="nanoGPT train.py", unit="iter", disable=not progress_bar)
    with subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, bufsize=1,
    ) as process:  # fmt: skip
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if lines[-1].startswith("iter "):
                bar.update(1)
    bar.close()
    return lines, process.returncode


def _failure(message: str, lines: list[str]) -> InputError:
    tail = "\n".join(collections.deque(lines, maxlen=_TAIL_LINES)) or "(no output)"
    return InputError(f"{message} Its last lines of output:\n{tail}")


def run_nanogpt_loop(
    checkout: str | Path,
    *,
    tokenizer: CharTokenizer,
    train_ids: Sequence[int] | np.ndarray,
    val_ids: Sequence[int] | np.ndarray,
    model_config: Mapping[str, Any],
    recipe: Mapping[str, Any],
    iters: int,
    val_data: Sequence[LMBatches],
    device: torch.device | str = "cpu",
    compile: bool = False,
    progress_bar: bool = False,
    work_dir: str | Path | None = None,
) -> NanoGPTRun:
    """Train with the checkout's own ``train.py`` for ``iters`` steps; time it and score it.

    ``final_val_loss`` is the mean of lmkit's estimate over the ``val_data`` streams (those of
    lmkit's runs, ``recipe["eval_steps"]`` batches each). ``work_dir`` keeps the dataset and
    checkpoint (default: a temporary folder, removed afterwards).
    """
    from bench.nanogpt import load_nanogpt_module

    checkout = check_nanogpt_checkout(checkout).resolve()
    module = load_nanogpt_module(checkout)
    # train.py checkpoints only at evaluations; one must fall on iteration max_iters.
    eval_interval = recipe["eval_interval"] if iters % recipe["eval_interval"] == 0 else iters
    with contextlib.ExitStack() as stack:
        if work_dir is None:
            work_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="nanogpt-"))
        work_dir = Path(work_dir).resolve()
        write_nanogpt_dataset(work_dir, tokenizer, train_ids, val_ids)
        shutil.copy(checkout / "configurator.py", work_dir / "configurator.py")
        out_dir = work_dir / "out"
        args = nanogpt_train_args(
            checkout / CONFIG_FILE, model_config=model_config, recipe=recipe, iters=iters,
            eval_interval=eval_interval, out_dir=out_dir, device=device, compile=compile,
        )  # fmt: skip
        start = time.perf_counter()
        # train.py runs iterations 0…max_iters: max_iters + 1 timing lines.
        lines, code = _stream([sys.executable, str(checkout / "train.py"), *args], work_dir,
                              iters + 1, progress_bar)  # fmt: skip
        wall = time.perf_counter() - start
        if code != 0:
            raise _failure(f"nanoGPT's train.py exited with code {code}.", lines)
        iteration_ms, evaluations = {}, {}
        for line in lines:
            parsed = parse_nanogpt_line(line)
            if parsed and parsed[0] == "iter":
                iteration_ms[parsed[1]["iter"]] = parsed[1]["ms"]
            elif parsed:
                evaluations[parsed[1]["iter"]] = (parsed[1]["train_loss"], parsed[1]["val_loss"])
        if not iteration_ms:
            raise _failure(
                "nanoGPT's train.py printed no 'iter N: loss X, time T ms' lines; is this "
                "karpathy/nanoGPT's train.py?", lines,
            )  # fmt: skip
        ckpt_path = out_dir / "ckpt.pt"
        if not ckpt_path.is_file():
            raise _failure(f"nanoGPT's train.py wrote no checkpoint {ckpt_path}.", lines)
        # A file our own subprocess just wrote; plain tensors and numbers, so weights_only works.
        checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    # train.py evaluates and saves at the top of iteration iter_num, before that iteration's
    # update: the checkpoint saved at iter_num == max_iters holds exactly max_iters updates.
    # (It then trains iteration max_iters too and stops; that last update is never saved.)
    if checkpoint.get("iter_num") != iters:
        raise InputError(
            f"nanoGPT's last checkpoint is from iteration {checkpoint.get('iter_num')}, not {iters}."
        )
    prefix = "_orig_mod."  # what torch.compile adds to the names, as train.py strips it
    state = {k.removeprefix(prefix): v for k, v in checkpoint["model"].items()}
    with contextlib.redirect_stdout(io.StringIO()):  # it prints its parameter count
        model = module.GPT(module.GPTConfig(**checkpoint["model_args"]))
    model.load_state_dict(state, strict=True)
    model.to(device)
    # An iteration's printed time includes the evaluation (and checkpoint) made before it.
    timed_evals = {i for i in iteration_ms if i % eval_interval == 0}
    run = NanoGPTRun(
        model=model,
        iters=iters,
        eval_interval=eval_interval,
        iteration_ms=iteration_ms,
        ms_per_iter=median_iteration_ms(iteration_ms, timed_evals),
        evaluations=evaluations,
        wall_s=wall,
        output_tail=lines[-_TAIL_LINES:],
    )
    if iters not in evaluations:
        raise _failure(f"nanoGPT's train.py printed no evaluation at iteration {iters}.", lines)
    eval_steps = int(recipe["eval_steps"])
    run.final_val_loss = statistics.mean(
        evaluate_with_trainer(model, data, eval_steps, device) for data in val_data
    )
    return run
