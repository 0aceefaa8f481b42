"""The training loop: warmup + cosine learning rate, clipping, accumulation, evaluation, DDP.

Introduced in chapter 8. :class:`Trainer` works with any ``nn.Module`` that returns an object
with a scalar ``.loss`` (or a ``(logits, loss)`` pair): batches ``(x, y)`` are fed as
``model(x, targets=y)`` (a GPT), dict batches as ``model(**batch)`` (a BERT given
``input_ids``, ``attention_mask`` and ``labels``).

One optimizer step, in order:

1. set the learning rate for this step from the schedule (a pure function of the step);
2. for each of ``grad_accum_steps`` micro-batches: forward, ``loss / grad_accum_steps``,
   backward (gradients add up, so the sum is the gradient of the mean over all micro-batches);
3. clip the global gradient norm to ``grad_clip``;
4. ``AdamW.step()`` (:func:`lmkit.training.optim.build_adamw`), then zero the gradients.

Every ``eval_interval`` steps (and at the end) the Trainer measures the validation loss and
calls the ``evaluator``; both results go into that step's history record. Under ``torchrun``
the Trainer switches to DistributedDataParallel (:mod:`lmkit.training.distributed`). DDP,
bf16 autocast and ``torch.compile`` are the subject of chapter 13.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from lmkit.device import autocast, autocast_dtype, seed_everything
from lmkit.errors import ConfigError, InputError, LmkitError
from lmkit.training import run_checkpoint
from lmkit.training.batching import LMBatches
from lmkit.training.config import TrainConfig
from lmkit.training.distributed import Processes, any_process, global_mean, start_process_group
from lmkit.training.optim import build_adamw
from lmkit.training.trainer_checks import check_data_fits, check_trainer_inputs

__all__ = ["Trainer"]

logger = logging.getLogger(__name__)
Evaluator = Callable[[nn.Module], Mapping[str, Any]]


def _loss_of(output: object) -> torch.Tensor:
    loss = getattr(output, "loss", None)
    if loss is None and isinstance(output, tuple) and len(output) == 2:
        loss = output[1]  # a (logits, loss) pair
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        raise InputError(
            "The model's forward must return an object with a scalar .loss (or a (logits, "
            f"loss) pair), got {type(output).__name__} with loss={loss!r}."
        )
    return loss


class Trainer:
    """Trains ``model`` on ``train_data`` as set out in ``config``. Introduced in chapter 8.

    ``train_data`` is an :class:`~lmkit.training.batching.LMBatches` or anything with
    ``.batch(step, micro_step, rank, world_size)``, ``.batch_size`` and ``.block_size``, such as
    a :class:`~lmkit.training.batch_stream.BatchStream` of dict batches. ``callbacks`` are
    functions ``fn(trainer, record)`` (or objects with such an ``on_step`` method) called on
    every history record; one that returns ``True`` stops training cleanly. ``evaluator`` is a
    function ``fn(model) -> {name: value}``, called in eval mode without gradients on every
    evaluation step; its results join that step's record. ``param_groups`` replaces the
    default decay-the-matrices groups; a group with its own ``lr`` follows the schedule scaled
    to that peak. Under ``torchrun`` every process must create the Trainer and call ``fit``,
    ``evaluate`` and ``save_checkpoint``; only rank 0 shows the bar, logs, calls the callbacks
    and writes files.
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig | None,
        train_data: Any,
        val_data: Any | None = None,
        callbacks: list[Callable[..., Any]] | None = None,
        *,
        evaluator: Evaluator | None = None,
        param_groups: Iterable[Mapping[str, Any]] | None = None,
    ) -> None:
        config = TrainConfig() if config is None else config
        self.callbacks = list(callbacks or [])
        check_trainer_inputs(model, config, train_data, val_data, self.callbacks, evaluator)
        self.config, self.train_data, self.val_data = config, train_data, val_data
        self.evaluator = evaluator

        processes = Processes.from_env()
        self.world_size, self.rank = processes.world_size, processes.rank
        self.local_rank, self.ddp = processes.local_rank, processes.ddp
        self.device = processes.device(config.device)
        self._owns_process_group = start_process_group(processes, self.device)
        check_data_fits(model, config, train_data, val_data, self.world_size)

        if config.seed is not None:
            seed_everything(config.seed + self.rank)  # dropout masks differ between processes
        self.model = model.to(self.device)
        self.use_amp = config.amp == "bf16" or (
            config.amp == "auto" and autocast_dtype(self.device) == torch.bfloat16
        )
        groups = None if param_groups is None else list(param_groups)
        self.optimizer = build_adamw(
            self.model if groups is None else groups,
            lr=config.lr,
            weight_decay=config.weight_decay,
            betas=config.betas,
            eps=config.eps,
            fused=self.device.type == "cuda" if config.fused is None else config.fused,
        )
        # None: the group follows the schedule; a number: the group's own peak learning rate.
        self._peak_lrs = (
            [None] * len(self.optimizer.param_groups)
            if groups is None
            else [g.get("lr") for g in groups]
        )
        self._eval_model: nn.Module = torch.compile(model) if config.compile else model
        self._train_model: nn.Module = self._eval_model
        if self.ddp:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self._train_model = DistributedDataParallel(self._eval_model, device_ids=ids)
        self.step = 0  # optimizer steps done so far = index of the next step
        self.history: list[dict[str, Any]] = []
        self.elapsed = 0.0  # seconds of training so far, summed over resumed runs
        self._stop_requested = False

    # ------------------------------------------------------------------------ set-up
    @property
    def is_main_process(self) -> bool:
        """True on the process that logs and saves (rank 0)."""
        return self.rank == 0

    def _autocast(self) -> contextlib.AbstractContextManager:
        if not self.use_amp:
            return contextlib.nullcontext()
        if autocast_dtype(self.device) == torch.bfloat16:
            return autocast(self.device)
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    def _to_device(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.device.type == "cuda":
            return tensor.pin_memory().to(self.device, non_blocking=True)
        return tensor.to(self.device)

    def _loss(self, model: nn.Module, batch: Any) -> torch.Tensor:
        """The loss of one batch: ``model(**batch)`` for a dict, ``model(x, targets=y)`` else."""
        if isinstance(batch, Mapping):
            moved = {
                k: self._to_device(v) if isinstance(v, torch.Tensor) else v
                for k, v in batch.items()
            }
            with self._autocast():
                return _loss_of(model(**moved))
        x, y = batch
        x, y = self._to_device(x), self._to_device(y)  # (B/W, T) each
        with self._autocast():
            return _loss_of(model(x, targets=y))

    # ------------------------------------------------------------------------ training
    def _set_learning_rates(self, step: int) -> float:
        lr = self.config.lr_at(step)
        for group, peak in zip(self.optimizer.param_groups, self._peak_lrs, strict=True):
            group["lr"] = lr if peak is None else peak * (lr / self.config.lr)
        return lr

    def _train_step(self, step: int) -> tuple[float, torch.Tensor, torch.Tensor]:
        lr = self._set_learning_rates(step)
        accum = self.config.grad_accum_steps
        loss_sum = torch.zeros((), device=self.device)
        for micro in range(accum):
            batch = self.train_data.batch(step, micro, self.rank, self.world_size)
            # DDP averages gradients across processes during backward; only the last
            # micro-step needs that, the others just accumulate locally.
            last = micro == accum - 1
            sync = contextlib.nullcontext() if not self.ddp or last else self._train_model.no_sync()
            with sync:
                loss = self._loss(self._train_model, batch)
                (loss / accum).backward()
            loss_sum += loss.detach().float()
        if self.config.grad_norm_order == "model":
            params = [p for p in self.model.parameters() if p.grad is not None]
        else:
            groups = self.optimizer.param_groups
            params = [p for g in groups for p in g["params"] if p.grad is not None]
        if self.config.grad_clip:
            grad_norm = torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip)
        else:
            norms = [torch.linalg.vector_norm(p.grad.float()) for p in params]
            grad_norm = torch.linalg.vector_norm(torch.stack(norms)) if norms else torch.zeros(())
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return lr, loss_sum / accum, grad_norm

    def request_stop(self) -> None:
        """Ask :meth:`fit` to stop after the current step (safe to call from another thread)."""
        self._stop_requested = True

    def _run_callbacks(self, record: dict[str, Any]) -> bool:
        stop = False
        if self.is_main_process:
            for callback in self.callbacks:
                if getattr(callback, "on_step", callback)(self, record):
                    stop = True
        # every process must leave the loop together
        return any_process(stop or self._stop_requested, self.device, self.world_size)

    def _evaluate_into(self, record: dict[str, Any]) -> None:
        if self.val_data is not None:
            record["val_loss"] = self.evaluate()
        if self.evaluator is None:
            return
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                results = self.evaluator(self.model)
        finally:
            self.model.train(was_training)
        if not isinstance(results, Mapping):
            raise InputError(f"The evaluator must return a dict of results, got {results!r}.")
        clash = sorted(set(results) & set(record))
        if clash:
            raise InputError(f"The evaluator's results {clash} clash with the record's own keys.")
        record.update(results)
        if self.is_main_process:
            logger.info("step %d: %s", record["step"], {k: record[k] for k in results})

    def fit(self) -> list[dict[str, Any]]:
        """Train until ``max_steps`` (or a callback says stop); return :attr:`history`.

        Each record holds ``step`` (0-based), ``lr``, ``loss`` (mean over the global batch),
        ``grad_norm`` (before clipping), ``tokens_per_sec`` (``examples_per_sec`` for data
        without a ``block_size``), ``elapsed`` (seconds, summed over resumed runs) and, on
        evaluation steps, ``val_loss`` and the evaluator's results.
        """
        cfg = self.config
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)  # gradients left over from elsewhere
        self._stop_requested = False
        block = self.train_data.block_size
        speed_key = "examples_per_sec" if block is None else "tokens_per_sec"
        per_step = self.train_data.batch_size * (block or 1) * cfg.grad_accum_steps
        bar = tqdm(
            total=cfg.max_steps,
            initial=self.step,
            desc="training",
            unit="step",
            dynamic_ncols=True,
            disable=not (cfg.progress_bar and self.is_main_process),
        )
        start = last_time = time.perf_counter()
        elapsed_before, seen_since = self.elapsed, 0
        try:
            while self.step < cfg.max_steps:
                step = self.step
                lr, loss, grad_norm = self._train_step(step)
                self.step += 1
                seen_since += per_step
                bar.update(1)
                last = self.step == cfg.max_steps
                evaluate = (self.val_data is not None or self.evaluator is not None) and (
                    self.step % cfg.eval_interval == 0 or last
                )
                stop = self._stop_requested and not self.ddp
                if step % cfg.log_interval == 0 or last or evaluate:
                    record = self._record(step, lr, loss, grad_norm)
                    record[speed_key] = seen_since / max(time.perf_counter() - last_time, 1e-9)
                    if evaluate:
                        self._evaluate_into(record)
                    self.elapsed = elapsed_before + time.perf_counter() - start
                    record["elapsed"] = self.elapsed
                    self.history.append(record)
                    bar.set_postfix(
                        {k: f"{record[k]:.4g}" for k in ("loss", "val_loss", "lr") if k in record}
                    )
                    if evaluate and self.is_main_process and "val_loss" in record:
                        logger.info(
                            "step %d: loss %.4f, val_loss %.4f",
                            step,
                            record["loss"],
                            record["val_loss"],
                        )
                    stop = self._run_callbacks(record)
                    last_time, seen_since = time.perf_counter(), 0
                self.elapsed = elapsed_before + time.perf_counter() - start
                interval = cfg.checkpoint_interval
                if cfg.checkpoint_dir and (
                    last or stop or (interval and self.step % interval == 0)
                ):
                    self.save_checkpoint(cfg.checkpoint_dir)
                if stop:
                    break
        finally:
            bar.close()
        return self.history

    def _record(
        self, step: int, lr: float, loss: torch.Tensor, grad_norm: torch.Tensor
    ) -> dict[str, Any]:
        loss_value = global_mean(loss, self.world_size)
        if not math.isfinite(loss_value):
            raise LmkitError(
                f"Training diverged: the loss is {loss_value} at step {step}. Lower lr (now "
                f"{self.config.lr}), keep grad_clip on, or check the data and the model."
            )
        return {"step": step, "lr": lr, "loss": loss_value, "grad_norm": float(grad_norm)}

    @torch.no_grad()
    def evaluate(self, data: LMBatches | None = None, steps: int | None = None) -> float:
        """Mean loss over ``steps`` (default ``eval_steps``) fixed batches of ``data``.

        The batches are ``data.batch(0)``, ``data.batch(1)``… every time, so successive
        evaluations are directly comparable. ``data`` defaults to the validation data.
        """
        data = self.val_data if data is None else data
        if data is None or not hasattr(data, "batch"):
            raise InputError("evaluate() needs data: pass val_data to the Trainer or data= here.")
        steps = self.config.eval_steps if steps is None else steps
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ConfigError(f"steps must be an integer >= 1, got {steps!r}.")
        was_training = self.model.training
        self.model.eval()
        total = torch.zeros((), device=self.device)
        try:
            for i in range(steps):
                batch = data.batch(i, 0, self.rank, self.world_size)
                total += self._loss(self._eval_model, batch).float()
        finally:
            self.model.train(was_training)
        return global_mean(total / steps, self.world_size)

    # --------------------------------------------------------------------- checkpoints
    def save_checkpoint(self, path: str | os.PathLike | None = None) -> Path:
        """Save everything needed to resume exactly; defaults to ``config.checkpoint_dir``."""
        return run_checkpoint.save_run(self, path)

    def load_checkpoint(self, path: str | os.PathLike) -> Trainer:
        """Restore weights, optimizer, step, history and RNG states from ``path``.

        Everything is validated first; on a mismatch nothing is changed.
        """
        run_checkpoint.load_run(self, path)
        return self

    @classmethod
    def resume(
        cls,
        path: str | os.PathLike,
        model: nn.Module,
        train_data: Any,
        val_data: Any | None = None,
        *,
        config: TrainConfig | None = None,
        callbacks: list[Callable[..., Any]] | None = None,
        evaluator: Evaluator | None = None,
        param_groups: Iterable[Mapping[str, Any]] | None = None,
        **overrides: Any,
    ) -> Trainer:
        """A Trainer that continues the run saved at ``path``, with its saved TrainConfig.

        ``overrides`` change single settings (e.g. ``progress_bar=False``); changing the
        schedule (``max_steps``, ``lr``…) continues but no longer reproduces the original run.
        A run that saved checkpoints automatically saves them to ``path`` from now on, unless
        ``config`` or ``checkpoint_dir=`` says otherwise.
        """
        config = run_checkpoint.resume_config(path, config, overrides)
        trainer = cls(
            model, config, train_data, val_data, callbacks,
            evaluator=evaluator, param_groups=param_groups,
        )  # fmt: skip
        return trainer.load_checkpoint(path)

    def close(self) -> None:
        """Shut down the process group this Trainer started (under torchrun)."""
        if self._owns_process_group and dist.is_initialized():
            # Every rank arrives before any tears down: a rank that left while another still
            # wrote its files could abort in gloo's teardown ("terminate called without an
            # active exception"), seen once under load in CI.
            dist.barrier()
            dist.destroy_process_group()
            self._owns_process_group = False
