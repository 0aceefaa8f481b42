"""Trainer and batching: parity with a hand-written AdamW loop, exact resume, accumulation."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from model_factories import training_gpt
from torch import nn

from lmkit.errors import ConfigError, InputError, LmkitError
from lmkit.gpt.model import GPT
from lmkit.training.batching import LMBatches
from lmkit.training.config import TrainConfig
from lmkit.training.schedule import warmup_cosine
from lmkit.training.trainer import Trainer

VOCAB, BLOCK = 30, 16


def tiny_gpt(seed: int = 0, dropout: float = 0.0) -> GPT:
    return training_gpt(seed, vocab_size=VOCAB, block_size=BLOCK, n_head=2, dropout=dropout)


def tokens(n: int = 600, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, VOCAB, (n,), generator=torch.Generator().manual_seed(seed))


def make_config(**overrides) -> TrainConfig:
    base = {"max_steps": 6, "progress_bar": False, "eval_interval": 3, "eval_steps": 2}
    return TrainConfig(**{**base, **overrides})


def params_of(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class ZeroGradModel(nn.Module):
    """Its loss is 0 * every parameter: all gradients are exactly zero (but not None)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.weight = nn.Parameter(torch.randn(4, 3))
        self.embedding = nn.Embedding(5, 3)
        self.bias = nn.Parameter(torch.randn(3))

    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None) -> SimpleNamespace:
        return SimpleNamespace(loss=sum((p * 0).sum() for p in self.parameters()))


# ------------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_steps": 0}, "max_steps must be an integer >= 1"),
        ({"grad_accum_steps": 1.0}, "grad_accum_steps must be an integer"),
        ({"batch_size": 0}, "batch_size must be None or an integer >= 1"),
        ({"lr": 0}, "lr must be a number > 0"),
        ({"lr": float("inf")}, "lr must be a number > 0"),
        ({"min_lr": 1.0}, "min_lr must be None"),
        (
            {"warmup_steps": 7},
            r"warmup_steps must be None or an integer in \[0, max_steps\], got 7",
        ),
        ({"schedule": "linear"}, "schedule must be one of"),
        ({"weight_decay": -0.1}, "weight_decay must be a number >= 0"),
        ({"betas": (0.9,)}, "betas must be two numbers"),
        ({"betas": (0.9, 1.0)}, "betas must be two numbers in \\[0, 1\\)"),
        ({"eps": 0}, "eps must be a number > 0"),
        ({"grad_clip": -1.0}, "grad_clip must be None/0"),
        ({"eval_steps": 0}, "eval_steps must be an integer >= 1"),
        ({"log_interval": None}, "log_interval must be an integer >= 1"),
        ({"compile": "yes"}, "compile must be True or False"),
        ({"amp": "fp16"}, "amp must be one of"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"checkpoint_interval": 5}, "checkpoint_interval is set but checkpoint_dir is None"),
    ],
)
def test_train_config_rejects_bad_settings(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make_config(**kwargs)


def test_train_config_round_trips_and_resolves_defaults() -> None:
    config = make_config(lr=1e-3, betas=(0.8, 0.9), max_steps=100)
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert config.resolved_min_lr == pytest.approx(1e-4)
    assert config.resolved_warmup_steps == 5
    with pytest.raises(ConfigError, match="Unknown TrainConfig field"):
        TrainConfig.from_dict({**config.to_dict(), "learning_rate": 1.0})


# ------------------------------------------------------------------------------ trainer
def test_adamw_parity_with_a_hand_written_loop() -> None:
    model = tiny_gpt()
    reference = copy.deepcopy(model)
    data = LMBatches(tokens(), BLOCK, 4, seed=3)
    config = make_config(max_steps=5, lr=1e-3, warmup_steps=2, grad_clip=0.5, weight_decay=0.1)
    history = Trainer(model, config, data).fit()

    decay = [p for p in reference.parameters() if p.dim() >= 2]
    no_decay = [p for p in reference.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=1e-3,
        betas=(0.9, 0.95),
        eps=1e-8,
    )
    for step in range(5):
        lr = warmup_cosine(step, max_lr=1e-3, min_lr=1e-4, warmup_steps=2, decay_steps=5)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = data.batch(step)
        loss = reference(x, targets=y).loss
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(decay + no_decay, 0.5)
        optimizer.step()
        optimizer.zero_grad()
        assert history[step]["lr"] == pytest.approx(lr, rel=1e-12)
        assert history[step]["loss"] == pytest.approx(loss.item(), rel=1e-6)
        assert history[step]["grad_norm"] == pytest.approx(norm.item(), rel=1e-5)
    for name, value in reference.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], value, rtol=1e-6, atol=1e-7)


