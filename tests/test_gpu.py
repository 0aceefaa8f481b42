"""Tests that need a CUDA GPU: bf16 + compile training, CPU/GPU parity, flash attention.

Skipped as a whole on machines without CUDA. Run them on a GPU machine with
``python -m pytest tests/test_gpu.py -m gpu``.
"""

from __future__ import annotations

import json

import pytest
import torch

from lmkit.decoding.generation import generate
from lmkit.gpt.config import GPTConfig
from lmkit.gpt.model import GPT

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason="needs a CUDA GPU (bf16 autocast, torch.compile on CUDA, flash attention)",
    ),
]

# head_dim 64 (256 / 4), as GPT-2: the shape flash attention is built for.
SMALL = {"vocab_size": 256, "block_size": 128, "n_layer": 2, "n_head": 4, "n_embd": 256}


def _bf16_supported() -> bool:
    return torch.cuda.is_bf16_supported()


@pytest.fixture
def cuda() -> torch.device:
    return torch.device("cuda")


def test_bf16_compiled_training_step_lowers_the_loss(cuda):
    if not _bf16_supported():
        pytest.skip("this GPU has no bf16")
    torch.manual_seed(0)
    model = GPT(GPTConfig(**SMALL)).to(cuda).train()
    compiled = torch.compile(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, fused=True)
    generator = torch.Generator(device=cuda).manual_seed(0)
    # One fixed batch: a model that can learn must memorise it quickly.
    data = torch.randint(0, SMALL["vocab_size"], (8, SMALL["block_size"] + 1), device=cuda,
                         generator=generator)  # fmt: skip
    x, y = data[:, :-1].contiguous(), data[:, 1:].contiguous()
    losses = []
    for _ in range(30):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = compiled(x, y).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[0] == pytest.approx(torch.log(torch.tensor(256.0)).item(), abs=0.5)
    assert losses[-1] < 0.7 * losses[0]


def test_greedy_generation_same_on_cpu_and_cuda(cuda):
    torch.manual_seed(0)
    cpu_model = GPT(GPTConfig(**SMALL)).eval()
    gpu_model = GPT(GPTConfig(**SMALL)).to(cuda).eval()
    gpu_model.load_state_dict(cpu_model.state_dict())
    prompt = torch.randint(
        0, SMALL["vocab_size"], (2, 8), generator=torch.Generator().manual_seed(1)
    )
    # fp32 on both devices; TF32 off, so the matmuls are true fp32 on the GPU too.
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        on_cpu = generate(cpu_model, prompt, max_new_tokens=20)
        on_gpu = generate(gpu_model, prompt.to(cuda), max_new_tokens=20)
        on_gpu_no_cache = generate(gpu_model, prompt.to(cuda), max_new_tokens=20, use_cache=False)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous
    assert torch.equal(on_cpu, on_gpu.cpu())
    assert torch.equal(on_gpu, on_gpu_no_cache)


def test_bf16_logits_match_cpu_fp32_within_bf16_tolerance(cuda):
    if not _bf16_supported():
        pytest.skip("this GPU has no bf16")
    torch.manual_seed(0)
    cpu_model = GPT(GPTConfig(**SMALL)).eval()
    gpu_model = GPT(GPTConfig(**SMALL)).to(cuda).eval()
    gpu_model.load_state_dict(cpu_model.state_dict())
    idx = torch.randint(0, SMALL["vocab_size"], (2, 64), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        reference = cpu_model(idx).logits
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = gpu_model(idx.to(cuda)).logits
    assert logits.dtype == torch.bfloat16
    # bf16 keeps 8 bits of mantissa (relative step 2**-8 ≈ 0.004); a few layers of rounding
    # stay well inside a few steps of the logits' scale.
    scale = reference.abs().max().item()
    torch.testing.assert_close(logits.float().cpu(), reference, atol=0.05 * scale, rtol=0.05)


def test_flash_attention_backend_accepts_our_shapes(cuda):
    if not _bf16_supported():
        pytest.skip("this GPU has no bf16")
    from torch.nn.attention import SDPBackend, sdpa_kernel

    torch.manual_seed(0)
    model = GPT(GPTConfig(**SMALL)).to(cuda).train()
    idx = torch.randint(0, SMALL["vocab_size"], (4, SMALL["block_size"]), device=cuda)
    # Only the flash kernel is allowed: any shape or mask it cannot take raises here.
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION]), torch.autocast("cuda", dtype=torch.bfloat16):
        out = model(idx, idx)
        out.loss.backward()
        model.eval()
        with torch.no_grad():
            # Decoding with the KV cache: one new token against every stored position.
            cache = model.new_kv_cache(4, dtype=torch.bfloat16)
            model(idx[:, :16], kv_cache=cache)
            step = model(idx[:, 16:17], kv_cache=cache)
    assert torch.isfinite(out.loss)
    assert model.wte.weight.grad is not None
    assert step.logits.shape == (4, 1, SMALL["vocab_size"])
    # The flash-only context really restricts: a float mask is something flash cannot take.
    q = torch.randn(1, 4, 8, 64, device=cuda, dtype=torch.bfloat16)
    mask = torch.zeros(8, 8, device=cuda, dtype=torch.bfloat16)
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION]), pytest.raises(RuntimeError):
        torch.nn.functional.scaled_dot_product_attention(q, q, q, attn_mask=mask)


def test_matmul_peak_is_plausible(cuda):
    from bench.matmul_peak import measure_matmul_peak

    result = measure_matmul_peak(cuda, size=2048, rounds=3, calls_per_round=5, warmup=2)
    assert 0 < result["median_flops"] <= result["best_flops"]
    assert result["best_flops"] < 1e16  # no GPU today does 10 PFLOP/s dense bf16


def test_train_step_benchmark_on_cuda_reports_mfu(cuda, tmp_path):
    if not _bf16_supported():
        pytest.skip("this GPU has no bf16")
    from bench import train_step

    report = train_step.run(
        cuda,
        config={"vocab_size": 512, "block_size": 128, "n_layer": 2, "n_head": 4, "n_embd": 256},
        batch_size=4,
        rounds=2,
        calls_per_round=2,
        warmup=2,
    )
    assert [r["name"] for r in report.rows] == ["lmkit", "transformers-sdpa"]
    assert report.checks["losses agree within 0.02"] is True
    for row in report.rows:
        assert 0 < row["mfu"] < 1
    data = json.loads(report.write(tmp_path)[0].read_text())
    assert data["device"].startswith("cuda")
    assert data["environment"]["hardware"]["gpu"]["name"]


def test_generation_benchmark_on_cuda_keeps_parity(cuda):
    from bench import generation

    config = {"vocab_size": 256, "block_size": 64, "n_layer": 2, "n_head": 4, "n_embd": 256}
    report = generation.run(
        cuda, config=config, tiny_config=config, new_tokens=8, prompt_tokens=8, repeats=1,
        tiny_repeats=1,
    )  # fmt: skip
    assert report.checks["transformers (dynamic cache) tokens == lmkit (KV cache) tokens"] is True
    assert report.checks["lmkit (no cache) tokens == lmkit (KV cache) tokens"] is True
