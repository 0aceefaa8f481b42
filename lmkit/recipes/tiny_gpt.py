"""Recipe: train ``tiny-gpt``, the bilingual story-world GPT shipped in ``lmkit/weights/tiny-gpt``.

Introduced in chapter 9. Run it with::

    python -m lmkit.recipes.tiny_gpt --out runs/tiny-gpt                 # the CPU, see below
    python -m lmkit.recipes.tiny_gpt --out runs/tiny-gpt --device cuda   # a GPU: minutes

On a CPU the 2000 training steps took 21 minutes on one thread of a busy 2-core machine (the
shipped model, see its ``metrics.json``); two idle cores need about 10-15 minutes. On a
machine shared with other jobs, ``--threads 1`` is faster than fighting over both cores.

What it does, all seeded so that a second run gives the same model:

1. **Data.** ``train_stories`` stories from ``StoryWorld(seed)``, each in English or Chinese (a
   coin flip per story), and ``val_stories`` held-out stories from ``StoryWorld(val_seed)``.
   Every story is preceded by ``<|endoftext|>``, so the model learns where stories begin and end.
2. **Tokenizer.** Our own byte-level BPE (:class:`~lmkit.tokenizers.ByteBPETokenizer`), trained
   on the first ``bpe_stories`` training stories of both languages, ``<|endoftext|>`` special.
3. **Model.** A small :class:`~lmkit.gpt.model.GPT` trained by :class:`~lmkit.training.trainer.Trainer`
   (AdamW, warmup + cosine) on random windows of the token stream.
4. **Measurements** (:func:`grammar_report`): how often its sampled sentences are ones the story
   grammar can produce, per language; the validation loss; two sample continuations.
5. **Files**: ``model.safetensors`` + ``config.json`` (:func:`lmkit.training.checkpoint.save_model`),
   ``tokenizer.json``, ``metrics.json`` and ``MODEL_CARD.md``; :func:`lmkit.hub.load` reads them.

Reproduction tolerance: the same seeds on the same hardware and library versions give the same
weights up to floating-point non-determinism. On other hardware (another CPU, a GPU with bf16,
another torch version) the numbers move a little; expect each grammar pass rate within ±3
points and the validation loss within ±0.05 of ``metrics.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmkit.data.story_grammar import is_grammatical, split_sentences
from lmkit.data.story_world import StoryWorld
from lmkit.decoding.generation import generate
from lmkit.device import describe_device, pick_device, seed_everything
from lmkit.errors import ConfigError, InputError, TokenizerError
from lmkit.gpt.model import GPT, GPTConfig
from lmkit.tokenizers import ByteBPETokenizer, Tokenizer
from lmkit.training.batching import LMBatches
from lmkit.training.checkpoint import save_model
from lmkit.training.trainer import TrainConfig, Trainer

EOT = "<|endoftext|>"
LANGS = ("en", "zh")
SAMPLE_PROMPTS = ("我喜欢吃苹果。", "Alice went to the park.")

GRAMMAR_PROTOCOL = (
    "For each language, prompts are the first sentences of stories from StoryWorld(eval_seed), "
    "each fed as [<|endoftext|>] + its tokens. The model samples a continuation at the given "
    "temperature (no top-k/top-p, generation seed eval_seed + sample index) until it emits "
    "<|endoftext|> or the context (block_size tokens) is full. The continuation (prompt "
    "excluded) is cut with story_grammar.split_sentences; if it did not end with "
    "<|endoftext|>, its last piece may be cut off mid-sentence and is dropped. Prompts are "
    "drawn until n_sentences sentences are collected; the first n_sentences are graded with "
    "story_grammar.is_grammatical, and pass_rate = grammatical / n_sentences. A sentence in the "
    "wrong language or a run-on without a full stop counts as a failure; if 4 * n_sentences + "
    "20 prompts yield fewer sentences (a model that ends every story at once), the missing "
    "ones count as failures too."
)


# ------------------------------------------------------------------------------ settings
def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


@dataclass(frozen=True)
class TinyGPTRecipe:
    """Every setting of the tiny-gpt recipe; the defaults made the shipped model.

    :meth:`smoke` gives a minute-sized version for testing the mechanics. Introduced in chapter 9.
    """

    seed: int = 0  # training stories, language coin flips, BPE text, weight init, batches
    val_seed: int = 1  # held-out stories for the validation loss
    eval_seed: int = 2  # prompts and sampling of the grammar evaluation
    train_stories: int = 200_000
    val_stories: int = 2_000
    bpe_stories: int = 6_000
    vocab_size: int = 2048
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 128
    batch_size: int = 32
    steps: int = 2000
    lr: float = 3e-3
    min_lr: float = 3e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    eval_interval: int = 250
    eval_steps: int = 20
    grammar_sentences: int = 240
    temperature: float = 0.8

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", int):
                if f.name.endswith("seed"):
                    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
                    if not ok:
                        raise ConfigError(f"{f.name} must be an integer >= 0, got {value!r}.")
                elif not _positive_int(value):
                    raise ConfigError(f"{f.name} must be an integer >= 1, got {value!r}.")
            elif not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ConfigError(f"{f.name} must be a number, got {value!r}.")
            elif not math.isfinite(value) or value < 0:
                raise ConfigError(f"{f.name} must be a finite number >= 0, got {value!r}.")
        if self.lr <= 0 or self.min_lr > self.lr:
            raise ConfigError(
                f"Need 0 < min_lr <= lr, got lr={self.lr}, min_lr={self.min_lr}. "
                "min_lr is where the cosine schedule ends; keep it below lr."
            )
        if self.temperature <= 0:
            raise ConfigError(f"temperature must be > 0, got {self.temperature}.")
        if self.bpe_stories > self.train_stories:
            raise ConfigError(
                f"bpe_stories ({self.bpe_stories}) must not exceed train_stories "
                f"({self.train_stories}): the BPE is trained on the first training stories."
            )
        if self.vocab_size < 257:
            raise ConfigError(
                f"vocab_size must be at least 257 (256 bytes + <|endoftext|>), got {self.vocab_size}."
            )
        if self.n_embd % self.n_head:
            raise ConfigError(
                f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})."
            )

    @classmethod
    def smoke(cls, **overrides: Any) -> TinyGPTRecipe:
        """A tiny version (seconds on a CPU) that runs every step of the recipe, for tests."""
        settings = {
            "train_stories": 300, "val_stories": 40, "bpe_stories": 100, "vocab_size": 300,
            "n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 96, "batch_size": 4,
            "steps": 4, "warmup_steps": 1, "eval_interval": 2, "eval_steps": 2,
            "grammar_sentences": 4,
        }  # fmt: skip
        return cls(**{**settings, **overrides})

    def to_dict(self) -> dict[str, Any]:
        """All settings as a JSON-ready dict."""
        return dataclasses.asdict(self)


# ------------------------------------------------------------------------------ data
def story_texts(seed: int, n_stories: int) -> list[tuple[str, str]]:
    """``n_stories`` stories as ``(lang, text)``, the language drawn by a seeded coin flip.

    Each story comes from its own frame, so the corpus holds no translation pairs: nothing
    tempts the model to spend its capacity on copying names from one language to the other.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {seed!r}.")
    if not _positive_int(n_stories):
        raise ConfigError(f"n_stories must be an integer >= 1, got {n_stories!r}.")
    world, coin = StoryWorld(seed), random.Random(seed + 1_000_003)
    out = []
    for _ in range(n_stories):
        lang = "en" if coin.random() < 0.5 else "zh"
        out.append((lang, world.story(lang).text))
    return out


