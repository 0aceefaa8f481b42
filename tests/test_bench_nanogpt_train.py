"""Tests of nanoGPT's own training loop as a peer (bench/nanogpt_train.py), with a stand-in checkout.

CI has no nanoGPT checkout, so each test writes one into ``tmp_path``: the stand-in model.py of
tests/test_bench_nanogpt.py, a small exec-based configurator.py with nanoGPT's semantics, the
Shakespeare config file, and a train.py that reads nanoGPT's dataset format, trains a few
iterations with its loop structure, prints its two log formats and saves ckpt.pt as it does
(here with torch.compile's ``_orig_mod.`` prefix, which the loader must strip).
"""

from __future__ import annotations

import math
import statistics
import textwrap

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from bench import train_shakespeare
from bench.nanogpt_train import (
    check_nanogpt_checkout,
    median_iteration_ms,
    nanogpt_train_args,
    parse_nanogpt_line,
    run_nanogpt_loop,
    write_nanogpt_dataset,
)
from lmkit.errors import InputError
from lmkit.gpt.config import GPTConfig
from lmkit.gpt.model import GPT
from lmkit.tokenizers import CharTokenizer
from lmkit.training.batching import LMBatches, split_train_val
from lmkit.training.config import TrainConfig
from lmkit.training.trainer import Trainer
from tests.test_bench_nanogpt import STAND_IN

CONFIGURATOR = textwrap.dedent(
    """
    import sys
    from ast import literal_eval
    for arg in sys.argv[1:]:
        if "=" not in arg:
            exec(open(arg).read())
            continue
        key, val = arg[2:].split("=")
        assert key in globals(), f"Unknown config key: {key}"
        try:
            attempt = literal_eval(val)
        except (SyntaxError, ValueError):
            attempt = val
        assert type(attempt) == type(globals()[key]), key
        globals()[key] = attempt
    """
)
CONFIG = (
    "dataset = 'shakespeare_char'\nbatch_size = 64\ndropout = 0.2\nalways_save_checkpoint = False\n"
)
TRAIN = textwrap.dedent(
    """
    import os, pickle, time
    import numpy as np
    import torch
    from model import GPT, GPTConfig
    out_dir = "out"; eval_interval = 2000; log_interval = 1; eval_iters = 200
    always_save_checkpoint = True; dataset = "openwebtext"; gradient_accumulation_steps = 40
    batch_size = 12; block_size = 1024; n_layer = 12; n_head = 12; n_embd = 768
    dropout = 0.0; bias = False; learning_rate = 6e-4; max_iters = 600000; weight_decay = 1e-1
    beta1 = 0.9; beta2 = 0.95; grad_clip = 1.0; warmup_iters = 2000; lr_decay_iters = 600000
    min_lr = 6e-5; device = "cuda"; dtype = "bfloat16"; compile = True
    exec(open("configurator.py").read())
    torch.manual_seed(1337)
    data_dir = os.path.join("data", dataset)
    def get_batch(split):
        data = np.memmap(os.path.join(data_dir, f"{split}.bin"), dtype=np.uint16, mode="r")
        ix = torch.randint(len(data) - block_size, (batch_size,))
        x = torch.stack([torch.from_numpy(data[i:i+block_size].astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy(data[i+1:i+1+block_size].astype(np.int64)) for i in ix])
        return x, y
    with open(os.path.join(data_dir, "meta.pkl"), "rb") as f:
        meta = pickle.load(f)
    assert meta["stoi"] == {c: i for i, c in meta["itos"].items()}
    print(f"found vocab_size = {meta['vocab_size']}")
    os.makedirs(out_dir, exist_ok=True)
    head = np.fromfile(os.path.join(data_dir, "train.bin"), dtype=np.uint16)[:40]
    with open(os.path.join(out_dir, "decoded.txt"), "w") as f:
        f.write("".join(meta["itos"][int(i)] for i in head))
    model_args = dict(n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block_size,
                      bias=bias, vocab_size=meta["vocab_size"], dropout=dropout)
    model = GPT(GPTConfig(**model_args))
    optimizer = model.configure_optimizers(weight_decay, learning_rate, (beta1, beta2), device)
    @torch.no_grad()
    def estimate_loss():
        return {s: torch.stack([model(*get_batch(s))[1] for _ in range(eval_iters)]).mean()
                for s in ("train", "val")}
    iter_num, t0 = 0, time.time()
    while True:
        if iter_num % eval_interval == 0:
            losses = estimate_loss()
            print(f"step {iter_num}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}")
            if iter_num > 0 and always_save_checkpoint:
                state = {"_orig_mod." + k: v for k, v in model.state_dict().items()}
                torch.save({"model": state, "optimizer": optimizer.state_dict(),
                            "model_args": model_args, "iter_num": iter_num,
                            "best_val_loss": losses["val"], "config": {"dataset": dataset}},
                           os.path.join(out_dir, "ckpt.pt"))
        X, Y = get_batch("train")
        loss = model(X, Y)[1]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        t1 = time.time(); dt = t1 - t0; t0 = t1
        print(f"iter {iter_num}: loss {loss.item():.4f}, time {dt*1000:.2f}ms, mfu -100.00%")
        iter_num += 1
        if iter_num > max_iters:
            break
    """
)
TINY_MODEL = {
    "block_size": 16,
    "n_layer": 2,
    "n_head": 2,
    "n_embd": 16,
    "dropout": 0.0,
    "bias": False,
}
TINY_RECIPE = dict(train_shakespeare.RECIPE, batch_size=4, eval_steps=2, warmup_steps=2)
TEXT = "the quick brown fox jumps over the lazy dog.\n" * 300


