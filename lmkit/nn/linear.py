"""``nn.Linear`` that decodes faster on a CPU: one row times a matrix read in its fast order.

Introduced in chapter 10. Generating one token at batch size 1 multiplies a single row vector by
every weight matrix of the model. That is a matrix-vector product: it does two FLOPs per weight
read, so its speed is the speed at which memory delivers the weights. PyTorch stores a Linear
weight as (out, in) and computes ``x @ W.T``; for a single row, the CPU BLAS reads that layout at
about half the bandwidth it reaches on a contiguous (in, out) copy (GPT-2 small on the project's
2-core machine: 13.7 vs 25.8 GB/s for the 50257 x 768 output layer, 13.1 vs 19.5 GB/s for the
768 -> 3072 MLP layer). Layers that shrink their input (3072 -> 768) are the exception: they read
faster as stored (16.6 vs 14.0 GB/s), so they keep the ordinary path.

:class:`Linear` therefore keeps a transposed, contiguous copy of its weight for inference on a
CPU and multiplies single rows by it. The copy is rebuilt whenever the weight changes (an
optimizer step, ``load_state_dict``, ``.to()``: PyTorch bumps the tensor's version counter or
moves its storage), is never part of the state dict, and costs as much memory as the weight.
Training, GPUs, ``torch.compile`` and batches of several rows use ``nn.Linear`` unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Linear"]


class Linear(nn.Linear):
    """``nn.Linear`` with a faster single-row path for CPU inference (same parameters, same
    state dict, same results up to floating-point summation order)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (
            x.device.type != "cpu"
            or torch.is_grad_enabled()
            or torch.compiler.is_compiling()
            or x.numel() != x.shape[-1]  # more than one row: a real GEMM, no gain
            or self.out_features < self.in_features  # a wide input reads fastest as stored
            or self.weight.is_inference()  # has no version counter to watch
        ):
            return F.linear(x, self.weight, self.bias)
        flat = x.reshape(1, -1)
        transposed = self._transposed_weight()
        out = flat @ transposed if self.bias is None else torch.addmm(self.bias, flat, transposed)
        return out.reshape(*x.shape[:-1], self.out_features)

    def _transposed_weight(self) -> torch.Tensor:
        weight = self.weight
        key = (weight.data_ptr(), weight._version, weight.dtype, tuple(weight.shape))
        cached = self.__dict__.get("_transposed")
        if cached is None or cached[0] != key:
            # A plain attribute, not a buffer: it must never reach a state dict or a checkpoint.
            cached = (key, weight.detach().t().contiguous())
            self.__dict__["_transposed"] = cached
        return cached[1]