def eot_id(tokenizer: Tokenizer) -> int:
    """The id of ``<|endoftext|>``; a clear error for a tokenizer without it."""
    if EOT not in getattr(tokenizer, "special_tokens", {}):
        raise TokenizerError(
            f"This tokenizer has no {EOT!r} special token, which separates stories. Use the "
            "tokenizer saved with the model (tokenizer.json)."
        )
    return tokenizer.special_tokens[EOT]


def encode_stories(tokenizer: Tokenizer, stories: Sequence[tuple[str, str]]) -> np.ndarray:
    """One token stream: ``<|endoftext|>`` before every story. Returns a 1-D int32 array."""
    eot = eot_id(tokenizer)
    ids: list[int] = []
    for _, text in stories:
        ids.append(eot)
        ids.extend(tokenizer.encode(text))
    return np.asarray(ids, dtype=np.int32)


# ------------------------------------------------------------------------------ measuring
@dataclass(frozen=True)
class GrammarReport:
    """The graded sentences of :func:`grammar_report` and how many passed."""

    lang: str
    sentences: tuple[str, ...]
    grammatical: tuple[bool, ...]
    samples: int  # continuations drawn to collect the sentences
    temperature: float
    seed: int
    requested: int = 0  # sentences asked for; missing ones count as failures

    @property
    def pass_rate(self) -> float:
        """Grammatical sentences / sentences requested (0.0 if nothing was requested or found)."""
        n = max(self.requested, len(self.grammatical))
        return sum(self.grammatical) / n if n else 0.0

    def failures(self) -> list[str]:
        """The sentences that did not pass, for reading what goes wrong."""
        return [s for s, ok in zip(self.sentences, self.grammatical, strict=True) if not ok]

    def to_dict(self) -> dict[str, Any]:
        """Counts and rate as JSON-ready data (the sentences themselves are left out)."""
        return {
            "pass_rate": self.pass_rate,
            "requested": max(self.requested, len(self.sentences)),
            "sentences": len(self.sentences),
            "grammatical": sum(self.grammatical),
            "samples": self.samples,
            "temperature": self.temperature,
            "seed": self.seed,
        }


