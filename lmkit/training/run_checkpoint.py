"""A Trainer's run on disk: save everything needed to continue exactly, and restore it.

Introduced in chapter 8. The files themselves (safetensors + JSON, written atomically) are
:mod:`lmkit.training.checkpoint`'s; this module decides what of a run goes into them (weights,
optimizer, step, history, config, every process's random-number generators) and checks, before
changing anything, that a checkpoint fits the Trainer it is loaded into.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist

from lmkit.device import seed_everything
from lmkit.errors import CheckpointError, ConfigError
from lmkit.training import checkpoint as ckpt
from lmkit.training.config import TrainConfig
from lmkit.training.distributed import gather_rng_states
from lmkit.training.run_state import capture_rng_state, check_optimizer_state, restore_rng_state

if TYPE_CHECKING:
    from lmkit.training.trainer import Trainer

__all__ = ["load_run", "resume_config", "save_run"]


def save_run(trainer: Trainer, path: str | os.PathLike | None = None) -> Path:
    """Save ``trainer``'s run to ``path`` (default ``config.checkpoint_dir``); see the module."""
    path = path if path is not None else trainer.config.checkpoint_dir
    if path is None:
        raise ConfigError("save_checkpoint needs a path (or set TrainConfig.checkpoint_dir).")
    rng_tensors = gather_rng_states(trainer.device, trainer.world_size)  # every process joins
    if trainer.is_main_process:
        state = {
            "step": trainer.step,
            "elapsed": trainer.elapsed,
            "history": trainer.history,
            "train_config": trainer.config.to_dict(),
            "world_size": trainer.world_size,
            "rng": capture_rng_state(),
            "data": {
                k: getattr(trainer.train_data, k, None)
                for k in ("num_tokens", "block_size", "batch_size", "seed")
            },
        }
        ckpt.save_checkpoint(
            path,
            model=trainer.model,
            optimizer=trainer.optimizer,
            state=state,
            rng_tensors=rng_tensors,
        )
    if trainer.ddp:
        dist.barrier()
    return Path(path)


def _check_model_config(trainer: Trainer, saved_config: dict | None) -> None:
    own_config = getattr(trainer.model, "config", None)
    if own_config is None or saved_config is None:
        return
    own = json.loads(json.dumps(ckpt.config_to_dict(own_config)))  # tuples -> lists
    differ = sorted(k for k in set(own) | set(saved_config) if own.get(k) != saved_config.get(k))
    if differ:
        raise CheckpointError(
            f"The model's config differs from the checkpoint's in {differ} (checkpoint: "
            f"{ {k: saved_config.get(k) for k in differ} }). Build the model with the saved "
            "config, e.g. GPTConfig.from_dict(state['model_config'])."
        )


def load_run(trainer: Trainer, path: str | os.PathLike) -> None:
    """Restore weights, optimizer, step, history and RNG states from ``path`` into ``trainer``.

    Everything is validated first; on a mismatch nothing is changed.
    """
    checkpoint = ckpt.read_checkpoint(path)
    state = checkpoint.state
    _check_model_config(trainer, state.get("model_config"))
    ckpt.check_weights(trainer.model, checkpoint.weights_file)
    check_optimizer_state(trainer.optimizer, checkpoint.optimizer_state)
    ckpt.load_weights(trainer.model, checkpoint.weights_file)
    trainer.optimizer.load_state_dict(checkpoint.optimizer_state)
    trainer.step = int(state["step"])
    trainer.history = list(state.get("history", []))
    trainer.elapsed = float(state.get("elapsed", 0.0))
    if "rng" in state:
        restore_rng_state(state["rng"])
    tensors, rank = checkpoint.rng_tensors, trainer.rank
    if f"rank{rank}.torch_cpu" in tensors and state.get("world_size") == trainer.world_size:
        torch.set_rng_state(tensors[f"rank{rank}.torch_cpu"])
        cuda_state = tensors.get(f"rank{rank}.torch_cuda")
        if cuda_state is not None and trainer.device.type == "cuda":
            torch.cuda.set_rng_state(cuda_state, trainer.device)
    elif trainer.config.seed is not None:  # another number of processes: fresh, reproducible
        seed_everything(trainer.config.seed + rank + trainer.step)


def resume_config(
    path: str | os.PathLike, config: TrainConfig | None, overrides: dict[str, Any]
) -> TrainConfig:
    """The TrainConfig a run resumed from ``path`` continues with.

    Without ``config``, the saved one, except that a run that saved checkpoints automatically
    now saves them to ``path``, where it was resumed from (not to the folder it was first
    saved to, which may belong to another run). ``overrides`` (``checkpoint_dir=`` too) win.
    """
    if config is None:
        saved = ckpt.read_state(path).get("train_config")
        if saved is None:
            raise CheckpointError(
                f"{path} holds no train_config; pass config=TrainConfig(...) to resume it."
            )
        config = TrainConfig.from_dict(saved)
        if config.checkpoint_dir is not None:
            config = dataclasses.replace(config, checkpoint_dir=os.fspath(path))
    if overrides:
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(TrainConfig)})
        if unknown:
            raise ConfigError(f"Unknown TrainConfig field(s) to override: {unknown}.")
        config = dataclasses.replace(config, **overrides)
    return config