def test_weight_decay_is_decoupled_and_only_on_matrices() -> None:
    model = ZeroGradModel()
    before = params_of(model)
    lr, wd, steps = 0.1, 0.5, 3
    config = make_config(
        max_steps=steps, lr=lr, weight_decay=wd, schedule="constant", warmup_steps=0
    )
    Trainer(model, config, LMBatches(tokens(), 4, 2)).fit()
    for name in ("weight", "embedding.weight"):  # 2-D: shrunk by (1 - lr * wd) each step
        expected = before[name].clone()
        for _ in range(steps):
            expected.mul_(1 - lr * wd)
        assert torch.equal(model.state_dict()[name], expected)
        assert not torch.equal(expected, before[name])
    assert torch.equal(model.bias, before["bias"])  # 1-D: no decay


def test_parameter_groups_count_tied_weights_once() -> None:
    model = tiny_gpt()
    trainer = Trainer(model, make_config(), LMBatches(tokens(), BLOCK, 2))
    decayed, plain = trainer.optimizer.param_groups
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decayed["params"]) and all(
        p.dim() < 2 for p in plain["params"]
    )
    assert any(p is model.wte.weight for p in decayed["params"])
    assert len(decayed["params"]) + len(plain["params"]) == len(list(model.parameters()))


class HalfBatches(LMBatches):
    """Micro-step m gets the m-th half of the batch that `full` draws for the step."""

    def __init__(self, full: LMBatches) -> None:
        super().__init__(full.tokens, full.block_size, full.batch_size // 2, seed=full.seed)
        self.full = full

    def batch(self, step, micro_step=0, rank=0, world_size=1):
        x, y = self.full.batch(step)
        rows = slice(micro_step * self.batch_size, (micro_step + 1) * self.batch_size)
        return x[rows], y[rows]


def test_gradient_accumulation_equals_the_full_batch() -> None:
    full = LMBatches(tokens(), BLOCK, 8, seed=5)
    one, two = tiny_gpt(), tiny_gpt()
    hist_one = Trainer(one, make_config(max_steps=4), full).fit()
    hist_two = Trainer(two, make_config(max_steps=4, grad_accum_steps=2), HalfBatches(full)).fit()
    for a, b in zip(hist_one, hist_two, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-4)
    for name, value in one.state_dict().items():
        torch.testing.assert_close(two.state_dict()[name], value, rtol=1e-5, atol=1e-6)


def test_resume_continues_exactly(tmp_path) -> None:
    train = LMBatches(tokens(), BLOCK, 4, seed=1)
    val = LMBatches(tokens(200, seed=9), BLOCK, 4, seed=2)
    config = make_config(max_steps=8)
    uninterrupted = Trainer(tiny_gpt(dropout=0.2), config, train, val)
    uninterrupted.fit()

    def stop_after_step_3(trainer, record):
        return record["step"] == 3

    first = Trainer(tiny_gpt(dropout=0.2), config, train, val, callbacks=[stop_after_step_3])
    first.fit()
    assert first.step == 4
    first.save_checkpoint(tmp_path / "ckpt")
    resumed = Trainer.resume(tmp_path / "ckpt", tiny_gpt(seed=123, dropout=0.2), train, val)
    assert resumed.step == 4
    resumed.fit()

    def exact(history):
        keys = ("step", "lr", "loss", "grad_norm", "val_loss")
        return [{k: r[k] for k in keys if k in r} for r in history]

    assert exact(resumed.history) == exact(uninterrupted.history)
    assert any("val_loss" in r for r in resumed.history[4:])
    for name, value in uninterrupted.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], value), name


