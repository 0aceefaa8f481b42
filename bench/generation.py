"""Time greedy generation: lmkit with and without its KV cache against transformers' ``generate``.

Run: ``python -m bench.generation`` (``--help`` for options).

Batch 1, a 16-token prompt, 200 new tokens, GPT-2 small with random weights (fp32 on CPU).
lmkit and transformers hold identical weights (:func:`lmkit.gpt.interop.to_hf`), and the run first
checks that their greedy outputs agree token for token: timing a wrong answer is worthless.
A second, "tiny-gpt"-sized model gives time-to-first-token and tokens/s for the classroom.
On CUDA, transformers' static cache (which ``generate`` compiles) and a ``torch.compile``-d
lmkit model are timed as well, when they run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from bench.common import (
    Report,
    add_common_args,
    device_kind,
    run_cli,
    sync,
    time_interleaved,
)
from lmkit.decoding.generation import generate
from lmkit.errors import ConfigError
from lmkit.gpt.config import GPTConfig
from lmkit.gpt.model import GPT

GPT2_SMALL = {"vocab_size": 50257, "block_size": 1024, "n_layer": 12, "n_head": 12, "n_embd": 768}
TINY_GPT = {"vocab_size": 4096, "block_size": 256, "n_layer": 4, "n_head": 4, "n_embd": 128}
PROMPT_TOKENS = 16
NEW_TOKENS = 200

__all__ = ["GPT2_SMALL", "TINY_GPT", "hf_greedy", "lmkit_greedy", "main", "run"]


def lmkit_greedy(
    model: nn.Module, prompt: torch.Tensor, new_tokens: int, use_cache: bool
) -> torch.Tensor:
    """lmkit's greedy continuation of ``prompt`` (1, T): returns (1, T + new_tokens)."""
    return generate(
        model, prompt, max_new_tokens=new_tokens, strategy="greedy", use_cache=use_cache
    )


def hf_greedy(
    model: nn.Module, prompt: torch.Tensor, new_tokens: int, use_cache: bool, **extra: Any
) -> torch.Tensor:
    """transformers' greedy continuation of ``prompt``, forced to produce exactly ``new_tokens``.

    ``eos_token_id=None`` and ``min_new_tokens`` keep it from stopping early, so both libraries
    do the same amount of work.
    """
    return model.generate(
        prompt,
        attention_mask=torch.ones_like(prompt),
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        do_sample=False,
        use_cache=use_cache,
        eos_token_id=None,
        pad_token_id=0,
        **extra,
    )


def _models(config: dict[str, int], device: torch.device, seed: int) -> tuple[GPT, nn.Module]:
    from lmkit.gpt.interop import to_hf

    torch.manual_seed(seed)
    model = GPT(GPTConfig(**config)).to(device).eval()
    return model, to_hf(model, attn_implementation="sdpa").eval()


