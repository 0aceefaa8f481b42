"""``nn.Linear`` that decodes faster on a CPU: one row times a matrix kept in a faster form.

Introduced in chapter 10. Generating one token at batch size 1 multiplies a single row vector by
every weight matrix of the model. That is a matrix-vector product: it does two FLOPs per weight
read, so its speed is the speed at which memory delivers the weights. PyTorch stores a Linear
weight as (out, in) and computes ``x @ W.T`` through the BLAS (MKL), whose matrix-vector kernel
runs on one core. On the project's 2-core machine, streaming GPT-2 small's layers from memory it
read 12–17 GB/s as stored and 14–25 GB/s from a contiguous (in, out) copy, while oneDNN's
inner-product kernel, which splits the rows over both cores, read 16–30 GB/s, the most for every
layer shape (``bench.generation`` measures the whole decoding step against the bandwidth bound).

:class:`Linear` therefore keeps a second copy of its weight for inference on a CPU and multiplies
single rows by it: oneDNN's own ("mkldnn") layout for large float32 matrices when PyTorch has
oneDNN (a oneDNN call has a fixed cost that small matrices do not repay), otherwise the
transposed copy, used only for layers that widen their input (those that shrink it read faster
as stored). The copy is rebuilt whenever the weight or the bias changes (an optimizer
step, ``load_state_dict``, ``.to()``: PyTorch bumps the tensor's version counter or moves its
storage), is never part of the state dict, and costs as much memory as the weight. Results
equal ``F.linear``'s up to floating-point summation order. Training, GPUs, ``torch.compile``
and batches of several rows use ``nn.Linear`` unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Linear"]

_ONEDNN = torch.backends.mkldnn.is_available()
# A oneDNN call costs about 45 µs more than the BLAS one (conversions, primitive set-up), so it
# pays only for matrices that take longer than that to stream: GPT-2 small's 768 x 2304 and up
# gain (14-21%), tiny-gpt's 128-wide layers would decode at half speed.
ONEDNN_MIN_WEIGHTS = 1_500_000


def _version(tensor: torch.Tensor | None) -> tuple:
    if tensor is None:
        return ()
    return (tensor.data_ptr(), tensor._version, tensor.dtype, tuple(tensor.shape))


class Linear(nn.Linear):
    """``nn.Linear`` with a faster single-row path for CPU inference (same parameters, same
    state dict, same results up to floating-point summation order)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (
            x.device.type != "cpu"
            or torch.is_grad_enabled()
            or torch.compiler.is_compiling()
            or x.numel() != x.shape[-1]  # more than one row: a real GEMM, no gain
            or x.dtype != self.weight.dtype
            or self.weight.is_inference()  # has no version counter to watch
        ):
            return F.linear(x, self.weight, self.bias)
        flat = x.reshape(1, -1).contiguous()
        if (
            _ONEDNN
            and self.weight.dtype == torch.float32
            and self.weight.numel() >= ONEDNN_MIN_WEIGHTS
        ):
            weight, bias = self._inference_copy("onednn")
            out = torch._C._nn.mkldnn_linear(flat.to_mkldnn(), weight, bias).to_dense()
        elif self.out_features >= self.in_features:
            (transposed,) = self._inference_copy("transposed")
            out = (
                flat @ transposed if self.bias is None else torch.addmm(self.bias, flat, transposed)
            )
        else:  # a wide input reads fastest as stored
            return F.linear(x, self.weight, self.bias)
        return out.reshape(*x.shape[:-1], self.out_features)

    def __getstate__(self) -> dict:
        # copy.deepcopy and pickle go through here: the copy is rebuilt on demand, and a oneDNN
        # tensor cannot be copied at all (it has no ordinary storage).
        state = self.__dict__.copy()
        state.pop("_inference_weights", None)
        return state

    def _inference_copy(self, kind: str) -> tuple[torch.Tensor | None, ...]:
        weight, bias = self.weight.detach(), None if self.bias is None else self.bias.detach()
        key = (kind, _version(self.weight), _version(self.bias))
        cached = self.__dict__.get("_inference_weights")
        if cached is None or cached[0] != key:
            if kind == "onednn":
                tensors = (weight.to_mkldnn(), None if bias is None else bias.to_mkldnn())
            else:
                tensors = (weight.t().contiguous(),)
            # A plain attribute, not a buffer: it must never reach a state dict or a checkpoint.
            cached = (key, tensors)
            self.__dict__["_inference_weights"] = cached
        return cached[1]
