"""Tests of the nanoGPT peer in bench/ (``--nanogpt PATH``), with a stand-in model.py.

CI has no nanoGPT checkout, so each test writes a small model.py into ``tmp_path`` with
nanoGPT's interface: ``GPTConfig``, ``GPT`` whose parameters live under ``transformer.wte``,
``transformer.h.N`` … and ``lm_head``, ``forward(idx, targets) -> (logits, loss)`` and
``configure_optimizers``. Its GELU is the tanh one, so with lmkit's weights it must give lmkit's
logits to float precision: that proves the weight copy. (nanoGPT's own file uses the exact GELU.)
Kept apart from tests/test_bench.py, which is already past the house's 400 lines.
"""

from __future__ import annotations

import json
import statistics
import textwrap

import pytest
import torch

pytest.importorskip("transformers")

from bench import train_shakespeare, train_step
from bench.nanogpt import load_nanogpt_module, nanogpt_copy, nanogpt_optimizer
from lmkit.errors import ConfigError, InputError
from lmkit.gpt.config import GPTConfig
from lmkit.gpt.model import GPT
from lmkit.training.optim import adamw_param_groups

TINY = {"vocab_size": 48, "block_size": 16, "n_layer": 2, "n_head": 2, "n_embd": 16}

STAND_IN = textwrap.dedent(
    """
    from dataclasses import dataclass
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    @dataclass
    class GPTConfig:
        block_size: int = 1024
        vocab_size: int = 50304
        n_layer: int = 12
        n_head: int = 12
        n_embd: int = 768
        dropout: float = 0.0
        bias: bool = True

    class Attention(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c_attn = nn.Linear(c.n_embd, 3 * c.n_embd, bias=c.bias)
            self.c_proj = nn.Linear(c.n_embd, c.n_embd, bias=c.bias)
            self.n_head = c.n_head

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = (t.view(B, T, self.n_head, -1).transpose(1, 2)
                       for t in self.c_attn(x).split(C, dim=2))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.c_proj(y.transpose(1, 2).reshape(B, T, C))

    class MLP(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c_fc = nn.Linear(c.n_embd, 4 * c.n_embd, bias=c.bias)
            self.c_proj = nn.Linear(4 * c.n_embd, c.n_embd, bias=c.bias)

        def forward(self, x):
            return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.ln_1 = nn.LayerNorm(c.n_embd, bias=c.bias)
            self.attn = Attention(c)
            self.ln_2 = nn.LayerNorm(c.n_embd, bias=c.bias)
            self.mlp = MLP(c)

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class GPT(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.config = c = config
            self.transformer = nn.ModuleDict(dict(
                wte=nn.Embedding(c.vocab_size, c.n_embd),
                wpe=nn.Embedding(c.block_size, c.n_embd),
                h=nn.ModuleList([Block(c) for _ in range(c.n_layer)]),
                ln_f=nn.LayerNorm(c.n_embd, bias=c.bias),
            ))
            self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
            self.transformer.wte.weight = self.lm_head.weight
            print("number of parameters: (printed, as nanoGPT does)")

        def forward(self, idx, targets=None):
            pos = torch.arange(idx.shape[1], device=idx.device)
            x = self.transformer.wte(idx) + self.transformer.wpe(pos)
            for block in self.transformer.h:
                x = block(x)
            x = self.transformer.ln_f(x)
            if targets is None:
                return self.lm_head(x[:, [-1], :]), None
            logits = self.lm_head(x)
            return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))

        def configure_optimizers(self, weight_decay, learning_rate, betas, device_type):
            params = [p for p in self.parameters() if p.requires_grad]
            groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                      {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
            print("using fused AdamW: False")
            return torch.optim.AdamW(groups, lr=learning_rate, betas=betas)
    """
)


@pytest.fixture
def checkout(tmp_path):
    folder = tmp_path / "nanoGPT"
    folder.mkdir()
    (folder / "model.py").write_text(STAND_IN)
    return folder


