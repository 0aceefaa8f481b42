"""Recipe: train ``tiny-gpt``, the bilingual story-world GPT shipped in ``lmkit/weights/tiny-gpt``.

Introduced in chapter 8. Run it with::

    python -m lmkit.recipes.tiny_gpt --out runs/tiny-gpt                 # the CPU, see below
    python -m lmkit.recipes.tiny_gpt --out runs/tiny-gpt --device cuda   # a GPU: minutes

On a CPU the 2000 training steps took 21 minutes on one thread of a busy 2-core machine (the
shipped model, see its ``metrics.json``); two idle cores need about 10-15 minutes. On a
machine shared with other jobs, ``--threads 1`` is faster than fighting over both cores.

What it does, all seeded so that a second run gives the same model:

1. **Data.** ``train_stories`` stories from ``StoryWorld(seed)``, each in English or Chinese (a
   coin flip per story, :func:`lmkit.data.story_corpus.story_texts`), and ``val_stories``
   held-out stories from ``StoryWorld(val_seed)``. Every story is preceded by
   ``<|endoftext|>``, so the model learns where stories begin and end.
2. **Tokenizer.** Our own byte-level BPE (:class:`~lmkit.tokenizers.ByteBPETokenizer`), trained
   on the first ``bpe_stories`` training stories of both languages, ``<|endoftext|>`` special.
3. **Model.** A small :class:`~lmkit.gpt.model.GPT` trained by :class:`~lmkit.training.trainer.Trainer`
   (AdamW, warmup + cosine) on random windows of the token stream.
4. **Measurements** (:func:`lmkit.tasks.story_continuation.grammar_report`): how often its
   sampled sentences are ones the story grammar can produce, per language; the validation
   loss; two sample continuations.
5. **Files**: ``model.safetensors`` + ``config.json`` (:func:`lmkit.training.checkpoint.save_model`),
   ``tokenizer.json``, ``metrics.json`` and ``MODEL_CARD.md`` (rendered from
   ``cards/tiny-gpt.md``); :func:`lmkit.hub.load` reads them.

Reproduction tolerance: the same seeds on the same hardware and library versions give the same
weights up to floating-point non-determinism. On other hardware (another CPU, a GPU with bf16,
another torch version) the numbers move a little; expect each grammar pass rate within ±3
points and the validation loss within ±0.05 of ``metrics.json``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from lmkit.data.story_corpus import EOT, LANGS, encode_stories, story_texts
from lmkit.device import describe_device, pick_device, seed_everything
from lmkit.errors import ConfigError, InputError
from lmkit.gpt.config import GPTConfig
from lmkit.gpt.model import GPT
from lmkit.recipes import _skeleton
from lmkit.recipes._cards import machine_sentence, render_card, table_cell
from lmkit.tasks.story_continuation import (
    GRAMMAR_PROTOCOL,
    GrammarReport,
    continue_story,
    grammar_report,
)
from lmkit.tokenizers import ByteBPETokenizer
from lmkit.training.batching import LMBatches
from lmkit.training.config import TrainConfig
from lmkit.training.trainer import Trainer

SAMPLE_PROMPTS = ("我喜欢吃苹果。", "Alice went to the park.")


# ------------------------------------------------------------------------------ settings
@dataclass(frozen=True)
class TinyGPTRecipe(_skeleton.RecipeSettings):
    """Every setting of the tiny-gpt recipe; the defaults made the shipped model.

    :meth:`smoke` gives a minute-sized version for testing the mechanics. Introduced in chapter 8.
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

    SMOKE: ClassVar[dict[str, Any]] = {
        "train_stories": 300, "val_stories": 40, "bpe_stories": 100, "vocab_size": 300,
        "n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 96, "batch_size": 4,
        "steps": 4, "warmup_steps": 1, "eval_interval": 2, "eval_steps": 2,
        "grammar_sentences": 4,
    }  # fmt: skip

    def check(self) -> None:
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