def _checkout(folder, train=TRAIN):
    (folder / "config").mkdir(parents=True)
    (folder / "model.py").write_text(STAND_IN)
    (folder / "configurator.py").write_text(CONFIGURATOR)
    (folder / "config" / "train_shakespeare_char.py").write_text(CONFIG)
    (folder / "train.py").write_text(train)
    return folder


@pytest.fixture
def checkout(tmp_path):
    return _checkout(tmp_path / "nanoGPT")


def _data():
    tokenizer = CharTokenizer.train(TEXT)
    train_ids, val_ids = split_train_val(tokenizer.encode(TEXT), 0.1)
    return tokenizer, train_ids, val_ids


def _run_loop(checkout, iters=4, **kwargs):
    tokenizer, train_ids, val_ids = _data()
    val_data = [LMBatches(val_ids, TINY_MODEL["block_size"], 4, seed=1)]
    return run_nanogpt_loop(
        checkout, tokenizer=tokenizer, train_ids=train_ids, val_ids=val_ids,
        model_config=TINY_MODEL, recipe=TINY_RECIPE, iters=iters, val_data=val_data, **kwargs,
    )  # fmt: skip


def test_dataset_files_hold_exactly_the_ids(tmp_path):
    tokenizer, train_ids, val_ids = _data()
    data_dir = write_nanogpt_dataset(tmp_path, tokenizer, train_ids, val_ids)
    assert data_dir == tmp_path / "data" / "shakespeare_char"
    train = np.fromfile(data_dir / "train.bin", dtype=np.uint16)
    val = np.fromfile(data_dir / "val.bin", dtype=np.uint16)
    assert train.tolist() == list(train_ids) and val.tolist() == list(val_ids)
    assert tokenizer.decode(train.tolist()) + tokenizer.decode(val.tolist()) == TEXT
    assert (data_dir / "meta.pkl").is_file()


def test_parser_reads_nanogpt_log_lines():
    # The formats of nanoGPT's train.py print statements, as it prints them.
    assert parse_nanogpt_line("iter 12: loss 2.5103, time 61.97ms, mfu 0.41%") == (
        "iter", {"iter": 12, "loss": 2.5103, "ms": 61.97}
    )  # fmt: skip
    assert parse_nanogpt_line("step 250: train loss 1.9817, val loss 2.0876") == (
        "eval", {"iter": 250, "train_loss": 1.9817, "val_loss": 2.0876}
    )  # fmt: skip
    assert parse_nanogpt_line("saving checkpoint to out-shakespeare-char") is None
    kind, values = parse_nanogpt_line("iter 0: loss nan, time 160.09ms, mfu -100.00%")
    assert kind == "iter" and math.isnan(values["loss"])


def test_train_args_come_from_the_recipe():
    args = nanogpt_train_args(
        "cfg.py", model_config=train_shakespeare.MODEL, recipe=train_shakespeare.RECIPE,
        iters=2000, eval_interval=250, out_dir="/o",
    )  # fmt: skip
    assert args[0] == "cfg.py"
    settings = dict(a[2:].split("=") for a in args[1:])
    assert settings["learning_rate"] == "0.001" and settings["min_lr"] == "0.0001"
    assert settings["beta2"] == "0.99" and settings["warmup_iters"] == "100"
    assert settings["max_iters"] == settings["lr_decay_iters"] == "2000"
    assert settings["n_embd"] == "128" and settings["bias"] == "False"
    assert settings["eval_iters"] == "200" and settings["batch_size"] == "12"
    assert settings["dtype"] == "float32" and settings["compile"] == "False"


def test_median_iteration_ms_leaves_out_iteration_0_and_evaluations():
    times = {0: 900.0, 1: 10.0, 2: 30.0, 3: 20.0, 4: 500.0}
    assert median_iteration_ms(times, skip={4}) == 20.0
    assert median_iteration_ms({0: 9.0, 1: 5.0}, skip={1}) == 9.0  # nothing else left


