"""Smoke tests of the benchmark harness in bench/ on tiny configs.

They check the machinery (interleaved timing, statistics, reports, ratios, parity checks,
command lines), never how fast anything is: timings depend on the machine and stay out of the
test suite.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys

import pytest
import torch
from torch import nn

pytest.importorskip("transformers")

from bench import common, generation, matmul_peak, memory, run_all, train_shakespeare, train_step
from bench.common import Report
from lmkit.errors import ConfigError, InputError
from lmkit.gpt.config import GPTConfig
from lmkit.gpt.model import GPT

TINY = {"vocab_size": 48, "block_size": 16, "n_layer": 2, "n_head": 2, "n_embd": 16}


def assert_ratios_from_medians(data: dict) -> None:
    """Every ratio in a report's JSON equals the quotient of the two rows it names."""
    rows = {r["name"]: r for r in data["rows"]}
    assert data["ratios"], "the report has no ratios"
    for ratio in data["ratios"]:
        num, den = rows[ratio["numerator"]], rows[ratio["denominator"]]
        if den[ratio["column"]] == 0:
            assert ratio["value"] is None
            continue
        expected = num[ratio["column"]] / den[ratio["column"]]
        assert ratio["value"] == pytest.approx(expected, rel=1e-12)


def assert_timing_rows_consistent(data: dict) -> None:
    """Medians lie between p10 and p90, which lie between min and max of the samples."""
    for row in data["rows"]:
        if "median" in row:
            assert row["min"] <= row["p10"] <= row["median"] <= row["p90"]
            assert row["n"] >= 1


# ------------------------------------------------------------------------------------ common
def test_summarize_matches_statistics_module():
    samples = [3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.0, 6.0, 5.5, 3.5]
    stats = common.summarize(samples)
    deciles = statistics.quantiles(samples, n=10, method="inclusive")
    assert stats["median"] == pytest.approx(statistics.median(samples))
    assert stats["p10"] == pytest.approx(deciles[0])
    assert stats["p90"] == pytest.approx(deciles[-1])
    assert stats["min"] == 1.0 and stats["n"] == 10


def test_summarize_rejects_no_samples():
    with pytest.raises(ConfigError, match="zero timing samples"):
        common.summarize([])


