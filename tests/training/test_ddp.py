"""Two CPU processes under torchrun (gloo) train exactly like one process with the same batch."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import safetensors.torch
import torch

from lmkit.training.checkpoint import read_checkpoint

WORKER = Path(__file__).with_name("ddp_worker.py")
pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available(), reason="torch.distributed is not built in"
)


def load_worker():
    spec = importlib.util.spec_from_file_location("ddp_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_two_processes_match_one_process(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", LMKIT_DEVICE="cpu")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(WORKER),
        str(tmp_path / "ddp"),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    load_worker().run(tmp_path / "single")  # the reference, in this process
    ddp = json.loads((tmp_path / "ddp" / "history.json").read_text())
    single = json.loads((tmp_path / "single" / "history.json").read_text())
    assert ddp["world_size"] == 2 and single["world_size"] == 1
    assert [r["step"] for r in ddp["history"]] == [r["step"] for r in single["history"]]
    for a, b in zip(ddp["history"], single["history"], strict=True):
        assert a.keys() == b.keys()
        for key in ("loss", "val_loss", "grad_norm"):
            if key in a:
                assert abs(a[key] - b[key]) < 1e-5, (key, a, b)

    weights_ddp = safetensors.torch.load_file(str(tmp_path / "ddp" / "model.safetensors"))
    weights_single = safetensors.torch.load_file(str(tmp_path / "single" / "model.safetensors"))
    assert weights_ddp.keys() == weights_single.keys()
    for name, value in weights_single.items():
        torch.testing.assert_close(weights_ddp[name], value, rtol=1e-4, atol=1e-5)

    # rank 0 saved the generator states of both processes
    rng = read_checkpoint(tmp_path / "ddp" / "checkpoint").rng_tensors
    assert {"rank0.torch_cpu", "rank1.torch_cpu"} <= rng.keys()
    assert not torch.equal(rng["rank0.torch_cpu"], rng["rank1.torch_cpu"])