def test_checkpoint_is_scored_by_lmkit_estimator(checkout, tmp_path):
    work = tmp_path / "work"
    run = _run_loop(checkout, work_dir=work)
    assert (work / "out" / "decoded.txt").read_text() == TEXT[:40]  # meta.pkl's maps, as read
    assert sorted(run.iteration_ms) == [0, 1, 2, 3, 4]  # iterations 0…max_iters
    assert run.eval_interval == 4 and sorted(run.evaluations) == [0, 4]
    assert run.ms_per_iter == statistics.median(run.iteration_ms[i] for i in (1, 2, 3))
    assert run.nanogpt_val_loss == run.evaluations[4][1]
    # Independently: the checkpoint's weights in lmkit's GPT, scored by Trainer.evaluate.
    checkpoint = torch.load(work / "out" / "ckpt.pt", weights_only=True)
    assert checkpoint["iter_num"] == 4
    state = {}
    for key, value in checkpoint["model"].items():
        key = key.removeprefix("_orig_mod.")
        if key != "lm_head.weight":
            key = key.removeprefix("transformer.").replace("h.", "blocks.", 1)
        state[key] = value
    vocab = checkpoint["model_args"]["vocab_size"]
    lmkit_model = GPT(GPTConfig(vocab_size=vocab, **TINY_MODEL))
    lmkit_model.load_state_dict(state, strict=True)
    val_data = LMBatches(_data()[2], TINY_MODEL["block_size"], 4, seed=1)
    config = TrainConfig(max_steps=1, eval_steps=2)
    expected = Trainer(lmkit_model, config, val_data, val_data).evaluate()
    assert run.final_val_loss == pytest.approx(expected, rel=1e-5)
    untrained = GPT(GPTConfig(vocab_size=vocab, **TINY_MODEL))
    assert Trainer(untrained, config, val_data, val_data).evaluate() != pytest.approx(expected)


def test_checkout_without_train_py_is_an_input_error(tmp_path):
    (tmp_path / "model.py").write_text(STAND_IN)
    with pytest.raises(InputError, match=r"lacks train\.py, configurator\.py, config"):
        check_nanogpt_checkout(tmp_path)
    text_file = tmp_path / "text.txt"
    text_file.write_text(TEXT)
    with pytest.raises(InputError, match=r"lacks train\.py.*--no-nanogpt-loop"):
        train_shakespeare.run("cpu", data=text_file, iters=1, nanogpt=tmp_path)


@pytest.mark.parametrize(
    ("train", "message"),
    [
        (
            "print('loading')\nraise SystemExit('boom: out of memory')\n",
            r"(?s)exited with code 1.*boom",
        ),
        ("print('nothing timed')\n", r"(?s)no 'iter N.*lines.*nothing timed"),
        ("print('iter 0: loss 4.0, time 1.00ms, mfu -100.00%')\n", r"wrote no checkpoint"),
    ],
)
def test_a_failing_train_py_is_an_input_error_with_its_output(tmp_path, train, message):
    checkout = _checkout(tmp_path / "nanoGPT", train=train)
    with pytest.raises(InputError, match=message):
        _run_loop(checkout)


def test_train_shakespeare_reports_nanogpt_own_loop(checkout, tmp_path):
    text_file = tmp_path / "text.txt"
    text_file.write_text(TEXT)
    report = train_shakespeare.run("cpu", data=text_file, iters=3, eval_steps=2, nanogpt=checkout)
    row = report.row("nanoGPT train.py (its loop, seed 1337)")
    assert row["iters"] == 3
    assert 0 < row["final_val_loss"] < math.log(report.config["vocab_size"]) + 0.5
    assert row["nanogpt_val_loss"] > 0 and row["wall_s"] > 0
    lmkit = report.row("lmkit Trainer, 1 seeds")
    ratio = next(
        r for r in report.ratios if r["name"] == "nanoGPT train.py ms/iter / lmkit ms/iter"
    )
    assert ratio["value"] == pytest.approx(row["ms_per_iter"] / lmkit["ms_per_iter"])
    check = report.checks["lmkit mean val loss ≤ nanoGPT train.py's (same estimator)"]
    assert check == (lmkit["final_val_loss"] <= row["final_val_loss"])
    assert report.config["nanogpt_loop"] is True


def test_no_nanogpt_loop_and_compile_flags(tmp_path, monkeypatch):
    (tmp_path / "model.py").write_text(STAND_IN)  # no train.py: fine without the loop
    text_file = tmp_path / "text.txt"
    text_file.write_text(TEXT)
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda model, **kw: compiled.append(model) or model)
    report = train_shakespeare.main(
        ["--device", "cpu", "--data", str(text_file), "--iters", "3", "--eval-steps", "2",
         "--nanogpt", str(tmp_path), "--no-nanogpt-loop", "--compile", "--out", str(tmp_path)]
    )  # fmt: skip
    assert not any("train.py" in r["name"] for r in report.rows)
    assert report.config["compile"] is True and report.config["nanogpt_loop"] is False
    assert len(compiled) == 2  # lmkit's GPT and nanoGPT's model, one Trainer each
    assert all(r["warmup_s"] > 0 for r in report.rows if "seed 0" in r["name"])
