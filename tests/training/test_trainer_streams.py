"""The Trainer beyond language-model windows: dict batches from a BatchStream, an evaluator,
caller-given param groups with their own learning rates, and the shared AdamW builder."""

from __future__ import annotations

import argparse
import copy
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from lmkit.errors import ConfigError, InputError
from lmkit.recipes import _skeleton
from lmkit.recipes.tiny_bert import TinyBertRecipe
from lmkit.training.batch_stream import BatchStream
from lmkit.training.config import TrainConfig
from lmkit.training.optim import adamw_param_groups, build_adamw
from lmkit.training.schedule import warmup_cosine
from lmkit.training.trainer import Trainer


class Classifier(nn.Module):
    """A two-layer classifier taking keyword batches, like a BERT: model(**batch).loss."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.hidden = nn.Linear(6, 8)
        self.norm = nn.LayerNorm(8)
        self.out = nn.Linear(8, 2)

    def forward(self, inputs: torch.Tensor, labels: torch.Tensor) -> SimpleNamespace:
        logits = self.out(self.norm(torch.relu(self.hidden(inputs))))
        return SimpleNamespace(loss=nn.functional.cross_entropy(logits, labels), logits=logits)


def batches(n: int = 10, seed: int = 1) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [
        {"inputs": torch.randn(4, 6, generator=g), "labels": torch.randint(0, 2, (4,), generator=g)}
        for _ in range(n)
    ]


def config(**overrides) -> TrainConfig:
    base = {
        "max_steps": 6, "lr": 1e-2, "min_lr": 1e-3, "warmup_steps": 2, "weight_decay": 0.1,
        "betas": (0.9, 0.999), "grad_clip": 0.5, "grad_norm_order": "model",
        "eval_interval": 3, "progress_bar": False, "device": "cpu", "seed": None,
    }  # fmt: skip
    return TrainConfig(**{**base, **overrides})


def test_dict_batches_match_a_hand_written_loop():
    model, reference = Classifier(), Classifier()
    data = batches()
    history = Trainer(model, config(), BatchStream(data, 4)).fit()
    optimizer = torch.optim.AdamW(adamw_param_groups(reference, 0.1), lr=1e-2)
    for step in range(6):
        lr = warmup_cosine(step, max_lr=1e-2, min_lr=1e-3, warmup_steps=2, decay_steps=6)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss = reference(**data[step]).loss
        loss.backward()
        nn.utils.clip_grad_norm_(reference.parameters(), 0.5)
        optimizer.step()
        optimizer.zero_grad()
        assert history[step]["loss"] == loss.item()
    for name, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name
    assert "examples_per_sec" in history[0] and "tokens_per_sec" not in history[0]


def test_the_evaluator_runs_in_eval_mode_and_joins_the_record():
    seen = []

    def evaluator(model):
        seen.append((model.training, torch.is_grad_enabled()))
        return {"score": float(len(seen))}

    model = Classifier()
    history = Trainer(model, config(), BatchStream(batches(), 4), evaluator=evaluator).fit()
    assert [r["step"] for r in history if "score" in r] == [2, 5]
    assert seen == [(False, False)] * 2 and model.training
    with pytest.raises(InputError, match="clash"):
        Trainer(
            Classifier(), config(), BatchStream(batches(), 4), evaluator=lambda m: {"lr": 1}
        ).fit()


def test_groups_with_their_own_lr_follow_the_schedule_scaled_to_it():
    model = Classifier()
    groups = [{"params": model.hidden.parameters(), "lr": 1e-3}, {"params": model.out.parameters()}]
    cfg = config(schedule="constant", warmup_steps=0, max_steps=2)
    trainer = Trainer(model, cfg, BatchStream(batches(), 4), param_groups=groups)
    trainer.fit()
    assert [g["lr"] for g in trainer.optimizer.param_groups] == [1e-3, 1e-2]
    assert len(trainer.optimizer.param_groups[0]["params"]) == 2  # norm not trained


def test_seed_none_leaves_the_generators_alone():
    model, data = Classifier(), BatchStream(batches(), 4)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    Trainer(model, config(), data)
    assert torch.equal(torch.rand(3), expected)


def test_a_stream_goes_forward_only():
    stream = BatchStream(batches(2), 4)
    stream.batch(0)
    with pytest.raises(InputError, match="once, in order"):
        stream.batch(0)
    stream.batch(1)
    with pytest.raises(InputError, match="ran out"):
        stream.batch(2)
    with pytest.raises(InputError, match="once, in order"):
        BatchStream(batches(), 4).batch(3)  # a resumed run cannot rewind a stream
    with pytest.raises(ConfigError, match="single process"):
        BatchStream(batches(), 4).batch(0, 0, 0, 2)
    with pytest.raises(ConfigError, match="batch_size"):
        BatchStream(batches(), 0)


def test_build_adamw_decays_matrices_only_and_takes_given_groups():
    model = Classifier()
    model.norm.requires_grad_(False)
    decay, no_decay = build_adamw(model, lr=1e-3, weight_decay=0.1).param_groups
    assert [p.dim() for p in decay["params"]] == [2, 2] and decay["weight_decay"] == 0.1
    assert [p.dim() for p in no_decay["params"]] == [1, 1] and no_decay["weight_decay"] == 0.0
    (group,) = build_adamw(
        [{"params": model.out.parameters()}], lr=1e-3, weight_decay=0.2
    ).param_groups
    assert group["weight_decay"] == 0.2 and len(group["params"]) == 2
    with pytest.raises(ConfigError, match="'params'"):
        build_adamw([{"lr": 1.0}], lr=1e-3, weight_decay=0.0)


def test_build_adamw_steps_equal_the_per_parameter_loop_bit_for_bit():
    # build_adamw asks for the multi-tensor kernels on CPU (faster); they must not change a bit.
    model, reference = Classifier(), Classifier()
    reference.load_state_dict(model.state_dict())
    ours = build_adamw(model, lr=1e-2, weight_decay=0.1, betas=(0.9, 0.99))
    assert ours.defaults["foreach"] is True
    loop = torch.optim.AdamW(
        adamw_param_groups(reference, 0.1), lr=1e-2, betas=(0.9, 0.99), foreach=False
    )
    generator = torch.Generator().manual_seed(0)
    for _ in range(5):
        for param, ref in zip(model.parameters(), reference.parameters(), strict=True):
            grad = torch.randn(param.shape, generator=generator)
            param.grad, ref.grad = grad.clone(), grad.clone()
        ours.step()
        loop.step()
    for name, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name


def test_the_grad_norm_order_is_part_of_the_config():
    with pytest.raises(ConfigError, match="grad_norm_order"):
        config(grad_norm_order="sorted")
    assert TrainConfig.from_dict(config().to_dict()) == config()


def test_recipe_options_override_the_recipe_and_cut_its_warmup():
    args = argparse.Namespace(smoke=True, steps=3, seed=None)
    assert _skeleton.recipe_from_args(TinyBertRecipe, args) == TinyBertRecipe.smoke(steps=3)
    args = argparse.Namespace(smoke=False, steps=50, seed=7)
    recipe = _skeleton.recipe_from_args(TinyBertRecipe, args)
    assert (recipe.steps, recipe.warmup_steps, recipe.seed) == (50, 50, 7)
    assert copy.copy(recipe) == recipe