def _check_lm(model: Any, tokenizer: Any) -> None:
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "config"):
        raise InputError(f"model must be an lmkit GPT, got {type(model).__name__}.")
    if not isinstance(tokenizer, Tokenizer):
        raise InputError(f"tokenizer must be an lmkit Tokenizer, got {type(tokenizer).__name__}.")


def _check_lang(lang: object) -> str:
    if lang not in LANGS:
        raise ConfigError(f"lang must be 'en' or 'zh', got {lang!r}.")
    return lang  # type: ignore[return-value]


def continue_story(
    model: GPT,
    tokenizer: Tokenizer,
    prompt: str,
    lang: str,
    *,
    max_new_tokens: int | None = None,
    seed: int | None = None,
    **overrides: Any,
) -> tuple[str, list[str]]:
    """Continue ``prompt`` as the start of a story; return ``(text, complete_sentences)``.

    The prompt is fed after ``<|endoftext|>`` (a story start, as in training); generation stops
    at the next ``<|endoftext|>`` or when the context is full. ``complete_sentences`` splits the
    continuation with :func:`~lmkit.data.story_grammar.split_sentences` and drops the last piece
    unless the story ended, since it may be cut off. ``overrides`` go to
    :func:`lmkit.decoding.generation.generate` (default: greedy). Introduced in chapter 9.
    """
    _check_lm(model, tokenizer)
    _check_lang(lang)
    if not isinstance(prompt, str):
        raise InputError(f"prompt must be a str, got {type(prompt).__name__}.")
    eot = eot_id(tokenizer)
    ids = [eot, *tokenizer.encode(prompt)]
    room = model.config.block_size - len(ids)
    if room < 1:
        raise InputError(
            f"The prompt has {len(ids) - 1} tokens, leaving no room in the model's context of "
            f"{model.config.block_size}. Use a shorter prompt."
        )
    budget = room if max_new_tokens is None else max_new_tokens
    if not _positive_int(budget) or budget > room:
        raise ConfigError(f"max_new_tokens must be an integer in 1..{room}, got {budget!r}.")
    out = generate(model, ids, max_new_tokens=budget, eos_id=eot, seed=seed, **overrides)
    new = out[0, len(ids) :].tolist()
    ended = eot in new
    text = tokenizer.decode(new[: new.index(eot)] if ended else new)
    sentences = split_sentences(text, lang)
    if not ended and sentences:
        sentences = sentences[:-1]  # maybe cut off mid-sentence by the token budget
    return text, sentences


