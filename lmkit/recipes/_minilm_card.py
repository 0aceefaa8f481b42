"""minilm-sentiment's metrics.json record and its model card (``cards/minilm-sentiment.md``).

Introduced in chapter 11. Kept apart from the recipe so that the recipe reads as the steps of
training; everything the card says is a field of ``metrics.json``, so the card can be rendered
again from the saved file at any time.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import torch

from lmkit.errors import InputError
from lmkit.minilm.classifier import LABELS, MAX_LENGTH
from lmkit.recipes._cards import render_card, table_cell

__all__ = ["metrics_record", "model_card"]

SET_NAMES = {
    "reviews_en_test": "hand-written English test reviews (all)",
    "reviews_en_heldout": "… of which by an independent writer",
    "storyworld_test": "StoryWorld English sentences, held out",
    "reviews_zh_test": "Chinese test reviews (MiniLM cannot read most of it)",
    "val": "validation reviews (chose the model and the temperature)",
}


def metrics_record(
    *, recipe: dict[str, Any], data: dict[str, int], shipped: Any, out: Path, seconds: dict,
    **measured: Any,
) -> dict[str, Any]:  # fmt: skip
    """The metrics dict the recipe writes: settings, data sizes, every measurement, the machine."""
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    return {
        "model": "minilm-sentiment",
        "kind": "classifier",
        "labels": list(LABELS),
        "languages": ["en"],
        "recipe": recipe,
        "encoder": config["encoder"],
        "data": data,
        "trained_parameters": sum(t.numel() for t in shipped.trained_state().values()),
        **measured,
        "training": {
            **{f"{name}_seconds": round(value, 1) for name, value in seconds.items()},
            "total_seconds": None,
            "device": "cpu",
            "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "platform": platform.platform(),
            "torch": torch.__version__,
        },
        "file_bytes": {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file()},
        "tolerance": {"accuracy_points": 3.0},
    }


def _candidate_name(layers: int) -> str:
    if layers == 0:
        return "head on the frozen encoder"
    if layers == 6:
        return "all 6 layers fine-tuned (full; embeddings frozen)"
    return f"top {layers} layer(s) fine-tuned (partial)"


def _gain(ablation: dict[str, Any], mix: str, base: str) -> float:
    """How much the StoryWorld sentences changed accuracy on the independent writer's reviews."""
    key = "reviews_en_heldout"
    return ablation[mix][key] - ablation[base][key] if mix in ablation else float("nan")


def model_card(metrics: dict[str, Any]) -> str:
    """``MODEL_CARD.md`` for a metrics dict written by the recipe."""
    if not isinstance(metrics, dict) or "evaluation" not in metrics or "candidates" not in metrics:
        raise InputError("metrics must be the dict train_minilm_sentiment writes.")
    e, cands = metrics["evaluation"], metrics["candidates"]
    chosen = str(metrics["chosen"])
    evaluation_rows = "\n".join(
        f"| {SET_NAMES[name]} | {r['n']} | {r['accuracy']:.3f} | {r['macro_f1']:.3f} | "
        f"{r['ece']:.3f} | {metrics['frozen'].get(name, float('nan')):.3f} |"
        for name, r in e.items()
    )
    candidate_rows = "\n".join(
        f"| {_candidate_name(int(k))} | {c['lr_layers'] if c['lr_layers'] else '–'} | "
        f"{c['epoch']} | {c['val_accuracy']:.3f} | {c['val_loss']:.3f} |"
        + (" **shipped** |" if k == chosen else " |")
        for k, c in sorted(cands.items(), key=lambda kc: int(kc[0]))
    )
    ab, d = metrics["ablation"], metrics["data"]
    ablation_rows = "\n".join(
        f"| {label} | {ab[key]['val']:.3f} | {ab[key]['reviews_en_test']:.3f} | "
        f"{ab[key].get('reviews_en_heldout', float('nan')):.3f} |"
        for key, label in (
            ("original_with_storyworld", f"the old mix: {d['train_original']:,} plain reviews + {d['storyworld_ablation']:,} StoryWorld sentences"),
            ("original_reviews", f"the {d['train_original']:,} plain reviews alone"),
            ("all_with_storyworld", f"all {d['train']:,} training reviews + {d['storyworld_ablation']:,} StoryWorld sentences"),
            ("all_reviews", f"all {d['train']:,} training reviews (what ships)"),
        )
        if key in ab
    )  # fmt: skip
    samples = "\n".join(
        f"| {table_cell(text)} | {max(p, key=p.get)} | {p['positive']:.3f} |"
        for text, p in metrics["samples"].items()
    )
    mistakes = "\n".join(
        f"| {table_cell(m['text'])} | {m['label']} | {m['confidence']:.2f} |"
        for m in metrics["mistakes"]["reviews_en_test"][:6]
    )
    calibration = metrics["calibration"]["reviews_en_test"]
    return render_card(
        "minilm-sentiment",
        {
            **metrics,
            "chosen_name": _candidate_name(int(chosen)),
            "chosen_epoch": cands[chosen]["epoch"],
            "overall_name": _candidate_name(int(metrics["best_overall"])),
            "encoder_sha256_start": metrics["encoder"]["sha256"][:16],
            "size_mb": sum(metrics["file_bytes"].get(n, 0) for n in ("head.safetensors", "config.json")) / 1e6,
            "evaluation_rows": evaluation_rows,
            "candidate_rows": candidate_rows,
            "ablation_rows": ablation_rows,
            "sample_rows": samples,
            "mistake_rows": mistakes,
            "ece_test_before": calibration["ece_before"],
            "ece_test_after": calibration["ece_after"],
            "storyworld_gain_original": _gain(ab, "original_with_storyworld", "original_reviews"),
            "storyworld_gain_all": _gain(ab, "all_with_storyworld", "all_reviews"),
            "max_length": MAX_LENGTH,
            "test_error": 1 - e["reviews_en_test"]["accuracy"],
        },
    )  # fmt: skip