def test_missing_model_py_is_a_clear_input_error(tmp_path, capsys):
    with pytest.raises(InputError, match=r"No nanoGPT model\.py.*checkout of karpathy/nanoGPT"):
        load_nanogpt_module(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        train_step.main(["--device", "cpu", "--nanogpt", str(tmp_path), "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "No nanoGPT model.py" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_a_model_py_without_gpt_is_an_input_error(tmp_path):
    (tmp_path / "model.py").write_text("x = 1\n")
    with pytest.raises(InputError, match="no GPT and GPTConfig"):
        load_nanogpt_module(tmp_path)
    (tmp_path / "model.py").write_text("raise ValueError('broken')\n")
    with pytest.raises(InputError, match="ValueError: broken"):
        load_nanogpt_module(tmp_path / "model.py")


@pytest.mark.parametrize("bias", [True, False])
def test_copy_gives_lmkit_logits(checkout, bias, capsys):
    torch.manual_seed(0)
    model = GPT(GPTConfig(**TINY, bias=bias, dropout=0.0))
    peer = nanogpt_copy(model, checkout)
    assert capsys.readouterr().out == ""  # nanoGPT's prints are kept off the report
    idx = torch.randint(0, TINY["vocab_size"], (2, TINY["block_size"]))
    targets = torch.randint(0, TINY["vocab_size"], (2, TINY["block_size"]))
    logits, loss = peer(idx, targets)
    reference = model(idx, targets)
    torch.testing.assert_close(logits, reference.logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(loss, reference.loss, rtol=1e-5, atol=1e-5)
    assert peer.lm_head.weight is peer.transformer.wte.weight  # still tied after the copy


def test_copy_refuses_layouts_nanogpt_cannot_hold(checkout):
    with pytest.raises(ConfigError, match="pos_encoding='rotary'"):
        nanogpt_copy(GPT(GPTConfig(**TINY, pos_encoding="rotary")), checkout)
    with pytest.raises(ConfigError, match="tie_weights=False"):
        nanogpt_copy(GPT(GPTConfig(**TINY, tie_weights=False)), checkout)


def test_nanogpt_optimizer_has_lmkit_groups_and_settings(checkout):
    model = GPT(GPTConfig(**TINY))
    optimizer = nanogpt_optimizer(
        nanogpt_copy(model, checkout), lr=1e-3, weight_decay=0.1, betas=(0.9, 0.99), device="cpu"
    )
    ours = adamw_param_groups(model, 0.1)
    for theirs, mine in zip(optimizer.param_groups, ours, strict=True):
        assert sorted(p.shape for p in theirs["params"]) == sorted(p.shape for p in mine["params"])
        assert theirs["weight_decay"] == mine["weight_decay"]
    assert optimizer.defaults["lr"] == 1e-3 and optimizer.defaults["betas"] == (0.9, 0.99)


def test_train_step_times_nanogpt_as_a_peer(checkout, tmp_path):
    report = train_step.run(
        "cpu", config=TINY, batch_size=2, rounds=2, calls_per_round=1, warmup=1, nanogpt=checkout,
        compile=False,
    )  # fmt: skip
    assert [r["name"] for r in report.rows][-1] == "nanoGPT"
    assert report.checks["losses agree within 0.0001"] is True
    assert "nanoGPT" in report.checks["initial loss (same weights, same batch)"]
    data = json.loads(report.write(tmp_path)[0].read_text())
    ratio = next(r for r in data["ratios"] if r["name"] == "nanoGPT time / lmkit time")
    rows = {r["name"]: r for r in data["rows"]}
    assert ratio["value"] == pytest.approx(rows["nanoGPT"]["median"] / rows["lmkit"]["median"])
    assert data["config"]["nanogpt"] == str(checkout)


def test_train_step_on_cpu_adds_compiled_copies(checkout, tmp_path):
    report = train_step.run(
        "cpu", config=TINY, batch_size=2, rounds=1, calls_per_round=1, warmup=1, nanogpt=checkout
    )
    names = [r["name"] for r in report.rows]
    assert names == [
        "lmkit", "transformers-sdpa", "transformers-eager", "nanoGPT", "lmkit-compiled",
        "nanoGPT-compiled",
    ]  # fmt: skip
    # The copies start from the same weights: the same first loss as the eager models.
    assert report.checks["losses agree within 0.0001"] is True
    assert "lmkit-compiled" in report.checks["initial loss (same weights, same batch)"]
    data = json.loads(report.write(tmp_path)[0].read_text())
    rows = {r["name"]: r for r in data["rows"]}
    ratios = {r["name"]: r for r in data["ratios"]}
    for ours in ("lmkit", "lmkit-compiled"):
        ratio = ratios[f"nanoGPT-compiled time / {ours} time"]
        assert ratio["value"] == pytest.approx(
            rows["nanoGPT-compiled"]["median"] / rows[ours]["median"]
        )
    assert "lmkit-compiled time / lmkit time" not in ratios  # lmkit is not its own peer


def test_train_shakespeare_trains_both_over_seeds(checkout, tmp_path):
    text_file = tmp_path / "text.txt"
    text_file.write_text("the quick brown fox jumps over the lazy dog.\n" * 300)
    report = train_shakespeare.run(
        "cpu", data=text_file, iters=3, eval_steps=2, seed=4, seeds=2, nanogpt=checkout,
        nanogpt_loop=False,  # this stand-in checkout has model.py only
    )
    per_seed = {r["name"]: r for r in report.rows if "seed" in r}
    assert sorted(per_seed) == [
        "lmkit Trainer, seed 4",
        "lmkit Trainer, seed 5",
        "nanoGPT model, lmkit Trainer, seed 4",
        "nanoGPT model, lmkit Trainer, seed 5",
    ]
    for seed in (4, 5):
        # Same weights, same batches, same estimator, same maths: the same validation loss.
        ours = per_seed[f"lmkit Trainer, seed {seed}"]["final_val_loss"]
        theirs = per_seed[f"nanoGPT model, lmkit Trainer, seed {seed}"]["final_val_loss"]
        assert theirs == pytest.approx(ours, rel=1e-4)
    summary = report.row("lmkit Trainer, 2 seeds")
    losses = [per_seed[f"lmkit Trainer, seed {s}"]["final_val_loss"] for s in (4, 5)]
    assert summary["final_val_loss"] == pytest.approx(statistics.mean(losses))
    assert summary["val_loss_min"] == min(losses)
    (ratio,) = report.ratios
    assert ratio["column"] == "ms_per_iter"
    assert "lmkit mean val loss ≤ nanoGPT's (same estimator)" in report.checks
    assert report.config["seeds"] == [4, 5]


def test_train_shakespeare_checks_the_checkout_before_training(tmp_path):
    text_file = tmp_path / "text.txt"
    text_file.write_text("the quick brown fox jumps over the lazy dog.\n" * 300)
    with pytest.raises(InputError, match=r"No nanoGPT model\.py"):
        train_shakespeare.run("cpu", data=text_file, iters=1, nanogpt=tmp_path / "missing")
    with pytest.raises(ConfigError, match="seeds must be a positive integer"):
        train_shakespeare.run("cpu", data=text_file, iters=1, seeds=0)