def grammar_report(
    model: GPT,
    tokenizer: Tokenizer,
    lang: str,
    n_sentences: int = 240,
    *,
    temperature: float = 0.8,
    seed: int = 2,
) -> GrammarReport:
    """Sample story continuations and grade ``n_sentences`` of their sentences with the grammar.

    The exact protocol is :data:`GRAMMAR_PROTOCOL`. Introduced in chapter 9.
    """
    _check_lm(model, tokenizer)
    _check_lang(lang)
    if not _positive_int(n_sentences):
        raise ConfigError(f"n_sentences must be an integer >= 1, got {n_sentences!r}.")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {seed!r}.")
    world = StoryWorld(seed)
    collected: list[str] = []
    samples, max_samples = 0, 4 * n_sentences + 20  # a model that only ends stories stops here
    while len(collected) < n_sentences and samples < max_samples:
        first = world.story(lang).sentences[0]
        _, sentences = continue_story(
            model, tokenizer, first, lang, strategy="sample", temperature=temperature,
            seed=seed + samples,
        )  # fmt: skip
        collected.extend(sentences)
        samples += 1
    graded = tuple(collected[:n_sentences])
    return GrammarReport(
        lang,
        graded,
        tuple(is_grammatical(s, lang) for s in graded),
        samples,
        float(temperature),
        seed,
        n_sentences,
    )


# ------------------------------------------------------------------------------ the run
@dataclass
class RecipeResult:
    """What :func:`train_tiny_gpt` made: the model, its tokenizer, the metrics and the folder."""

    model: GPT
    tokenizer: ByteBPETokenizer
    metrics: dict[str, Any]
    out_dir: Path
    reports: dict[str, GrammarReport] = field(default_factory=dict)


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):  # not on Windows
        return None


