"""Train a tiny GPT for a few steps and write the losses and weights (used by test_ddp.py).

Run under torchrun for data-parallel training, or import ``run`` for the single-process
reference. Only rank 0 writes: ``history.json``, ``model.safetensors`` and a checkpoint.

    python -m torch.distributed.run --standalone --nproc_per_node=2 tests/ddp_worker.py OUT_DIR
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import safetensors.torch
import torch

from lmkit.gpt.config import GPTConfig
from lmkit.gpt.model import GPT
from lmkit.training.batching import LMBatches
from lmkit.training.config import TrainConfig
from lmkit.training.trainer import Trainer

VOCAB, BLOCK, BATCH = 30, 16, 4


def run(out_dir: str | os.PathLike, steps: int = 4, grad_accum_steps: int = 2) -> Trainer:
    """Train the same tiny model on the same data, whatever the number of processes."""
    out_dir = Path(out_dir)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=VOCAB, block_size=BLOCK, n_layer=2, n_head=2, n_embd=32))
    stream = torch.randint(0, VOCAB, (800,), generator=torch.Generator().manual_seed(1))
    train = LMBatches(stream[:600], BLOCK, BATCH, seed=2)
    val = LMBatches(stream[600:], BLOCK, BATCH, seed=3)
    config = TrainConfig(
        max_steps=steps,
        grad_accum_steps=grad_accum_steps,
        lr=3e-3,
        warmup_steps=1,
        eval_interval=2,
        eval_steps=2,
        device="cpu",
        progress_bar=False,
    )
    trainer = Trainer(model, config, train, val)
    trainer.fit()
    trainer.save_checkpoint(out_dir / "checkpoint")  # every rank takes part, rank 0 writes
    if trainer.is_main_process:
        keys = ("step", "lr", "loss", "grad_norm", "val_loss")
        history = [{k: r[k] for k in keys if k in r} for r in trainer.history]
        result = {"world_size": trainer.world_size, "history": history}
        (out_dir / "history.json").write_text(json.dumps(result))
        safetensors.torch.save_model(trainer.model, str(out_dir / "model.safetensors"))
    return trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out_dir")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--grad-accum-steps", type=int, default=2)
    args = parser.parse_args()
    trainer = run(args.out_dir, args.steps, args.grad_accum_steps)
    trainer.close()


if __name__ == "__main__":
    main()