def test_callbacks_stop_training_cleanly() -> None:
    seen = []

    class Recorder:
        def on_step(self, trainer, record):
            seen.append(record["step"])

    def stop_at_two(trainer, record):
        return record["step"] == 2

    trainer = Trainer(
        tiny_gpt(),
        make_config(),
        LMBatches(tokens(), BLOCK, 2),
        callbacks=[Recorder(), stop_at_two],
    )
    history = trainer.fit()
    assert seen == [0, 1, 2] and [r["step"] for r in history] == [0, 1, 2] and trainer.step == 3

    def request(trainer, record):
        trainer.request_stop()

    trainer = Trainer(tiny_gpt(), make_config(), LMBatches(tokens(), BLOCK, 2), callbacks=[request])
    assert len(trainer.fit()) == 1


def test_history_fields() -> None:
    config = make_config(max_steps=7, log_interval=2, eval_interval=3)
    val = LMBatches(tokens(200, seed=3), BLOCK, 2)
    trainer = Trainer(tiny_gpt(), config, LMBatches(tokens(), BLOCK, 2), val)
    history = trainer.fit()
    # logged every 2nd step, on each evaluation (after steps 3 and 6 = indices 2, 5) and the last
    assert [r["step"] for r in history] == [0, 2, 4, 5, 6]
    assert [r["step"] for r in history if "val_loss" in r] == [2, 5, 6]
    for record in history:
        assert {"step", "lr", "loss", "grad_norm", "tokens_per_sec", "elapsed"} <= set(record)
        assert record["lr"] == config.lr_at(record["step"])
        assert record["tokens_per_sec"] > 0 and record["grad_norm"] > 0
    elapsed = [r["elapsed"] for r in history]
    assert elapsed == sorted(elapsed)
    assert history[-1]["val_loss"] == pytest.approx(trainer.evaluate(), rel=1e-6)


def test_evaluate_is_the_mean_loss_over_fixed_batches() -> None:
    model = tiny_gpt(dropout=0.3)
    val = LMBatches(tokens(300, seed=4), BLOCK, 3, seed=6)
    trainer = Trainer(model, make_config(eval_steps=3), LMBatches(tokens(), BLOCK, 2), val)
    model.train()
    got = trainer.evaluate()
    assert model.training  # mode restored
    model.eval()
    with torch.no_grad():
        expected = np.mean(
            [model(*val.batch(i)[:1], targets=val.batch(i)[1]).loss.item() for i in range(3)]
        )
    assert got == pytest.approx(expected, rel=1e-6)
    assert trainer.evaluate() == got  # the same batches every time
    with pytest.raises(ConfigError, match="steps must be an integer >= 1"):
        trainer.evaluate(steps=0)


def test_periodic_checkpoints(tmp_path) -> None:
    from lmkit.training.checkpoint import read_state

    saved_steps = []

    def look(trainer, record):
        saved_steps.append(
            read_state(tmp_path / "run")["step"] if (tmp_path / "run").exists() else None
        )

    config = make_config(max_steps=5, checkpoint_dir=str(tmp_path / "run"), checkpoint_interval=2)
    Trainer(tiny_gpt(), config, LMBatches(tokens(), BLOCK, 2), callbacks=[look]).fit()
    assert saved_steps == [None, None, 2, 2, 4]
    assert read_state(tmp_path / "run")["step"] == 5
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_trainer_works_with_any_module_returning_a_loss() -> None:
    class Bigram(nn.Module):  # no .config at all
        def __init__(self) -> None:
            super().__init__()
            self.table = nn.Embedding(VOCAB, VOCAB)

        def forward(self, x, targets=None):
            logits = self.table(x)
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
            return SimpleNamespace(logits=logits, loss=loss)

    data = LMBatches(tokens(), BLOCK, 8)
    history = Trainer(Bigram(), make_config(max_steps=30, lr=0.05), data).fit()
    assert history[-1]["loss"] < history[0]["loss"]


