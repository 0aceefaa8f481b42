"""The training loop: AdamW, warmup + cosine learning rate, clipping, accumulation, DDP.

Introduced in chapter 8. :class:`Trainer` works with any ``nn.Module`` whose
``forward(x, targets=y)`` returns an object with a scalar ``.loss`` (a GPT, a classifier…).

One optimizer step, in order:

1. set the learning rate for this step from the schedule (a pure function of the step);
2. for each of ``grad_accum_steps`` micro-batches: forward, ``loss / grad_accum_steps``,
   backward (gradients add up, so the sum is the gradient of the mean over all micro-batches);
3. clip the global gradient norm to ``grad_clip``;
4. ``AdamW.step()``, then zero the gradients.

Weight decay follows common GPT practice: matrices (every parameter with 2 or more dimensions,
the embedding tables included) are decayed; biases and LayerNorm gains/shifts (1-D) are not,
because shrinking them towards 0 only changes a layer's offset or scale, not its capacity.
AdamW applies the decay *decoupled* from the gradient: ``w -= lr * weight_decay * w``.

Run the same script with ``torchrun --nproc_per_node=N`` and the Trainer switches to
DistributedDataParallel: every process takes its share of the same global batch, gradients
are averaged, and the reported losses are global means, equal to a single-process run.
DDP, bf16 autocast and ``torch.compile`` are the subject of chapter 13.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from lmkit.device import autocast, autocast_dtype, pick_device, seed_everything
from lmkit.errors import CheckpointError, ConfigError, InputError, LmkitError
from lmkit.training import checkpoint as ckpt
from lmkit.training.batching import LMBatches
from lmkit.training.run_state import capture_rng_state, check_optimizer_state, restore_rng_state
from lmkit.training.schedule import constant, warmup_cosine

__all__ = ["TrainConfig", "Trainer"]

logger = logging.getLogger(__name__)
AMP_MODES = ("auto", "bf16", "off")
SCHEDULES = ("cosine", "constant")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _positive_int(value: object, _: object = None) -> bool:
    return _is_int(value) and value >= 1


def _optional_positive_int(value: object, _: object = None) -> bool:
    return value is None or _positive_int(value)


# field -> (test of the value given the whole config, what the message says it must be)
_RULES: dict[str, tuple[Callable[[Any, Any], bool], str]] = {
    "max_steps": (_positive_int, "an integer >= 1"),
    "batch_size": (_optional_positive_int, "None or an integer >= 1"),
    "grad_accum_steps": (_positive_int, "an integer >= 1"),
    "lr": (lambda v, c: _is_number(v) and v > 0, "a number > 0"),
    "min_lr": (
        lambda v, c: v is None or (_is_number(v) and 0 <= v <= c.lr),
        "None (= lr / 10) or a number in [0, lr]",
    ),
    "warmup_steps": (
        lambda v, c: v is None or (_is_int(v) and 0 <= v <= c.max_steps),
        "None or an integer in [0, max_steps]",
    ),
    "schedule": (lambda v, c: v in SCHEDULES, f"one of {SCHEDULES}"),
    "weight_decay": (lambda v, c: _is_number(v) and v >= 0, "a number >= 0"),
    "betas": (
        lambda v, c: (
            isinstance(v, tuple) and len(v) == 2 and all(_is_number(b) and 0 <= b < 1 for b in v)
        ),
        "two numbers in [0, 1), e.g. (0.9, 0.95)",
    ),
    "eps": (lambda v, c: _is_number(v) and v > 0, "a number > 0"),
    "grad_clip": (
        lambda v, c: v is None or (_is_number(v) and v >= 0),
        "None/0 (off) or a number > 0",
    ),
    "eval_interval": (_positive_int, "an integer >= 1"),
    "eval_steps": (_positive_int, "an integer >= 1"),
    "log_interval": (_positive_int, "an integer >= 1"),
    "compile": (lambda v, c: isinstance(v, bool), "True or False"),
    "amp": (lambda v, c: v in AMP_MODES, f"one of {AMP_MODES} ('auto' = bf16 on capable GPUs)"),
    "device": (lambda v, c: isinstance(v, str), "a string such as 'auto', 'cpu' or 'cuda'"),
    "seed": (lambda v, c: _is_int(v) and 0 <= v < 2**62, "a non-negative integer"),
    "checkpoint_dir": (lambda v, c: v is None or isinstance(v, str), "None or a path"),
    "checkpoint_interval": (_optional_positive_int, "None or an integer >= 1"),
    "progress_bar": (lambda v, c: isinstance(v, bool), "True or False"),
}


@dataclasses.dataclass
class TrainConfig:
    """Every knob of a training run. Validated on creation. Introduced in chapter 8.

    ``batch_size`` is the global number of sequences per micro-step (summed over processes);
    ``None`` takes it from the training data. ``min_lr=None`` means ``lr / 10``;
    ``warmup_steps=None`` means 5% of ``max_steps``. ``grad_clip`` of ``None`` or ``0``
    disables clipping. ``amp="auto"`` uses bf16 autocast on GPUs that support it, fp32
    elsewhere. Without ``checkpoint_interval``, a run with ``checkpoint_dir`` saves at the end.
    """

    max_steps: int = 1000
    batch_size: int | None = None
    grad_accum_steps: int = 1
    lr: float = 6e-4
    min_lr: float | None = None
    warmup_steps: int | None = None
    schedule: str = "cosine"
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    grad_clip: float | None = 1.0
    eval_interval: int = 100
    eval_steps: int = 20
    log_interval: int = 1
    compile: bool = False
    amp: str = "auto"
    device: str = "auto"
    seed: int = 0
    checkpoint_dir: str | None = None
    checkpoint_interval: int | None = None
    progress_bar: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.betas, list):
            self.betas = tuple(self.betas)
        if isinstance(self.checkpoint_dir, os.PathLike):
            self.checkpoint_dir = os.fspath(self.checkpoint_dir)
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first setting that is out of range."""
        for name, (ok, requirement) in _RULES.items():
            value = getattr(self, name)
            if not ok(value, self):
                raise ConfigError(f"{name} must be {requirement}, got {value!r}.")
        if self.checkpoint_interval is not None and self.checkpoint_dir is None:
            raise ConfigError(
                "checkpoint_interval is set but checkpoint_dir is None; say where to save."
            )

    @property
    def resolved_min_lr(self) -> float:
        """``min_lr``, or ``lr / 10`` when it is ``None``."""
        return self.lr / 10 if self.min_lr is None else float(self.min_lr)

    @property
    def resolved_warmup_steps(self) -> int:
        """``warmup_steps``, or 5% of ``max_steps`` when it is ``None``."""
        return self.max_steps // 20 if self.warmup_steps is None else self.warmup_steps

    def lr_at(self, step: int) -> float:
        """The learning rate of (0-based) optimizer step ``step``."""
        if self.schedule == "constant":
            return constant(step, lr=self.lr, warmup_steps=self.resolved_warmup_steps)
        return warmup_cosine(
            step,
            max_lr=self.lr,
            min_lr=self.resolved_min_lr,
            warmup_steps=self.resolved_warmup_steps,
            decay_steps=self.max_steps,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``betas`` as a list)."""
        data = dataclasses.asdict(self)
        data["betas"] = list(self.betas)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"Unknown TrainConfig field(s): {unknown}. Known: {sorted(known)}.")
        return cls(**data)


def _loss_of(output: object) -> torch.Tensor:
    loss = getattr(output, "loss", None)
    if loss is None and isinstance(output, tuple) and len(output) == 2:
        loss = output[1]  # a (logits, loss) pair
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        raise InputError(
            "The model's forward(x, targets=y) must return an object with a scalar .loss, got "
            f"{type(output).__name__} with loss={loss!r}."
        )
    return loss


class Trainer:
    """Trains ``model`` on ``train_data`` as set out in ``config``. Introduced in chapter 8.

    ``callbacks`` are functions ``fn(trainer, record)`` (or objects with such an ``on_step``
    method) called on every history record; one that returns ``True`` stops training cleanly.
    Under ``torchrun`` every process must create the Trainer and call ``fit``,
    ``evaluate`` and ``save_checkpoint``; only rank 0 shows the bar, logs, calls the callbacks
    and writes files.
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig | None,
        train_data: LMBatches,
        val_data: LMBatches | None = None,
        callbacks: list[Callable[..., Any]] | None = None,
    ) -> None:
        config = TrainConfig() if config is None else config
        if not isinstance(config, TrainConfig):
            raise ConfigError(f"config must be a TrainConfig, got {type(config).__name__}.")
        config.validate()
        if not isinstance(model, nn.Module):
            raise InputError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
        if not any(p.requires_grad for p in model.parameters()):
            raise InputError("The model has no trainable parameters (requires_grad=True).")
        for name, data in (("train_data", train_data), ("val_data", val_data)):
            if (data is None and name == "train_data") or (
                data is not None
                and not all(hasattr(data, a) for a in ("batch", "batch_size", "block_size"))
            ):
                raise InputError(
                    f"{name} must be an LMBatches (or have .batch(), .batch_size and .block_size), got {data!r}."
                )
        self.callbacks = list(callbacks or [])
        for callback in self.callbacks:
            if not callable(getattr(callback, "on_step", callback)):
                raise ConfigError(
                    f"Each callback must be callable or have on_step(), got {callback!r}."
                )
        self.config, self.train_data, self.val_data = config, train_data, val_data

        # Under torchrun these variables say which process we are.
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.ddp = self.world_size > 1
        device = pick_device(config.device)
        if self.ddp and device.type == "cuda":
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
        self.device = device
        self._owns_process_group = False
        if self.ddp and not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
            self._owns_process_group = True
        self._check_data_fits(model)

        seed_everything(config.seed + self.rank)  # dropout masks differ between processes
        self.model = model.to(device)
        self.use_amp = config.amp == "bf16" or (
            config.amp == "auto" and autocast_dtype(device) == torch.bfloat16
        )
        self.optimizer = self._build_optimizer()
        self._eval_model: nn.Module = torch.compile(model) if config.compile else model
        self._train_model: nn.Module = self._eval_model
        if self.ddp:
            from torch.nn.parallel import DistributedDataParallel

            ids = [device.index] if device.type == "cuda" else None
            self._train_model = DistributedDataParallel(self._eval_model, device_ids=ids)
        self.step = 0  # optimizer steps done so far = index of the next step
        self.history: list[dict[str, Any]] = []
        self._elapsed_before = 0.0  # seconds spent in earlier runs (after a resume)
        self._stop_requested = False

    # ------------------------------------------------------------------------ set-up
    @property
    def is_main_process(self) -> bool:
        """True on the process that logs and saves (rank 0)."""
        return self.rank == 0

    def _check_data_fits(self, model: nn.Module) -> None:
        cfg = self.config
        if cfg.batch_size is not None and cfg.batch_size != self.train_data.batch_size:
            raise ConfigError(
                f"TrainConfig.batch_size ({cfg.batch_size}) differs from train_data.batch_size "
                f"({self.train_data.batch_size}). Set one of them (batch_size=None follows the data)."
            )
        for name, data in (("train_data", self.train_data), ("val_data", self.val_data)):
            if data is not None and data.batch_size % self.world_size:
                raise ConfigError(
                    f"{name}.batch_size ({data.batch_size}) must be divisible by the number of "
                    f"processes ({self.world_size})."
                )
            model_config = getattr(model, "config", None)
            vocab = getattr(model_config, "vocab_size", None)
            if (
                data is not None
                and vocab is not None
                and getattr(data, "max_token_id", -1) >= vocab
            ):
                raise InputError(
                    f"{name} contains token id {data.max_token_id}, but the model's vocab_size is "
                    f"{vocab}. Build the model with vocab_size >= {data.max_token_id + 1}."
                )
            context = getattr(model_config, "block_size", None)
            if data is not None and context is not None and data.block_size > context:
                raise ConfigError(
                    f"{name}.block_size ({data.block_size}) exceeds the model's block_size "
                    f"({context}). Use windows no longer than the model's context."
                )

    def _build_optimizer(self) -> torch.optim.AdamW:
        params = [p for p in self.model.parameters() if p.requires_grad]
        decay = [p for p in params if p.dim() >= 2]  # weight matrices and embeddings
        no_decay = [p for p in params if p.dim() < 2]  # biases, LayerNorm weights
        groups = [
            {"params": group, "weight_decay": wd}
            for group, wd in ((decay, self.config.weight_decay), (no_decay, 0.0))
            if group
        ]
        fused = {"fused": True} if self.device.type == "cuda" else {}
        return torch.optim.AdamW(
            groups, lr=self.config.lr, betas=self.config.betas, eps=self.config.eps, **fused
        )

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

    def _global_mean(self, value: torch.Tensor) -> float:
        """Average ``value`` over all processes (a no-op in a single process)."""
        if self.ddp:
            value = value.detach().clone()
            dist.all_reduce(value, op=dist.ReduceOp.SUM)  # gloo has no AVG
            value /= self.world_size
        return float(value)

    # ------------------------------------------------------------------------ training
    def _train_step(self, step: int) -> tuple[float, torch.Tensor, torch.Tensor]:
        lr = self.config.lr_at(step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        accum = self.config.grad_accum_steps
        loss_sum = torch.zeros((), device=self.device)
        for micro in range(accum):
            x, y = self.train_data.batch(step, micro, self.rank, self.world_size)
            x, y = self._to_device(x), self._to_device(y)  # (B/W, T) each
            # DDP averages gradients across processes during backward; only the last
            # micro-step needs that, the others just accumulate locally.
            last = micro == accum - 1
            sync = contextlib.nullcontext() if not self.ddp or last else self._train_model.no_sync()
            with sync:
                with self._autocast():
                    loss = _loss_of(self._train_model(x, targets=y))
                (loss / accum).backward()
            loss_sum += loss.detach().float()
        params = [p for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]
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
        stop = stop or self._stop_requested
        if self.ddp:  # every process must leave the loop together
            flag = torch.tensor(float(stop), device=self.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            stop = bool(flag.item())
        return stop

    def fit(self) -> list[dict[str, Any]]:
        """Train until ``max_steps`` (or a callback says stop); return :attr:`history`.

        Each record holds ``step`` (0-based), ``lr``, ``loss`` (mean over the global batch),
        ``grad_norm`` (before clipping), ``tokens_per_sec``, ``elapsed`` (seconds, summed over
        resumed runs) and, on evaluation steps, ``val_loss``.
        """
        cfg = self.config
        self.model.train()
        self._stop_requested = False
        tokens_per_step = (
            self.train_data.batch_size * self.train_data.block_size * cfg.grad_accum_steps
        )
        bar = tqdm(
            total=cfg.max_steps,
            initial=self.step,
            desc="training",
            unit="step",
            dynamic_ncols=True,
            disable=not (cfg.progress_bar and self.is_main_process),
        )
        start = last_time = time.perf_counter()
        elapsed_before, tokens_since = self._elapsed_before, 0
        try:
            while self.step < cfg.max_steps:
                step = self.step
                lr, loss, grad_norm = self._train_step(step)
                self.step += 1
                tokens_since += tokens_per_step
                bar.update(1)
                last = self.step == cfg.max_steps
                evaluate = self.val_data is not None and (
                    self.step % cfg.eval_interval == 0 or last
                )
                stop = self._stop_requested and not self.ddp
                if step % cfg.log_interval == 0 or last or evaluate:
                    record = self._record(step, lr, loss, grad_norm, tokens_since, last_time)
                    if evaluate:
                        record["val_loss"] = self.evaluate()
                    self._elapsed_before = elapsed_before + time.perf_counter() - start
                    record["elapsed"] = self._elapsed_before
                    self.history.append(record)
                    bar.set_postfix(
                        {k: f"{record[k]:.4g}" for k in ("loss", "val_loss", "lr") if k in record}
                    )
                    if evaluate and self.is_main_process:
                        logger.info(
                            "step %d: loss %.4f, val_loss %.4f",
                            step,
                            record["loss"],
                            record["val_loss"],
                        )
                    stop = self._run_callbacks(record)
                    last_time, tokens_since = time.perf_counter(), 0
                self._elapsed_before = elapsed_before + time.perf_counter() - start
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
        self,
        step: int,
        lr: float,
        loss: torch.Tensor,
        grad_norm: torch.Tensor,
        tokens: int,
        since: float,
    ) -> dict[str, Any]:
        loss_value = self._global_mean(loss)
        if not math.isfinite(loss_value):
            raise LmkitError(
                f"Training diverged: the loss is {loss_value} at step {step}. Lower lr (now "
                f"{self.config.lr}), keep grad_clip on, or check the data and the model."
            )
        seconds = max(time.perf_counter() - since, 1e-9)
        return {
            "step": step,
            "lr": lr,
            "loss": loss_value,
            "grad_norm": float(grad_norm),
            "tokens_per_sec": tokens / seconds,
        }

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
        if not _is_int(steps) or steps < 1:
            raise ConfigError(f"steps must be an integer >= 1, got {steps!r}.")
        was_training = self.model.training
        self.model.eval()
        total = torch.zeros((), device=self.device)
        try:
            for i in range(steps):
                x, y = data.batch(i, 0, self.rank, self.world_size)
                with self._autocast():
                    loss = _loss_of(
                        self._eval_model(self._to_device(x), targets=self._to_device(y))
                    )
                total += loss.float()
        finally:
            self.model.train(was_training)
        return self._global_mean(total / steps)

    # --------------------------------------------------------------------- checkpoints
    def _rng_tensors(self) -> dict[str, torch.Tensor]:
        """torch's generator states of every process, gathered for rank 0 to save."""
        local = {"torch_cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            local["torch_cuda"] = torch.cuda.get_rng_state(self.device)
        if not self.ddp:
            return {f"rank0.{k}": v for k, v in local.items()}
        comm_device = self.device if dist.get_backend() == "nccl" else torch.device("cpu")
        gathered = {}
        for key, state in local.items():
            parts = [torch.empty_like(state, device=comm_device) for _ in range(self.world_size)]
            dist.all_gather(parts, state.to(comm_device))
            gathered.update({f"rank{r}.{key}": part.cpu() for r, part in enumerate(parts)})
        return gathered

    def save_checkpoint(self, path: str | os.PathLike | None = None) -> Path:
        """Save everything needed to resume exactly; defaults to ``config.checkpoint_dir``."""
        path = path if path is not None else self.config.checkpoint_dir
        if path is None:
            raise ConfigError("save_checkpoint needs a path (or set TrainConfig.checkpoint_dir).")
        rng_tensors = self._rng_tensors()  # a collective: every process takes part
        if self.is_main_process:
            state = {
                "step": self.step,
                "elapsed": self._elapsed_before,
                "history": self.history,
                "train_config": self.config.to_dict(),
                "world_size": self.world_size,
                "rng": capture_rng_state(),
                "data": {
                    k: getattr(self.train_data, k, None)
                    for k in ("num_tokens", "block_size", "batch_size", "seed")
                },
            }
            ckpt.save_checkpoint(
                path,
                model=self.model,
                optimizer=self.optimizer,
                state=state,
                rng_tensors=rng_tensors,
            )
        if self.ddp:
            dist.barrier()
        return Path(path)

    def load_checkpoint(self, path: str | os.PathLike) -> Trainer:
        """Restore weights, optimizer, step, history and RNG states from ``path``.

        Everything is validated first; on a mismatch nothing is changed.
        """
        checkpoint = ckpt.read_checkpoint(path)
        state = checkpoint.state
        own_config = getattr(self.model, "config", None)
        saved_config = state.get("model_config")
        if own_config is not None and saved_config is not None:
            own = json.loads(json.dumps(ckpt.config_to_dict(own_config)))  # tuples -> lists
            differ = sorted(
                k for k in set(own) | set(saved_config) if own.get(k) != saved_config.get(k)
            )
            if differ:
                raise CheckpointError(
                    f"The model's config differs from the checkpoint's in {differ} (checkpoint: "
                    f"{ {k: saved_config.get(k) for k in differ} }). Build the model with the saved "
                    "config, e.g. GPTConfig.from_dict(state['model_config'])."
                )
        ckpt.check_weights(self.model, checkpoint.weights_file)
        check_optimizer_state(self.optimizer, checkpoint.optimizer_state)
        ckpt.load_weights(self.model, checkpoint.weights_file)
        self.optimizer.load_state_dict(checkpoint.optimizer_state)
        self.step = int(state["step"])
        self.history = list(state.get("history", []))
        self._elapsed_before = float(state.get("elapsed", 0.0))
        if "rng" in state:
            restore_rng_state(state["rng"])
        tensors = checkpoint.rng_tensors
        if f"rank{self.rank}.torch_cpu" in tensors and state.get("world_size") == self.world_size:
            torch.set_rng_state(tensors[f"rank{self.rank}.torch_cpu"])
            cuda_state = tensors.get(f"rank{self.rank}.torch_cuda")
            if cuda_state is not None and self.device.type == "cuda":
                torch.cuda.set_rng_state(cuda_state, self.device)
        else:  # a different number of processes: fresh but reproducible streams
            seed_everything(self.config.seed + self.rank + self.step)
        return self

    @classmethod
    def resume(
        cls,
        path: str | os.PathLike,
        model: nn.Module,
        train_data: LMBatches,
        val_data: LMBatches | None = None,
        *,
        config: TrainConfig | None = None,
        callbacks: list[Callable[..., Any]] | None = None,
        **overrides: Any,
    ) -> Trainer:
        """A Trainer that continues the run saved at ``path``, with its saved TrainConfig.

        ``overrides`` change single settings (e.g. ``progress_bar=False``); changing the
        schedule (``max_steps``, ``lr``…) continues but no longer reproduces the original run.
        """
        if config is None:
            config = TrainConfig.from_dict(ckpt.read_state(path)["train_config"])
        if overrides:
            unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(TrainConfig)})
            if unknown:
                raise ConfigError(f"Unknown TrainConfig field(s) to override: {unknown}.")
            config = dataclasses.replace(config, **overrides)
        trainer = cls(model, config, train_data, val_data, callbacks)
        return trainer.load_checkpoint(path)

    def close(self) -> None:
        """Shut down the process group this Trainer started (under torchrun)."""
        if self._owns_process_group and dist.is_initialized():
            dist.destroy_process_group()
            self._owns_process_group = False