# ------------------------------------------------------------------------------ the run
@dataclass
class RecipeResult:
    """What :func:`train_tiny_gpt` made: the model, its tokenizer, the metrics and the folder."""

    model: GPT
    tokenizer: ByteBPETokenizer
    metrics: dict[str, Any]
    out_dir: Path
    reports: dict[str, GrammarReport] = field(default_factory=dict)


def train_tiny_gpt(
    recipe: TinyGPTRecipe | None = None,
    out_dir: str | os.PathLike = "runs/tiny-gpt",
    *,
    device: str = "auto",
    progress: bool = True,
    log: Callable[[str], None] | None = print,
) -> RecipeResult:
    """Run the whole recipe (data, BPE, training, measurements) and write the model folder.

    Introduced in chapter 8.
    """
    recipe = TinyGPTRecipe() if recipe is None else recipe
    if not isinstance(recipe, TinyGPTRecipe):
        raise ConfigError(f"recipe must be a TinyGPTRecipe, got {type(recipe).__name__}.")
    out = _skeleton.check_out_dir(out_dir)
    target = pick_device(device)
    say = log or (lambda _message: None)
    started, load_before = time.perf_counter(), _skeleton.load_average()

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

    machine = _skeleton.machine(target)
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
        "weights_bytes": None,  # set when the weights are written
        "training": {
            "steps": trainer.step,
            "tokens_seen": trainer.step * recipe.batch_size * recipe.block_size,
            "epochs": trainer.step * recipe.batch_size * recipe.block_size / train_ids.size,
            "train_seconds": round(train_seconds, 1),
            "total_seconds": None,  # filled in once the files are written
            "device": machine["device"],
            "torch_threads": machine["torch_threads"],
            "cpu_count": machine["cpu_count"],
            "load_average_before": load_before,
            "load_average_after": _skeleton.load_average(),
            "platform": machine["platform"],
            "python": machine["python"],
            "torch": machine["torch"],
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
    _skeleton.write_folder(out, model, tokenizer, metrics, model_card, started)
    say(f"wrote {out}")
    return RecipeResult(model, tokenizer, metrics, out, reports)


def model_card(metrics: dict[str, Any]) -> str:
    """The ``MODEL_CARD.md`` text for a ``metrics.json`` dict written by :func:`train_tiny_gpt`."""
    if not isinstance(metrics, dict) or "grammar" not in metrics or "model_config" not in metrics:
        raise InputError("metrics must be the dict that train_tiny_gpt writes to metrics.json.")
    g = metrics["grammar"]
    rates = [
        f"| grammar pass rate, {name} (T={g[lang]['temperature']}) | {g[lang]['pass_rate']:.3f} "
        f"({g[lang]['grammatical']}/{g[lang]['sentences']} sentences) |"
        for lang, name in (("en", "English"), ("zh", "Chinese"))
    ]
    samples = [
        f"| {table_cell(prompt)} | {how} | {table_cell(text)} |"
        for prompt, outs in metrics["samples"].items()
        for how, text in outs.items()
    ]
    return render_card(
        "tiny-gpt",
        {
            **metrics,
            "weights_mb": metrics["weights_bytes"] / 1e6,
            "machine_sentence": machine_sentence(metrics["training"]),
            "grammar_rows": "\n".join(rates),
            "sample_rows": "\n".join(samples),
        },
    )


# ------------------------------------------------------------------------------ command line
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lmkit.recipes.tiny_gpt``: train and write the model folder."""
    args = _skeleton.parse_recipe_args(
        argv, "lmkit.recipes.tiny_gpt",
        "Train tiny-gpt, the bilingual story-world GPT shipped with lmkit.",
        device="auto", threads=None,
    )  # fmt: skip
    recipe = _skeleton.recipe_from_args(TinyGPTRecipe, args)
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


__all__ = ["RecipeResult", "TinyGPTRecipe", "main", "model_card", "train_tiny_gpt"]

if __name__ == "__main__":
    sys.exit(main())