def test_cpu_runs_in_fp32_unless_bf16_is_asked_for() -> None:
    data = LMBatches(tokens(), BLOCK, 2)
    trainer = Trainer(tiny_gpt(), make_config(device="cpu"), data)
    assert trainer.use_amp is False and trainer.device == torch.device("cpu")
    model = tiny_gpt()
    trainer = Trainer(model, make_config(device="cpu", amp="bf16", max_steps=2), data)
    logits_dtypes = []
    model.register_forward_hook(lambda module, args, out: logits_dtypes.append(out.logits.dtype))
    history = trainer.fit()
    assert logits_dtypes == [torch.bfloat16] * 2 and all(np.isfinite(r["loss"]) for r in history)
    assert model.wte.weight.dtype == torch.float32  # the weights themselves stay fp32


def test_trainer_rejects_bad_input() -> None:
    data = LMBatches(tokens(), BLOCK, 2)
    with pytest.raises(InputError, match=r"model must be a torch\.nn\.Module"):
        Trainer("gpt", make_config(), data)
    with pytest.raises(ConfigError, match="config must be a TrainConfig"):
        Trainer(tiny_gpt(), {"max_steps": 3}, data)
    with pytest.raises(InputError, match="train_data must be an LMBatches"):
        Trainer(tiny_gpt(), make_config(), tokens())
    with pytest.raises(ConfigError, match=r"differs from train_data\.batch_size"):
        Trainer(tiny_gpt(), make_config(batch_size=8), data)
    with pytest.raises(InputError, match="token id 39, but the model's vocab_size is 30"):
        Trainer(tiny_gpt(), make_config(), LMBatches(torch.arange(40), 4, 2))
    with pytest.raises(ConfigError, match="exceeds the model's block_size"):
        Trainer(tiny_gpt(), make_config(), LMBatches(tokens(), 32, 2))
    with pytest.raises(ConfigError, match="callback must be callable"):
        Trainer(tiny_gpt(), make_config(), data, callbacks=[42])
    with pytest.raises(ConfigError, match="Unknown device"):
        Trainer(tiny_gpt(), make_config(device="tpu"), data)
    frozen = tiny_gpt().requires_grad_(False)
    with pytest.raises(InputError, match="no trainable parameters"):
        Trainer(frozen, make_config(), data)
    trainer = Trainer(tiny_gpt(), make_config(), data)
    with pytest.raises(InputError, match="evaluate\\(\\) needs data"):
        trainer.evaluate()
    with pytest.raises(ConfigError, match="save_checkpoint needs a path"):
        trainer.save_checkpoint()


def test_bad_model_outputs_are_reported() -> None:
    class NoLoss(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.ones(2, 2))

        def forward(self, x, targets=None):
            return SimpleNamespace(logits=x)

    class NaNLoss(NoLoss):
        def forward(self, x, targets=None):
            return SimpleNamespace(loss=self.w.sum() * float("nan"))

    data = LMBatches(tokens(), 4, 2)
    with pytest.raises(InputError, match=r"must return an object with a scalar \.loss"):
        Trainer(NoLoss(), make_config(), data).fit()
    with pytest.raises(LmkitError, match="Training diverged: the loss is nan at step 0"):
        Trainer(NaNLoss(), make_config(), data).fit()
