"""Smoke run of bench/app_load.py: a real server, two sessions, a few tokens; no timings checked."""

from __future__ import annotations

import json

import pytest

from bench import app_load


@pytest.mark.slow  # starts a real Streamlit server and loads MiniLM: about 25 s on 2 cores
def test_app_load_runs_end_to_end_and_counts_every_request(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    app_load.main(
        ["--sessions", "2", "--rounds", "1", "--tokens", "5", "--threads", "1",
         "--out", str(tmp_path)]
    )  # fmt: skip
    data = json.loads((tmp_path / "app-load-cpu.json").read_text(encoding="utf-8"))
    rows = {row["name"].split(",")[0].split(" (")[0]: row for row in data["rows"]
            if "first click" not in row["name"]}  # fmt: skip
    assert rows["open the Generate page"]["n"] == 2
    assert rows["generate 5 tokens"]["n"] == 2 and rows["generate 5 tokens"]["errors"] == 0
    assert rows["classify one sentence"]["n"] == 2 and rows["classify one sentence"]["errors"] == 0
    assert rows["Classify page"]["n"] == 2 and rows["Classify page"]["errors"] == 0
    assert rows["Attention page trace"]["n"] == 2 and rows["Attention page trace"]["errors"] == 0
    for what in ("generate page", "classify page", "attention page"):
        assert data["checks"][f"{what} errors, 2 sessions"] == 0
    assert data["checks"]["classification errors, 2 sessions"] == 0
    assert (
        rows["generate 5 tokens"]["p50"]
        <= rows["generate 5 tokens"]["p95"]
        <= rows["generate 5 tokens"]["max"]
    )
    assert data["environment"]["hardware"]["cpu_cores"] >= 1
    assert (tmp_path / "app-load-cpu.md").read_text(encoding="utf-8").startswith("# app-load")


def test_percentiles_of_known_samples():
    stats = app_load.percentiles([0.001 * i for i in range(1, 101)])
    assert abs(stats["p50"] - 50.5) < 1e-9 and abs(stats["p95"] - 95.05) < 1e-9
    assert stats["max"] == 100.0 and stats["n"] == 100
    assert app_load.percentiles([])["n"] == 0