def train_tiny_gpt(
    recipe: TinyGPTRecipe | None = None,
    out_dir: str | os.PathLike = "runs/tiny-gpt",
    *,
    device: str = "auto",
    progress: bool = True,
    log: Callable[[str], None] | None = print,
) -> RecipeResult:
    """Run the whole recipe (data, BPE, training, measurements) and write the model folder.

    Introduced in chapter 9.
    """
    recipe = TinyGPTRecipe() if recipe is None else recipe
    if not isinstance(recipe, TinyGPTRecipe):
        raise ConfigError(f"recipe must be a TinyGPTRecipe, got {type(recipe).__name__}.")
    if not isinstance(out_dir, (str, os.PathLike)) or not str(out_dir).strip():
        raise ConfigError(f"out_dir must be a folder path, got {out_dir!r}.")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file; out_dir must be a folder (it is created if needed).")
    target = pick_device(device)
    say = log or (lambda _message: None)
    started, load_before = time.perf_counter(), _load_average()

    say(f"data: {recipe.train_stories} training + {recipe.val_stories} held-out stories")
    train_texts = story_texts(recipe.seed, recipe.train_stories)
    val_texts = story_texts(recipe.val_seed, recipe.val_stories)
    say(f"tokenizer: byte-level BPE, {recipe.vocab_size} tokens, on {recipe.bpe_stories} stories")
    bpe_text = EOT.join(text for _, text in train_texts[: recipe.bpe_stories])
    tokenizer = ByteBPETokenizer.train(
        bpe_text, recipe.vocab_size, special_tokens=[EOT], progress=progress
    )
    train_ids = encode_stories(tokenizer, train_texts)
    val_ids = encode_stories(tokenizer, val_texts)

    seed_everything(recipe.seed)  # the weight initialisation
    config = GPTConfig(
        vocab_size=tokenizer.vocab_size,
        block_size=recipe.block_size,
        n_layer=recipe.n_layer,
        n_head=recipe.n_head,
        n_embd=recipe.n_embd,
        dropout=0.0,  # every story is seen about once: nothing to regularise against
    )
    model = GPT(config)
    train_config = TrainConfig(
        max_steps=recipe.steps,
        lr=recipe.lr,
        min_lr=recipe.min_lr,
        warmup_steps=min(recipe.warmup_steps, recipe.steps),
        weight_decay=recipe.weight_decay,
        eval_interval=recipe.eval_interval,
        eval_steps=recipe.eval_steps,
        log_interval=recipe.eval_interval,
        device=str(target),
        seed=recipe.seed,
        progress_bar=progress,
    )
    trainer = Trainer(
        model,
        train_config,
        LMBatches(train_ids, recipe.block_size, recipe.batch_size, seed=recipe.seed),
        LMBatches(val_ids, recipe.block_size, recipe.batch_size, seed=recipe.val_seed),
    )
    say(f"training {model.num_parameters():,} parameters on {describe_device(target)}")
    fit_started = time.perf_counter()
    history = trainer.fit()
    train_seconds = time.perf_counter() - fit_started
    val_loss = next(r["val_loss"] for r in reversed(history) if "val_loss" in r)
    say(f"trained in {train_seconds:.0f} s; val loss {val_loss:.4f}")

    model = model.cpu().eval()  # measured and saved on the CPU, where everyone can repeat it
    reports = {
        lang: grammar_report(
            model, tokenizer, lang, recipe.grammar_sentences,
            temperature=recipe.temperature, seed=recipe.eval_seed,
        )
        for lang in LANGS
    }  # fmt: skip
    for lang, report in reports.items():
        say(f"grammar pass rate ({lang}): {report.pass_rate:.3f} of {len(report.sentences)}")
    samples = {}
    for prompt in SAMPLE_PROMPTS:
        lang = "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in prompt) else "en"
        greedy, _ = continue_story(model, tokenizer, prompt, lang, max_new_tokens=60)
        sampled, _ = continue_story(
            model, tokenizer, prompt, lang, max_new_tokens=60,
            strategy="sample", temperature=recipe.temperature, seed=recipe.eval_seed,
        )  # fmt: skip
        samples[prompt] = {"greedy": greedy, f"sample_t{recipe.temperature}": sampled}

    save_model(model, out)
    tokenizer.save(out / "tokenizer.json")
    en_tokens = sum(len(tokenizer.encode(t)) for lang, t in val_texts if lang == "en")
    zh_tokens = sum(len(tokenizer.encode(t)) for lang, t in val_texts if lang == "zh")
    n_en = sum(lang == "en" for lang, _ in val_texts)
    metrics = {
        "model": "tiny-gpt",
        "kind": "causal-lm",
        "recipe": recipe.to_dict(),
        "seeds": {
            "train": recipe.seed,
            "val": recipe.val_seed,
            "eval": recipe.eval_seed,
        },
        "data": {
            "description": (
                "Stories from lmkit.data.StoryWorld, each in English or Chinese by a seeded "
                "coin flip, each preceded by <|endoftext|>. Training: StoryWorld(seed); "
                "validation: StoryWorld(val_seed)."
            ),
            "train_stories": recipe.train_stories,
            "train_stories_en": sum(lang == "en" for lang, _ in train_texts),
            "val_stories": recipe.val_stories,
            "train_tokens": int(train_ids.size),
            "val_tokens": int(val_ids.size),
            "tokens_per_story": {
                "en": en_tokens / max(n_en, 1),
                "zh": zh_tokens / max(len(val_texts) - n_en, 1),
            },
            "bpe": {
                "vocab_size": tokenizer.vocab_size,
                "merges": len(tokenizer.merges),
                "trained_on_stories": recipe.bpe_stories,
                "special_tokens": list(tokenizer.special_tokens),
            },
        },
        "model_config": config.to_dict(),
        "parameters": model.num_parameters(),
        "weights_bytes": (out / "model.safetensors").stat().st_size,
        "training": {
            "steps": trainer.step,
            "tokens_seen": trainer.step * recipe.batch_size * recipe.block_size,
            "epochs": trainer.step * recipe.batch_size * recipe.block_size / train_ids.size,
            "train_seconds": round(train_seconds, 1),
            "total_seconds": None,  # filled in below, after the files are written
            "device": describe_device(target),
            "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": _load_average(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "final_train_loss": history[-1]["loss"],
            "history": [
                {k: r[k] for k in ("step", "loss", "val_loss", "lr") if k in r} for r in history
            ],
        },
        "val_loss": val_loss,
        "val_loss_definition": (
            f"mean next-token cross-entropy (nats per token) over {recipe.eval_steps} fixed "
            f"batches of {recipe.batch_size} random {recipe.block_size}-token windows of the "
            "held-out stories (LMBatches seed = val_seed)"
        ),
        "grammar": {
            "protocol": GRAMMAR_PROTOCOL,
            **{lang: report.to_dict() for lang, report in reports.items()},
        },
        "samples": samples,
        "tolerance": {
            "grammar_pass_rate_points": 3.0,
            "val_loss": 0.05,
            "note": (
                "Expected spread when the recipe is re-run with the same seeds on other "
                "hardware or library versions."
            ),
        },
    }
    metrics["training"]["total_seconds"] = round(time.perf_counter() - started, 1)
    (out / "metrics.json").write_text(
        json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (out / "MODEL_CARD.md").write_text(model_card(metrics), encoding="utf-8")
    say(f"wrote {out}")
    return RecipeResult(model, tokenizer, metrics, out, reports)


def _cell(text: str) -> str:
    """Text that stays inside one cell of a Markdown table."""
    return " ".join(text.split()).replace("|", "\\|") or "(empty)"


def model_card(metrics: dict[str, Any]) -> str:
    """The ``MODEL_CARD.md`` text for a ``metrics.json`` dict written by :func:`train_tiny_gpt`."""
    if not isinstance(metrics, dict) or "grammar" not in metrics or "model_config" not in metrics:
        raise InputError("metrics must be the dict that train_tiny_gpt writes to metrics.json.")
    r, m, d, t, g = (metrics[k] for k in ("recipe", "model_config", "data", "training", "grammar"))
    seeds, tol, bpe = metrics["seeds"], metrics["tolerance"], d["bpe"]
    samples = [
        f"| {_cell(prompt)} | {how} | {_cell(text)} |"
        for prompt, outs in metrics["samples"].items()
        for how, text in outs.items()
    ]
    rates = [
        f"| grammar pass rate, {name} (T={g[lang]['temperature']}) | {g[lang]['pass_rate']:.3f} "
        f"({g[lang]['grammatical']}/{g[lang]['sentences']} sentences) |"
        for lang, name in (("en", "English"), ("zh", "Chinese"))
    ]
    parts = [
        "# tiny-gpt",
        f"A {m['n_layer']}-layer GPT ({metrics['parameters']:,} parameters, "
        f"{metrics['weights_bytes'] / 1e6:.1f} MB of fp32 safetensors) that writes short "
        "children's stories in English and Chinese. It was trained from scratch by "
        "`python -m lmkit.recipes.tiny_gpt` on the story world of `lmkit.data`, with lmkit's own "
        'byte-level BPE tokenizer. Load it with `lmkit.load("tiny-gpt")`. Introduced in chapter '
        "9 of the lmkit book.",
        "## Data",
        f"{d['description']} {d['train_stories']:,} training stories "
        f"({d['train_stories_en']:,} of them English), {d['train_tokens']:,} tokens; "
        f"{d['val_stories']:,} validation stories, {d['val_tokens']:,} tokens. A story is "
        f"{d['tokens_per_story']['en']:.0f} tokens long in English and "
        f"{d['tokens_per_story']['zh']:.0f} in Chinese, on average.",
        "## Model and tokenizer",
        f"- Tokenizer: byte-level BPE with {bpe['vocab_size']} tokens: 256 bytes, "
        f"{bpe['merges']} merges learned on the first {bpe['trained_on_stories']:,} training "
        "stories, and `<|endoftext|>`, which separates stories.\n"
        f"- GPT: {m['n_layer']} layers, {m['n_head']} heads, {m['n_embd']} dimensions, a context "
        f"of {m['block_size']} tokens, learned positions, tied input/output embeddings, no "
        "dropout.",
        "## Training",
        f"{t['steps']} steps of {r['batch_size']} × {r['block_size']} tokens "
        f"({t['tokens_seen']:,} tokens, {t['epochs']:.2f} epochs) with AdamW: learning rate "
        f"{r['lr']} → {r['min_lr']} (warmup {r['warmup_steps']} steps, then cosine), weight "
        f"decay {r['weight_decay']}, gradient clipping at 1.0. Seeds: training {seeds['train']}, "
        f"validation {seeds['val']}, evaluation {seeds['eval']}. Training took "
        f"{t['train_seconds']:.0f} s ({t['train_seconds'] / 60:.1f} min) on {t['device']}, "
        f"a machine with {t['cpu_count']} CPUs whose load average was "
        f"{t['load_average_before']} before and {t['load_average_after']} after (other jobs "
        f"shared it), with torch {t['torch']}.",
        "## Metrics",
        "| metric | value |\n|---|---|\n"
        f"| validation loss (nats/token) | {metrics['val_loss']:.4f} |\n" + "\n".join(rates),
        f"Validation loss: {metrics['val_loss_definition']}.",
        f"Grammar pass rate: {g['protocol']}",
        f"Re-running the recipe with the same seeds should land within "
        f"±{tol['grammar_pass_rate_points']:g} points of each pass rate and ±{tol['val_loss']:g} "
        "of the validation loss (the very same numbers on the same hardware and library "
        "versions, up to floating-point non-determinism).",
        "## Samples",
        "Each prompt is fed after `<|endoftext|>`, as the first sentence of a story.",
        "| prompt | decoding | continuation |\n|---|---|---|\n" + "\n".join(samples),
        "## Intended use",
        "Teaching and demos: watching a language model learn a small world, sampling and "
        "temperature, attention maps, KV caching, fine-tuning exercises. It runs anywhere, "
        "offline, in milliseconds.",
        "## Limitations",
        "- It only knows the story world: its names, places, foods, animals and about a hundred "
        "sentence patterns. Anything else (questions, facts, other topics, long texts) gets "
        "story-world sentences or nonsense back. It is not a chatbot and knows nothing true "
        "about the real world.\n"
        "- Grammatical is not coherent: a story may contradict itself or lose track of who is "
        "who.\n"
        "- Some sampled sentences are ungrammatical (see the pass rates); a lower temperature "
        "helps.\n"
        f"- Its context is {m['block_size']} tokens. Text outside the story world's vocabulary "
        "is split into many byte-level tokens it has rarely or never seen.",
    ]
    return "\n\n".join(parts) + "\n"


# ------------------------------------------------------------------------------ command line
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lmkit.recipes.tiny_gpt``: train and write the model folder."""
    parser = argparse.ArgumentParser(
        prog="python -m lmkit.recipes.tiny_gpt",
        description="Train tiny-gpt, the bilingual story-world GPT shipped with lmkit.",
    )
    parser.add_argument("--out", default="runs/tiny-gpt", help="output folder (created)")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--seed", type=int, default=None, help="training seed")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--smoke", action="store_true", help="a tiny, seconds-long run that tests the mechanics"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars or messages")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in (("steps", args.steps), ("seed", args.seed)) if v is not None}
    recipe = TinyGPTRecipe.smoke(**overrides) if args.smoke else TinyGPTRecipe(**overrides)
    if args.threads is not None:
        if args.threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {args.threads}.")
        torch.set_num_threads(args.threads)
    result = train_tiny_gpt(
        recipe, args.out, device=args.device, progress=not args.quiet,
        log=None if args.quiet else print,
    )  # fmt: skip
    if not args.quiet:
        grammar = result.metrics["grammar"]
        print(
            f"en {grammar['en']['pass_rate']:.3f}, zh {grammar['zh']['pass_rate']:.3f}, "
            f"val loss {result.metrics['val_loss']:.4f}"
        )
    return 0


__all__ = [
    "EOT",
    "GRAMMAR_PROTOCOL",
    "GrammarReport",
    "RecipeResult",
    "TinyGPTRecipe",
    "continue_story",
    "encode_stories",
    "eot_id",
    "grammar_report",
    "main",
    "model_card",
    "story_texts",
    "train_tiny_gpt",
]

if __name__ == "__main__":
    sys.exit(main())