def test_time_interleaved_rotates_order_and_counts_calls():
    calls: list[str] = []
    candidates = {name: (lambda n=name: calls.append(n)) for name in "abc"}
    samples = common.time_interleaved(candidates, rounds=3, calls_per_round=2, warmup=1)
    assert {k: len(v) for k, v in samples.items()} == {"a": 3, "b": 3, "c": 3}
    assert all(s >= 0 for v in samples.values() for s in v)
    timed = calls[3:]  # after one warm-up call each
    firsts = [timed[i] for i in range(0, len(timed), 6)]
    assert firsts == ["a", "b", "c"]  # each round starts with a different candidate
    assert sorted(timed) == sorted("abc" * 6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rounds": 0}, "rounds must be a positive integer"),
        ({"rounds": 1, "calls_per_round": 0}, "calls_per_round"),
        ({"rounds": 1, "warmup": -1}, "warmup must be a non-negative"),
    ],
)
def test_time_interleaved_rejects_bad_settings(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        common.time_interleaved({"a": lambda: None}, **kwargs)


def test_time_interleaved_needs_candidates():
    with pytest.raises(ConfigError, match="at least one candidate"):
        common.time_interleaved({}, rounds=1)


def test_environment_stamp_has_hardware_software_and_threads():
    env = common.environment_stamp()
    assert env["hardware"]["cpu_cores"] >= 1
    assert env["hardware"]["cpu_model"]
    assert env["software"]["torch"] == torch.__version__
    assert env["software"]["transformers"] is not None
    assert env["torch_threads"] == torch.get_num_threads()
    assert env["date"].endswith("+00:00")


def test_device_kind_of_cpu():
    assert common.device_kind("cpu") == "cpu"


def test_markdown_table_shape_and_escaping():
    table = common.markdown_table([{"a": 1, "b": "x|y"}, {"a": 2.5, "c": None}])
    lines = table.splitlines()
    assert lines[0] == "| a | b | c |"
    assert lines[1] == "|---|---|---|"
    assert lines[2] == "| 1 | x\\|y | — |"
    assert len(lines) == 4


def test_report_ratio_rows_and_files(tmp_path):
    report = Report("unit", "cpu", {"size": 3})
    report.add_timing_row("slow", [0.2, 0.3, 0.25], unit="ms")
    report.add_timing_row("fast", [0.1, 0.12, 0.11], unit="ms")
    value = report.add_ratio("slow / fast", "slow", "fast")
    assert value == pytest.approx(250.0 / 110.0)  # medians, converted to ms
    json_path, md_path = report.write(tmp_path)
    assert json_path.name == "unit-cpu.json" and md_path.name == "unit-cpu.md"
    data = json.loads(json_path.read_text())
    assert set(data) == {"benchmark", "device", "environment", "config", "rows", "ratios",
                         "reference", "checks", "notes"}  # fmt: skip
    assert "load_avg_1min_start" in data["environment"]
    assert "load_avg_1min_end" in data["environment"]
    assert_ratios_from_medians(data)
    assert_timing_rows_consistent(data)
    md = md_path.read_text()
    assert md.startswith("# unit — cpu")
    assert "## Results" in md and "## Ratios" in md and "slow / fast" in md


def test_report_warns_about_a_busy_machine(monkeypatch):
    cores = common.environment_stamp()["hardware"]["cpu_cores_usable"]
    report = Report("unit", "cpu", {})
    report.load_start = cores + 5.0
    report.finish()
    assert any("load average" in n and "unreliable" in n for n in report.notes)
    monkeypatch.setattr(common, "load_average", lambda: 0.0)
    quiet = Report("unit", "cpu", {})
    quiet.load_start = 0.0
    quiet.finish()
    assert quiet.load_end == 0.0 and quiet.notes == []
    untimed = Report("unit", "cpu", {}, timed=False)
    untimed.load_start = cores + 5.0
    untimed.finish()
    assert untimed.notes == []


def test_report_ratio_with_zero_denominator_is_none():
    report = Report("unit", "cpu", {})
    report.add_row("a", growth=5.0)
    report.add_row("b", growth=0.0)
    assert report.add_ratio("a/b", "a", "b", column="growth") is None
    assert report.add_ratio("b/a", "b", "a", column="growth") == 0.0


def test_report_rejects_duplicates_unknown_rows_and_units():
    report = Report("unit", "cpu", {})
    report.add_row("a", median=1.0)
    with pytest.raises(ConfigError, match="already exists"):
        report.add_row("a", median=2.0)
    with pytest.raises(ConfigError, match="No row 'b'"):
        report.add_ratio("a/b", "a", "b")
    with pytest.raises(ConfigError, match="unit must be 'ms' or 's'"):
        report.add_timing_row("c", [1.0], unit="us")


@pytest.mark.parametrize(
    ("module", "argv", "message"),
    [
        (generation, ["--new-tokens", "0"], "new_tokens must be a positive integer"),
        (train_step, ["--threads", "0"], "--threads must be >= 1"),
        (matmul_peak, [], "CUDA GPU"),
    ],
)
def test_cli_reports_bad_settings_without_traceback(module, argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        module.main([*argv, "--device", "cpu", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_setup_rejects_bad_threads():
    args = common.add_common_args(__import__("argparse").ArgumentParser()).parse_args(
        ["--threads", "0", "--device", "cpu"]
    )
    with pytest.raises(ConfigError, match="--threads must be >= 1"):
        common.setup_from_args(args)


# -------------------------------------------------------------------------------- train_step
def test_adamw_decays_exactly_the_matrices():
    model = GPT(GPTConfig(**TINY))
    optimizer = train_step.adamw(model)
    decay, no_decay = optimizer.param_groups
    matrices = {id(m.weight) for m in model.modules() if isinstance(m, (nn.Linear, nn.Embedding))}
    matrices |= {id(model.wpe.weight)}  # learned positions are a matrix too
    assert {id(p) for p in decay["params"]} == matrices
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 1 for p in no_decay["params"])
    assert optimizer.defaults["lr"] == 1e-3 and optimizer.defaults["betas"] == (0.9, 0.99)


def test_training_flops_per_token_of_gpt2_small():
    with torch.device("meta"):
        model = GPT(GPTConfig.gpt2_small())
    n = model.num_parameters(exclude_position_embeddings=True)
    assert n == 124_439_808 - 1024 * 768  # GPT-2 small has 124,439,808 parameters, tied
    # PaLM's count: 6 FLOPs per weight per token, plus 12·L·H·Q·T for attention.
    expected = 6 * n + 12 * 12 * 12 * 64 * 1024
    assert train_step.training_flops_per_token(model.config, n) == expected


def test_train_step_report_on_tiny_config(tmp_path):
    report = train_step.run(
        "cpu", config=TINY, batch_size=2, rounds=2, calls_per_round=1, warmup=1, compile=False
    )
    names = [r["name"] for r in report.rows]
    assert names == ["lmkit", "transformers-sdpa", "transformers-eager"]
    assert report.checks["losses agree within 0.0001"] is True
    for row in report.rows:
        tokens = 2 * TINY["block_size"]
        assert row["tokens_per_s"] == pytest.approx(tokens / (row["median"] / 1e3))
        assert "mfu" not in row  # no GPU peak on CPU
    assert report.reference == []  # the earlier-run figures only belong to the baby config
    data = json.loads(report.write(tmp_path)[0].read_text())
    assert_ratios_from_medians(data)
    assert_timing_rows_consistent(data)
    fastest = min(
        ("transformers-sdpa", "transformers-eager"), key=lambda n: report.row(n)["median"]
    )
    assert any(r["numerator"] == fastest and "fastest" in r["name"] for r in data["ratios"])


def test_train_step_cli_writes_both_files(tmp_path):
    report = train_step.main(
        [
            "--device",
            "cpu",
            "--rounds",
            "1",
            "--steps",
            "1",
            "--warmup",
            "0",
            "--out",
            str(tmp_path),
        ]
    )
    assert report.config["n_layer"] == 4 and report.config["batch_size"] == 12  # the baby config
    assert report.reference[0]["name"].startswith("nanoGPT")
    assert (tmp_path / "train_step-cpu.json").exists() and (tmp_path / "train_step-cpu.md").exists()
    md = (tmp_path / "train_step-cpu.md").read_text()
    assert "Reference, earlier run" in md and "| 44.8 |" in md


# -------------------------------------------------------------------------------- generation
def test_generation_report_on_tiny_models(tmp_path):
    config = {"vocab_size": 64, "block_size": 32, "n_layer": 2, "n_head": 2, "n_embd": 32}
    report = generation.run(
        "cpu",
        config=config,
        tiny_config=config,
        new_tokens=4,
        prompt_tokens=4,
        repeats=1,
        tiny_repeats=1,
        bandwidth_mb=8,
    )
    parity = {k: v for k, v in report.checks.items() if "tokens ==" in k}
    assert len(parity) == 4 and all(v is True for v in parity.values())
    bound = report.row("memory-bandwidth bound (batch-1 decoding)")
    assert bound["read_bandwidth_gb_s"] > 0
    cached = report.row("lmkit (KV cache)")
    assert cached["share_of_bound"] == pytest.approx(
        cached["tokens_per_s"] / bound["tokens_per_s"], rel=1e-2
    )
    kernels = report.row("Linear-kernel bound (lmkit's single-row Linear layers alone)")
    assert kernels["weights_read_per_token_mb"] == bound["weights_read_per_token_mb"]
    from lmkit.gpt.config import GPTConfig
    from lmkit.gpt.model import GPT

    weight_bytes = generation.decode_bytes_per_token(GPT(GPTConfig(**config)))
    assert kernels["tokens_per_s"] == pytest.approx(
        kernels["read_bandwidth_gb_s"] * 1e9 / weight_bytes, rel=1e-6
    )
    assert cached["share_of_kernel_bound"] == pytest.approx(
        cached["tokens_per_s"] / kernels["tokens_per_s"], rel=1e-2
    )
    for row in report.rows:
        if "tokens_per_s" in row and "median" in row:
            seconds = row["median"] / (1e3 if row["unit"] == "ms" else 1.0)
            assert row["tokens_per_s"] == pytest.approx(4 / seconds)
    data = json.loads(report.write(tmp_path)[0].read_text())
    assert_ratios_from_medians(data)
    assert_timing_rows_consistent(data)
    assert len(data["ratios"]) == 6


def test_decode_bytes_per_token_counts_the_output_matrix_but_not_the_tables():
    from lmkit.gpt.config import GPTConfig
    from lmkit.gpt.model import GPT

    settings = {"vocab_size": 50, "block_size": 16, "n_layer": 2, "n_head": 2, "n_embd": 8}
    tied = GPT(GPTConfig(**settings))
    # Tied: every parameter except the position table; the token table is the output matrix.
    assert generation.decode_bytes_per_token(tied) == 4 * (tied.num_parameters() - 16 * 8)
    untied = GPT(GPTConfig(**settings, tie_weights=False))
    # Untied: the token table is only looked up (one row), so it is left out entirely.
    assert generation.decode_bytes_per_token(untied) == 4 * (
        untied.num_parameters() - 16 * 8 - 50 * 8
    )


def test_generation_parity_check_catches_a_wrong_answer(monkeypatch):
    # A peer that returns different tokens must be reported as not matching.
    real = generation.hf_greedy

    def wrong(model, prompt, new_tokens, use_cache, **extra):
        out = real(model, prompt, new_tokens, use_cache, **extra)
        out[:, -1] = (out[:, -1] + 1) % model.config.vocab_size
        return out

    monkeypatch.setattr(generation, "hf_greedy", wrong)
    config = {"vocab_size": 64, "block_size": 32, "n_layer": 1, "n_head": 2, "n_embd": 16}
    report = generation.run(
        "cpu",
        config=config,
        tiny_config=config,
        new_tokens=3,
        prompt_tokens=4,
        repeats=1,
        tiny_repeats=1,
    )
    assert report.checks["transformers (dynamic cache) tokens == lmkit (KV cache) tokens"] is False
    assert report.checks["lmkit (no cache) tokens == lmkit (KV cache) tokens"] is True


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"new_tokens": 0}, "new_tokens must be a positive integer"),
        ({"repeats": 0}, "repeats must be a positive integer"),
        ({"tiny_repeats": 0}, "tiny_repeats must be a positive integer"),
        ({"new_tokens": 30, "prompt_tokens": 4}, "must fit in the models' context"),
    ],
)
def test_generation_rejects_bad_settings(kwargs, match):
    config = {"vocab_size": 64, "block_size": 32, "n_layer": 1, "n_head": 2, "n_embd": 16}
    with pytest.raises(ConfigError, match=match):
        generation.run("cpu", config=config, tiny_config=config, **kwargs)


