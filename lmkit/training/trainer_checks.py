"""The Trainer's checks of what it is given, so that a mistake fails at once, with a message
that says what to change, instead of deep inside the first training step.

Introduced in chapter 8.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from lmkit.errors import ConfigError, InputError
from lmkit.training.config import TrainConfig

__all__ = ["check_data_fits", "check_trainer_inputs"]


def check_trainer_inputs(
    model: object,
    config: object,
    train_data: object,
    val_data: object,
    callbacks: list[Callable[..., Any]],
    evaluator: object,
) -> None:
    """Raise :class:`ConfigError` / :class:`InputError` for arguments the Trainer cannot use."""
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
                f"{name} must be an LMBatches or a BatchStream (or have .batch(), .batch_size "
                f"and .block_size), got {data!r}."
            )
    for callback in callbacks:
        if not callable(getattr(callback, "on_step", callback)):
            raise ConfigError(
                f"Each callback must be callable or have on_step(), got {callback!r}."
            )
    if evaluator is not None and not callable(evaluator):
        raise ConfigError(f"evaluator must be a function of the model, got {evaluator!r}.")


def check_data_fits(
    model: nn.Module, config: TrainConfig, train_data: Any, val_data: Any, world_size: int
) -> None:
    """Raise if the data's batch size, token ids or window length do not fit the run."""
    if config.batch_size is not None and config.batch_size != train_data.batch_size:
        raise ConfigError(
            f"TrainConfig.batch_size ({config.batch_size}) differs from train_data.batch_size "
            f"({train_data.batch_size}). Set one of them (batch_size=None follows the data)."
        )
    model_config = getattr(model, "config", None)
    vocab = getattr(model_config, "vocab_size", None)
    context = getattr(model_config, "block_size", None)
    for name, data in (("train_data", train_data), ("val_data", val_data)):
        if data is None:
            continue
        if data.batch_size % world_size:
            raise ConfigError(
                f"{name}.batch_size ({data.batch_size}) must be divisible by the number of "
                f"processes ({world_size})."
            )
        if vocab is not None and getattr(data, "max_token_id", -1) >= vocab:
            raise InputError(
                f"{name} contains token id {data.max_token_id}, but the model's vocab_size is "
                f"{vocab}. Build the model with vocab_size >= {data.max_token_id + 1}."
            )
        if context is not None and data.block_size is not None and data.block_size > context:
            raise ConfigError(
                f"{name}.block_size ({data.block_size}) exceeds the model's block_size "
                f"({context}). Use windows no longer than the model's context."
            )
