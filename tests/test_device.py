from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from lmkit.device import autocast, autocast_dtype, describe_device, pick_device, seed_everything
from lmkit.errors import ConfigError, LmkitError


def test_auto_picks_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.delenv("LMKIT_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("lmkit.device.mps_available", lambda: False)
    assert pick_device().type == "cpu"
    monkeypatch.setattr("lmkit.device.mps_available", lambda: True)
    assert pick_device().type == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device().type == "cuda"


def test_environment_variable_overrides_auto(monkeypatch):
    monkeypatch.setenv("LMKIT_DEVICE", "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("cpu")


def test_explicit_cpu_and_device_objects():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("bad", ["gpu", "tpu", "", "cuda:x"])
def test_unknown_device_names_raise_config_error(bad):
    with pytest.raises(ConfigError):
        pick_device(bad)


def test_unavailable_accelerators_raise_with_advice(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("lmkit.device.mps_available", lambda: False)
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        pick_device("cuda")
    with pytest.raises(ConfigError, match="no Apple GPU"):
        pick_device("mps")


def test_autocast_dtype_per_device(monkeypatch):
    assert autocast_dtype("cpu") is None
    assert autocast_dtype("mps") == torch.float16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert autocast_dtype("cuda") == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert autocast_dtype("cuda") == torch.float16


def test_cpu_autocast_is_a_no_op():
    a = torch.randn(4, 4)
    with autocast("cpu"):
        assert (a @ a).dtype == torch.float32


def test_seed_everything_makes_all_generators_repeat():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    gen = seed_everything(123)
    first, g1 = draw(), torch.rand(3, generator=gen)
    gen = seed_everything(123)
    second, g2 = draw(), torch.rand(3, generator=gen)
    assert first == second
    assert torch.equal(g1, g2)
    seed_everything(124)
    assert draw() != first


@pytest.mark.parametrize("bad", [-1, 1.5, "7", True, 2**63])
def test_seed_must_be_a_non_negative_int(bad):
    with pytest.raises(ConfigError, match="seed"):
        seed_everything(bad)


def test_describe_device_mentions_precision():
    text = describe_device("cpu")
    assert text.startswith("CPU") and "fp32" in text


def test_error_family_keeps_builtin_bases():
    assert issubclass(ConfigError, ValueError) and issubclass(ConfigError, LmkitError)