# ------------------------------------------------------------------------- train_shakespeare
def test_train_shakespeare_missing_file_says_what_to_do(tmp_path, capsys):
    missing = tmp_path / "nope.txt"
    with pytest.raises(InputError, match=r"not found.*--data"):
        train_shakespeare.run("cpu", data=missing, iters=1)
    with pytest.raises(SystemExit) as exit_info:
        train_shakespeare.main(["--data", str(missing), "--device", "cpu", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "not found" in capsys.readouterr().err


def test_train_shakespeare_rejects_bad_iters_and_tiny_text(tmp_path):
    small = tmp_path / "small.txt"
    small.write_text("to be or not to be")
    with pytest.raises(InputError, match="too little to train on"):
        train_shakespeare.run("cpu", data=small, iters=1)
    with pytest.raises(ConfigError, match="iters must be a positive integer"):
        train_shakespeare.run("cpu", data=small, iters=0)


def test_train_shakespeare_short_run_reports_losses(tmp_path):
    text_file = tmp_path / "text.txt"
    # A repetitive text with a small alphabet, long enough for a 90/10 split of 64-char windows.
    text_file.write_text("the quick brown fox jumps over the lazy dog.\n" * 300)
    report = train_shakespeare.run("cpu", data=text_file, iters=3, eval_steps=2)
    (row,) = report.rows
    vocab = len(set(text_file.read_text()))
    assert report.config["vocab_size"] == vocab
    assert report.config["warmup_steps"] == 3  # capped at the run length
    # After 3 small steps from random init the loss is still close to uniform guessing.
    assert 0 < row["final_val_loss"] < math.log(vocab) + 0.5
    # ms_per_iter is a median of single iterations after the first (warmup_s): each of them,
    # the first and the evaluations all fit in the run's wall time.
    assert 0 < row["ms_per_iter"] / 1e3 + row["warmup_s"] + row["eval_s"] < row["wall_s"]
    assert row["warmup_s"] > 0 and 0 < row["eval_s"] < row["wall_s"]
    assert any("Short run" in n for n in report.notes)
    assert not any("target" in k for k in report.checks)


# ------------------------------------------------------------------------------------ memory
def test_saved_tensor_bytes_counts_saved_activations_once():
    layer = nn.Linear(8, 8, bias=False)
    x = torch.randn(4, 8)
    saved, out = memory.saved_tensor_bytes(lambda: torch.relu(layer(x)).sum(), exclude=layer)
    # linear keeps its input (for the weight's gradient), relu its output; the weight is excluded.
    assert saved == x.nbytes + 4 * 8 * 4
    assert out.requires_grad
    t = torch.randn(16, requires_grad=True)
    saved, _ = memory.saved_tensor_bytes(lambda: (t * t).sum())
    assert saved == t.nbytes  # mul saved both operands, but they are one storage


def test_checkpointing_keeps_fewer_activations():
    spec = {"model": TINY, "batch_size": 2}
    for impl in memory.IMPLEMENTATIONS:
        plain = memory.measure(impl, "tiny", False, steps=1, config=spec)
        ckpt = memory.measure(impl, "tiny", True, steps=1, config=spec)
        assert ckpt["saved_activations_mib"] < plain["saved_activations_mib"]
        assert plain["params"] == ckpt["params"]
        assert plain["peak_rss_mib"] >= plain["rss_before_model_mib"]


def test_measure_rejects_unknown_config_and_impl():
    with pytest.raises(ConfigError, match="Unknown config 'huge'"):
        memory.measure("lmkit", "huge", False)
    with pytest.raises(ConfigError, match="impl must be one of"):
        memory.measure("other", "baby", False)
    with pytest.raises(ConfigError, match="Unknown config"):
        memory.run("cpu", configs=("huge",))


def test_memory_report_structure(tmp_path, monkeypatch):
    # In-process measurements instead of subprocesses keep this test fast.
    spec = {"model": TINY, "batch_size": 2}
    monkeypatch.setitem(memory.CONFIGS, "tiny", spec)

    def in_process(impl, config_name, checkpointing, device, threads):
        return memory.measure(impl, config_name, checkpointing, device, steps=1)

    monkeypatch.setattr(memory, "_measure_in_subprocess", in_process)
    report = memory.run("cpu", configs=("tiny",))
    assert len(report.rows) == 4
    data = json.loads(report.write(tmp_path)[0].read_text())
    assert_ratios_from_medians(data)
    assert all(r["value"] < 1 for r in data["ratios"] if "checkpointing / none" in r["name"])


@pytest.mark.slow
def test_memory_child_process_reports_json():
    done = subprocess.run(
        [sys.executable, "-m", "bench.memory", "--device", "cpu", "--child",
         json.dumps({"impl": "lmkit", "config": "baby", "checkpointing": False})],
        cwd=common.REPO_ROOT, capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["peak_rss_mib"] >= figures["rss_before_model_mib"] > 0
    assert figures["saved_activations_mib"] > 0


# ------------------------------------------------------------------------ matmul_peak, run_all
def test_matmul_peak_needs_cuda():
    with pytest.raises(ConfigError, match="CUDA GPU"):
        matmul_peak.measure_matmul_peak("cpu")


def test_run_all_commands_on_cpu(tmp_path):
    todo = run_all.commands(
        torch.device("cpu"), quick=True, only=None, extra=["--out", str(tmp_path)], data=tmp_path
    )
    assert list(todo) == ["train_step", "train_shakespeare", "generation", "memory"]
    assert todo["train_shakespeare"][-2:] == ["--data", str(tmp_path)]
    assert "--iters" in todo["train_shakespeare"]
    assert all(cmd[1:3] == ["-m", f"bench.{name}"] for name, cmd in todo.items())
    only = run_all.commands(torch.device("cpu"), quick=False, only=["memory"], extra=[], data=None)
    assert list(only) == ["memory"] and "--configs" not in only["memory"]


def test_run_all_summary_and_failure(tmp_path, monkeypatch):
    def fake_run(command, cwd, check):
        name = command[2].split(".")[1]
        if name == "memory":
            return subprocess.CompletedProcess(command, 3)
        (tmp_path / f"{name}-cpu.md").write_text(f"# {name} — cpu\n\n## Results\n")
        (tmp_path / f"{name}-cpu.json").write_text("{}")
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(run_all.subprocess, "run", fake_run)
    with pytest.raises(SystemExit) as exit_info:
        run_all.main(["--device", "cpu", "--out", str(tmp_path), "--quick"])
    assert exit_info.value.code == 1
    summary = json.loads((tmp_path / "summary-cpu.json").read_text())
    assert summary["benchmarks"]["memory"]["returncode"] == 3
    assert summary["benchmarks"]["generation"]["returncode"] == 0
    assert len(summary["benchmarks"]["generation"]["files"]) == 2
    md = (tmp_path / "summary-cpu.md").read_text()
    assert "## generation — cpu" in md and "### Results" in md
    assert "## memory — failed (exit code 3)" in md