def read_bandwidth(device: torch.device, megabytes: int = 512, repeats: int = 7) -> float:
    """Memory read bandwidth in GB/s: the median time to sum a ``megabytes`` fp32 tensor.

    Decoding one token at batch 1 reads every weight once and does two FLOPs per weight read, far
    too little arithmetic to keep the cores busy: its speed is bounded by this bandwidth, not by
    the FLOP rate. The tensor is much larger than the caches, as GPT-2 small's 0.5 GB is.
    """
    data = torch.ones(megabytes * 2**20 // 4, device=device)
    times = []
    for _ in range(repeats + 1):
        sync(device)
        start = time.perf_counter()
        data.sum()
        sync(device)
        times.append(time.perf_counter() - start)
    return data.numel() * 4 / statistics.median(times[1:]) / 1e9


def decode_bytes_per_token(model: GPT) -> int:
    """Bytes of weights one decoding step reads: everything except the embedding tables, of
    which it reads one row each, plus the output matrix (tied or not), read in full."""
    tables = {id(model.wte.weight)} | ({id(model.wpe.weight)} if model.wpe is not None else set())
    seen, total = set(), 0
    for p in model.parameters():
        if id(p) not in seen and id(p) not in tables:
            total += p.numel() * p.element_size()
        seen.add(id(p))
    head = model.lm_head.weight
    return total + (head.numel() * head.element_size() if id(head) in tables else 0)


def linear_stream_rate(model: GPT, repeats: int = 5) -> float:
    """GB/s at which the model's own Linear layers stream their weights for one row each.

    Every Linear of a decoding step (the output layer included), in order, and nothing else:
    the fastest a batch-1 step could be with these matrix-vector kernels. Its gap to
    :func:`read_bandwidth` belongs to the kernels; the gap from it to the measured tokens/s is
    the rest of the step (attention, LayerNorm, GELU, Python).
    """
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    rows = [torch.randn(1, m.in_features, device=model.device, dtype=model.dtype) for m in linears]

    def sweep() -> None:
        for layer, row in zip(linears, rows, strict=True):
            layer(row)

    with torch.inference_mode():
        (seconds,) = time_interleaved(
            {"linears": sweep}, rounds=repeats, device=model.device
        ).values()
    weights = sum(m.weight.numel() * m.weight.element_size() for m in linears)
    return weights / statistics.median(seconds) / 1e9


def _add_roofline(report: Report, model: GPT, device: torch.device, megabytes: int) -> None:
    """The bandwidth bound on batch-1 decoding, the Linear kernels' own bound, and how close each
    cached variant comes to them."""
    bandwidth = read_bandwidth(device, megabytes)
    per_token = decode_bytes_per_token(model)
    bound = bandwidth * 1e9 / per_token
    report.add_row(
        "memory-bandwidth bound (batch-1 decoding)",
        unit="tokens/s",
        read_bandwidth_gb_s=round(bandwidth, 2),
        weights_read_per_token_mb=round(per_token / 1e6, 1),
        tokens_per_s=round(bound, 1),
    )
    kernel_rate = linear_stream_rate(model)
    kernel_bound = kernel_rate * 1e9 / per_token
    report.add_row(
        "Linear-kernel bound (lmkit's single-row Linear layers alone)",
        unit="tokens/s",
        read_bandwidth_gb_s=kernel_rate,  # unrounded: a test-sized model streams very little
        weights_read_per_token_mb=round(per_token / 1e6, 1),
        tokens_per_s=kernel_bound,
    )
    for row in report.rows:
        if "cache" in row["name"] and "no cache" not in row["name"] and row.get("unit") == "s":
            row["share_of_bound"] = row["tokens_per_s"] / bound
            row["share_of_kernel_bound"] = row["tokens_per_s"] / kernel_bound
    report.notes.append(
        f"The bound is read bandwidth (median time to sum a {megabytes} MB fp32 tensor) divided "
        "by the bytes of weights a decoding step reads; share_of_bound = measured tokens/s / "
        "bound. The Linear-kernel bound times only the model's Linear layers on one row each "
        "(bench.generation.linear_stream_rate): the matrix-vector kernels' own ceiling, below "
        "the sum's because they stream the weights at a lower rate than a reduction does."
    )


def _candidates(
    model: GPT, hf: nn.Module, prompt: torch.Tensor, new_tokens: int, cuda: bool
) -> tuple[dict[str, Callable[[], torch.Tensor]], list[str]]:
    """The generation variants to time, and notes about variants that could not run."""
    candidates: dict[str, Callable[[], torch.Tensor]] = {
        "lmkit (no cache)": lambda: lmkit_greedy(model, prompt, new_tokens, use_cache=False),
        "lmkit (KV cache)": lambda: lmkit_greedy(model, prompt, new_tokens, use_cache=True),
        "transformers (dynamic cache)": lambda: hf_greedy(hf, prompt, new_tokens, True),
        "transformers (no cache)": lambda: hf_greedy(hf, prompt, new_tokens, False),
    }
    notes: list[str] = []
    if not cuda:
        return candidates, notes
    extra: dict[str, Callable[[], torch.Tensor]] = {
        # generate() compiles the forward pass by itself when the cache is static.
        "transformers (static cache + compile)": lambda: hf_greedy(
            hf, prompt, new_tokens, True, cache_implementation="static"
        ),
    }
    compiled = torch.compile(model)  # keeps .config and .new_kv_cache of the wrapped model
    extra["lmkit (KV cache + compile)"] = lambda: lmkit_greedy(compiled, prompt, new_tokens, True)
    for name, fn in extra.items():
        try:
            fn()  # compiles; a failure here means the variant is not available
        except Exception as exc:  # compile failures come in many exception types
            notes.append(f"{name} skipped: {type(exc).__name__}: {str(exc)[:200]}")
        else:
            candidates[name] = fn
    return candidates, notes


def _time_tiny_model(
    report: Report,
    tiny_config: dict[str, int],
    device: torch.device,
    prompt: torch.Tensor,
    new_tokens: int,
    tiny_rounds: int,
    seed: int,
) -> None:
    """Add the tiny model's rows: generation speed and time to first token, lmkit vs transformers."""
    tiny, tiny_hf = _models(tiny_config, device, seed)
    tiny_prompt = prompt.to(device)
    tiny_candidates = {
        "tiny-gpt lmkit (KV cache)": lambda: lmkit_greedy(tiny, tiny_prompt, new_tokens, True),
        "tiny-gpt transformers (dynamic cache)": lambda: hf_greedy(
            tiny_hf, tiny_prompt, new_tokens, True
        ),
    }
    first_token = {
        "tiny-gpt lmkit, first token": lambda: lmkit_greedy(tiny, tiny_prompt, 1, True),
        "tiny-gpt transformers, first token": lambda: hf_greedy(tiny_hf, tiny_prompt, 1, True),
    }
    tiny_lmkit, tiny_peer = [fn() for fn in tiny_candidates.values()]
    report.checks["tiny-gpt transformers tokens == lmkit tokens"] = bool(
        torch.equal(tiny_lmkit.cpu(), tiny_peer.cpu())
    )
    for name, samples in time_interleaved(
        tiny_candidates, rounds=tiny_rounds, warmup=1, device=device
    ).items():
        row = report.add_timing_row(name, samples, unit="ms")
        row["tokens_per_s"] = new_tokens / (row["median"] / 1e3)
    for name, samples in time_interleaved(
        first_token, rounds=4 * tiny_rounds, warmup=2, device=device
    ).items():
        report.add_timing_row(name, samples, unit="ms")
    report.add_ratio(
        "tiny-gpt lmkit vs transformers (transformers time / lmkit time)",
        "tiny-gpt transformers (dynamic cache)",
        "tiny-gpt lmkit (KV cache)",
    )
    report.add_ratio(
        "tiny-gpt time to first token (transformers / lmkit)",
        "tiny-gpt transformers, first token",
        "tiny-gpt lmkit, first token",
    )


def run(
    device: torch.device | str = "cpu",
    *,
    config: dict[str, int] | None = None,
    tiny_config: dict[str, int] | None = None,
    new_tokens: int = NEW_TOKENS,
    prompt_tokens: int = PROMPT_TOKENS,
    repeats: int = 3,
    tiny_repeats: int | None = None,
    seed: int = 0,
    bandwidth_mb: int = 512,
) -> Report:
    """Measure generation speed of lmkit and transformers; return the report.

    ``repeats`` timed rounds for the main model; ``tiny_repeats`` (default ``5 * repeats``)
    for the tiny model's generation, and four times as many for its time to first token,
    because short calls scatter more.
    """
    device = torch.device(device)
    cuda = device.type == "cuda"
    config = dict(config or GPT2_SMALL)
    tiny_config = dict(tiny_config or TINY_GPT)
    for name, value in (
        ("new_tokens", new_tokens),
        ("prompt_tokens", prompt_tokens),
        ("repeats", repeats),
        ("tiny_repeats", 1 if tiny_repeats is None else tiny_repeats),
    ):
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}.")
    if prompt_tokens + new_tokens > min(config["block_size"], tiny_config["block_size"]):
        raise ConfigError(
            f"prompt_tokens + new_tokens = {prompt_tokens + new_tokens} must fit in the models' "
            f"context (block_size {config['block_size']} and {tiny_config['block_size']}); "
            "use fewer --new-tokens."
        )
    report = Report(
        "generation",
        device_kind(device),
        {
            "model": config,
            "tiny_model": tiny_config,
            "batch_size": 1,
            "prompt_tokens": prompt_tokens,
            "new_tokens": new_tokens,
            "decoding": "greedy",
            "dtype": "fp32",
            "repeats": repeats,
        },
    )
    generator = torch.Generator().manual_seed(seed)

    # ---- the main model: every variant, interleaved
    model, hf = _models(config, device, seed)
    prompt = torch.randint(0, config["vocab_size"], (1, prompt_tokens), generator=generator).to(
        device
    )
    candidates, notes = _candidates(model, hf, prompt, new_tokens, cuda)
    report.notes.extend(notes)
    outputs = {name: fn() for name, fn in candidates.items()}  # also warms every path up
    reference = outputs["lmkit (KV cache)"]
    for name, out in outputs.items():
        if name != "lmkit (KV cache)":
            report.checks[f"{name} tokens == lmkit (KV cache) tokens"] = bool(
                out.shape == reference.shape and torch.equal(out.cpu(), reference.cpu())
            )
    seconds = time_interleaved(candidates, rounds=repeats, warmup=0, device=device)
    for name, samples in seconds.items():
        row = report.add_timing_row(name, samples, unit="s")
        row["tokens_per_s"] = new_tokens / row["median"]
    report.add_ratio(
        "lmkit: cache speed-up (no-cache time / cache time)", "lmkit (no cache)", "lmkit (KV cache)"
    )
    report.add_ratio(
        "transformers: cache speed-up (no-cache time / cache time)",
        "transformers (no cache)",
        "transformers (dynamic cache)",
    )
    report.add_ratio(
        "lmkit vs transformers, cache (transformers time / lmkit time)",
        "transformers (dynamic cache)",
        "lmkit (KV cache)",
    )
    report.add_ratio(
        "lmkit vs transformers, no cache (transformers time / lmkit time)",
        "transformers (no cache)",
        "lmkit (no cache)",
    )
    if (
        "transformers (static cache + compile)" in candidates
        and "lmkit (KV cache + compile)" in candidates
    ):
        report.add_ratio(
            "lmkit vs transformers, compiled (transformers time / lmkit time)",
            "transformers (static cache + compile)",
            "lmkit (KV cache + compile)",
        )
    _add_roofline(report, model, device, bandwidth_mb)
    del model, hf, candidates, outputs

    # ---- the tiny model: time to first token and tokens/s
    tiny_prompt = torch.randint(
        0, tiny_config["vocab_size"], (1, prompt_tokens), generator=generator
    )
    tiny_rounds = 5 * repeats if tiny_repeats is None else tiny_repeats
    _time_tiny_model(report, tiny_config, device, tiny_prompt, new_tokens, tiny_rounds, seed)
    report.notes.append(
        "Timing rows are the duration of one generate() call of new_tokens tokens, prompt processing "
        "included; tokens/s = new_tokens / median. 'first token' rows are generate() calls with "
        "one new token: prompt processing plus one step, i.e. time to first token."
    )
    report.notes.append(
        "Ratios above 1 mean the denominator (lmkit, or the cached variant) is faster."
    )
    report.finish()
    return report


def main(argv: list[str] | None = None) -> Report | None:
    """Command-line entry point: ``python -m bench.generation``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser)
    parser.add_argument("--new-tokens", type=int, default=NEW_TOKENS, help="tokens to generate")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds per variant")
    return run_cli(
        parser,
        argv,
        lambda args, device: run(
            device, new_tokens=args.new_tokens, repeats=args.repeats, seed=args.seed
        ),
    )


if __name__ == "__main__":
    main()
