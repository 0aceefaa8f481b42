"""Recipe: train ``tiny-seq2seq``, one small encoder–decoder Transformer that translates story-world
sentences English↔Chinese and writes one-line summaries of stories, shipped in
``lmkit/weights/tiny-seq2seq``.

Introduced in chapter 13. Run it with::

    python -m lmkit.recipes.tiny_seq2seq --out runs/tiny-seq2seq

It needs no GPU: about a quarter of an hour on one CPU thread. What it does, all seeded:

1. **Data.** ``StoryWorld(data_seed)`` writes sentence pairs (both directions become examples)
   and stories with their one-line summaries, in both languages; every source starts with its
   task tag (:mod:`lmkit.seq2seq.tasks`). Each batch holds one kind (sentences or stories, so
   short sentences are not padded to story length); a share ``summary_share`` are stories.
2. **Training.** ``steps`` AdamW steps of lmkit's :class:`~lmkit.training.trainer.Trainer` on
   the target tokens' cross-entropy, warmup then cosine decay.
3. **Measurements** on the *shipped* files read back with :func:`lmkit.hub.load` (weights are
   stored in float16, loaded as float32): BLEU and chrF (sacrebleu) per direction on sentences
   of a story world with another seed (``eval_seed``), ROUGE of greedy summaries next to the
   extractive baselines, and sentences written by hand outside the story world
   (:data:`OUT_OF_WORLD`), with what the model made of them.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from lmkit.data.story_world import StoryWorld
from lmkit.errors import ConfigError
from lmkit.hub import load
from lmkit.recipes import _skeleton
from lmkit.recipes._cards import machine_sentence, render_card, table_cell
from lmkit.seq2seq.config import Seq2SeqConfig
from lmkit.seq2seq.metrics import corpus_bleu, corpus_chrf, extractive_summary, mean_rouge
from lmkit.seq2seq.model import Seq2SeqTransformer
from lmkit.seq2seq.tasks import (
    DIRECTIONS,
    encode_source,
    encode_target,
    seq2seq_tokenizer,
    summarize,
    translate,
)
from lmkit.training.batch_stream import BatchStream
from lmkit.training.checkpoint import save_model
from lmkit.training.config import TrainConfig
from lmkit.training.trainer import Trainer

MODEL = "tiny-seq2seq"
BASE_TOKENIZER = "tiny-bert"
Example = tuple[list[int], list[int]]  # (source ids, target ids)

# Written by hand for the card: sentences the story world never writes (new words, new
# grammar), each with a reference translation. (English, Chinese)
OUT_OF_WORLD = (
    ("The weather report said it would snow tomorrow.", "天气预报说明天会下雪。"),
    ("My grandmother grows tomatoes in her garden.", "我奶奶在她的花园里种西红柿。"),
    ("The train to Shanghai was two hours late.", "去上海的火车晚了两个小时。"),
    ("He fixed the old bicycle with his father.", "他和他爸爸一起修好了那辆旧自行车。"),
    ("Please turn off the lights before you leave.", "你走以前请把灯关掉。"),
    ("The children sang a song about the moon.", "孩子们唱了一首关于月亮的歌。"),
    ("She forgot her umbrella at the office.", "她把雨伞忘在办公室了。"),
    ("We watched the football match on television.", "我们在电视上看了足球比赛。"),
    ("The doctor told him to drink more water.", "医生让他多喝水。"),
    ("Anna is learning to play the piano.", "安娜在学弹钢琴。"),
    ("Jack went to the park.", "杰克去了公园。"),
    ("The cat slept on the warm sofa all afternoon.", "那只猫整个下午都在暖和的沙发上睡觉。"),
)


@dataclass(frozen=True)
class TinySeq2SeqRecipe(_skeleton.RecipeSettings):
    """Every setting of the tiny-seq2seq recipe; the defaults made the shipped model."""

    seed: int = 0  # initialisation, dropout and batch order
    data_seed: int = 1  # the story world that writes the training data
    eval_seed: int = 1013  # another story world, for the held-out measurements
    sentence_pairs: int = 40000
    stories_per_language: int = 6000
    summary_share: float = 0.25
    d_model: int = 64
    n_heads: int = 4
    n_encoder_layers: int = 3
    n_decoder_layers: int = 2
    d_ff: int = 256
    dropout: float = 0.1
    steps: int = 2500
    batch_size: int = 32
    lr: float = 3e-3
    warmup_steps: int = 100
    eval_sentences: int = 200
    eval_stories: int = 100

    SMOKE: ClassVar[dict[str, Any]] = {
        "sentence_pairs": 60, "stories_per_language": 10, "d_model": 16, "n_heads": 2,
        "n_encoder_layers": 1, "n_decoder_layers": 1, "d_ff": 32, "steps": 3, "batch_size": 4,
        "warmup_steps": 1, "eval_sentences": 3, "eval_stories": 2,
    }  # fmt: skip

    def check(self) -> None:
        if not 0 <= self.summary_share <= 1:
            raise ConfigError(f"summary_share must be in [0, 1], got {self.summary_share}.")
        if not 0 < self.lr < 1:
            raise ConfigError(f"lr must be in (0, 1), got {self.lr}.")
        if self.data_seed == self.eval_seed:
            raise ConfigError("eval_seed must differ from data_seed: the test world is held out.")

    def model_config(self, tokenizer: Any) -> Seq2SeqConfig:
        """The model's sizes; the special ids come from the tokenizer."""
        return Seq2SeqConfig(
            vocab_size=tokenizer.vocab_size, d_model=self.d_model, n_heads=self.n_heads,
            n_encoder_layers=self.n_encoder_layers, n_decoder_layers=self.n_decoder_layers,
            d_ff=self.d_ff, dropout=self.dropout, pad_id=tokenizer.pad_id,
            bos_id=tokenizer.cls_id, eos_id=tokenizer.sep_id,
        )  # fmt: skip


# ------------------------------------------------------------------------------ data
def training_examples(
    recipe: TinySeq2SeqRecipe, tokenizer: Any, config: Seq2SeqConfig
) -> tuple[list[Example], list[Example]]:
    """(sentence examples in both directions, story → summary examples) from the training world."""
    world = StoryWorld(recipe.data_seed)

    def example(text: str, task: str, target: str) -> Example:
        return encode_source(tokenizer, text, task, config.max_source_len), encode_target(
            tokenizer, target
        )

    sentences = []
    for pair in world.translation_pairs(recipe.sentence_pairs):
        sentences += [example(pair.en, "en-zh", pair.zh), example(pair.zh, "zh-en", pair.en)]
    stories = [
        example(s.text, "summarize", s.summary)
        for lang in ("en", "zh")
        for s in world.summaries(recipe.stories_per_language, lang)
    ]
    fits = [e for e in stories if len(e[0]) <= config.max_source_len]
    return sentences, [e for e in fits if len(e[1]) <= config.max_target_len]


def collate(examples: Sequence[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded ``src_ids``/``src_mask``, ``tgt_in_ids`` and ``labels`` (-100 at padding)."""
    src_len = max(len(s) for s, _ in examples)
    tgt_len = max(len(t) for _, t in examples) - 1
    src = torch.full((len(examples), src_len), pad_id, dtype=torch.long)
    tgt_in = torch.full((len(examples), tgt_len), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), tgt_len), -100, dtype=torch.long)
    for row, (s, t) in enumerate(examples):
        src[row, : len(s)] = torch.tensor(s)
        tgt_in[row, : len(t) - 1] = torch.tensor(t[:-1])
        labels[row, : len(t) - 1] = torch.tensor(t[1:])
    return {"src_ids": src, "src_mask": src != pad_id, "tgt_in_ids": tgt_in, "labels": labels}


def mixed_batches(
    sentences: Sequence[Example], stories: Sequence[Example], recipe: TinySeq2SeqRecipe,
    pad_id: int,
) -> Iterator[dict[str, torch.Tensor]]:  # fmt: skip
    """Endless seeded batches, each of one kind; a ``summary_share`` of them are stories."""
    rng = random.Random(recipe.seed)
    while True:
        pool = stories if stories and rng.random() < recipe.summary_share else sentences
        yield collate(rng.sample(pool, min(recipe.batch_size, len(pool))), pad_id)


# ------------------------------------------------------------------------------ measuring
def _scores(pairs: Sequence[tuple[str, str]], lang: str) -> dict[str, float] | None:
    """BLEU, chrF and their count for (output, reference) pairs; None when there are none."""
    if not pairs:
        return None
    hyps, refs = [h for h, _ in pairs], [r for _, r in pairs]
    return {"n": len(pairs), "bleu": round(corpus_bleu(hyps, refs, lang), 2),
            "chrf": round(corpus_chrf(hyps, refs), 2)}  # fmt: skip


def evaluate(model: Seq2SeqTransformer, tokenizer: Any, recipe: TinySeq2SeqRecipe) -> dict:
    """BLEU/chrF per direction on held-out sentences, ROUGE of summaries vs the baselines."""
    world = StoryWorld(recipe.eval_seed)
    train_sentences = {p.en for p in StoryWorld(recipe.data_seed).translation_pairs(
        recipe.sentence_pairs)}  # fmt: skip
    pairs = world.translation_pairs(recipe.eval_sentences)
    out: dict[str, Any] = {
        "unseen_share": round(sum(p.en not in train_sentences for p in pairs) / len(pairs), 3)
    }
    for direction in DIRECTIONS:
        src_lang, tgt_lang = direction.split("-")
        hyps = [translate(model, tokenizer, getattr(p, src_lang), direction).text for p in pairs]
        refs = [getattr(p, tgt_lang) for p in pairs]
        out[direction] = {
            "bleu": round(corpus_bleu(hyps, refs, tgt_lang), 2),
            "chrf": round(corpus_chrf(hyps, refs), 2),
            "exact": round(sum(h == r for h, r in zip(hyps, refs, strict=True)) / len(refs), 3),
            "unseen": _scores(
                [
                    (h, r)
                    for h, r, p in zip(hyps, refs, pairs, strict=True)
                    if p.en not in train_sentences
                ],
                tgt_lang,
            ),
            "example": {
                "source": getattr(pairs[0], src_lang),
                "output": hyps[0],
                "reference": refs[0],
            },
        }
    for lang in ("en", "zh"):
        stories = world.summaries(recipe.eval_stories, lang)
        refs = [s.summary for s in stories]
        systems = {
            "model": [summarize(model, tokenizer, s.text).text for s in stories],
            "lead": [extractive_summary(s.text, lang, "lead") for s in stories],
            "overlap": [extractive_summary(s.text, lang, "overlap") for s in stories],
        }
        out[f"summary_{lang}"] = {
            name: {k: round(v, 4) for k, v in mean_rouge(c, refs, lang).items()}
            for name, c in systems.items()
        }
        out[f"summary_{lang}"]["example"] = {
            "story": stories[0].text,
            "output": systems["model"][0],
            "reference": refs[0],
        }
    return out


def out_of_world(model: Seq2SeqTransformer, tokenizer: Any) -> dict[str, Any]:
    """What the model makes of :data:`OUT_OF_WORLD`, both directions, with BLEU/chrF."""
    result: dict[str, Any] = {}
    for direction in DIRECTIONS:
        src, tgt = (0, 1) if direction == "en-zh" else (1, 0)
        hyps = [translate(model, tokenizer, p[src], direction).text for p in OUT_OF_WORLD]
        refs = [p[tgt] for p in OUT_OF_WORLD]
        result[direction] = {
            "bleu": round(corpus_bleu(hyps, refs, direction[-2:]), 2),
            "chrf": round(corpus_chrf(hyps, refs), 2),
            "outputs": [{"source": p[src], "output": h, "reference": p[tgt]}
                        for p, h in zip(OUT_OF_WORLD, hyps, strict=True)],
        }  # fmt: skip
    return result


# ------------------------------------------------------------------------------ the recipe
def train_tiny_seq2seq(
    recipe: TinySeq2SeqRecipe, out_dir: str | Path, *, quiet: bool = False
) -> dict[str, Any]:
    """Run every step of the recipe, write the model folder, return its metrics."""
    out = _skeleton.check_out_dir(out_dir)
    started = time.perf_counter()
    log: Callable[[str], None] = (
        (lambda _m: None) if quiet else (lambda m: print(m, file=sys.stderr))
    )
    tokenizer = seq2seq_tokenizer(load(BASE_TOKENIZER, device="cpu").tokenizer)
    config = recipe.model_config(tokenizer)
    sentences, stories = training_examples(recipe, tokenizer, config)
    torch.manual_seed(recipe.seed)
    model = Seq2SeqTransformer(config)
    train_config = TrainConfig(
        max_steps=recipe.steps, batch_size=recipe.batch_size, lr=recipe.lr,
        min_lr=recipe.lr * 0.05, warmup_steps=min(recipe.warmup_steps, recipe.steps),
        weight_decay=0.01, eval_interval=recipe.steps, log_interval=min(50, recipe.steps),
        device="cpu", seed=recipe.seed, progress_bar=not quiet,
    )  # fmt: skip
    batches = mixed_batches(sentences, stories, recipe, config.pad_id)
    load_before = _skeleton.load_average()
    train_started = time.perf_counter()
    trainer = Trainer(model, train_config, BatchStream(batches, recipe.batch_size))
    trainer.fit()
    train_seconds = time.perf_counter() - train_started
    history = [{"step": r["step"], "loss": round(r["loss"], 4)} for r in trainer.history]
    model.half()  # float16 on disk halves the file; loading casts back to float32
    metrics: dict[str, Any] = {
        "model": MODEL, "tokenizer": f"{BASE_TOKENIZER} + task tags",
        "recipe": recipe.to_dict(), "config": config.to_dict(),
        "parameters": model.num_parameters(),
        "data": {"sentence_examples": len(sentences), "story_examples": len(stories)},
    }  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    save_model(model, out)
    tokenizer.save(out / "tokenizer.json")
    metrics["weights_bytes"] = (out / "model.safetensors").stat().st_size
    shipped = load(out, device="cpu")  # measure what ships, read back from the files
    metrics["held_out"] = evaluate(shipped.model, shipped.tokenizer, recipe)
    metrics["out_of_world"] = out_of_world(shipped.model, shipped.tokenizer)
    metrics["training"] = _skeleton.training_record(
        steps=recipe.steps, seen=("examples_seen", recipe.steps * recipe.batch_size),
        epochs=round(recipe.steps * recipe.batch_size / (len(sentences) + len(stories)), 2),
        train_seconds=train_seconds, load_before=load_before, device=torch.device("cpu"),
        history=history,
    )  # fmt: skip
    _skeleton.write_metrics_and_card(out, metrics, model_card, started)
    log(f"wrote {out}: {metrics['held_out']}")
    return metrics


# ------------------------------------------------------------------------------ the card
def _unseen_cell(scores: dict[str, float] | None) -> str:
    return (
        "–" if scores is None else f"{scores['bleu']:.1f} / {scores['chrf']:.1f} (n={scores['n']})"
    )


def model_card(metrics: dict[str, Any]) -> str:
    """The ``MODEL_CARD.md`` text for a ``metrics.json`` dict of :func:`train_tiny_seq2seq`."""
    held = metrics["held_out"]
    translation_rows = "\n".join(
        f"| {d} | {held[d]['bleu']:.1f} | {held[d]['chrf']:.1f} | {held[d]['exact']:.2f} | "
        f"{_unseen_cell(held[d]['unseen'])} | "
        f"{metrics['out_of_world'][d]['bleu']:.1f} | {metrics['out_of_world'][d]['chrf']:.1f} |"
        for d in DIRECTIONS
    )
    summary_rows = "\n".join(
        f"| {lang} | {name} | " + " | ".join(f"{held[f'summary_{lang}'][name][t]:.3f}"
                                               for t in ("rouge1", "rouge2", "rougeL")) + " |"
        for lang in ("en", "zh") for name in ("model", "lead", "overlap")
    )  # fmt: skip
    oow_rows = "\n".join(
        f"| {d} | {table_cell(o['source'])} | {table_cell(o['output'])} | {table_cell(o['reference'])} |"
        for d in DIRECTIONS for o in metrics["out_of_world"][d]["outputs"]
    )  # fmt: skip
    return render_card(
        MODEL,
        {
            **metrics,
            "weights_kb": metrics["weights_bytes"] / 1e3,
            "translation_rows": translation_rows,
            "summary_rows": summary_rows,
            "oow_rows": oow_rows,
            "n_out_of_world": len(OUT_OF_WORLD),
            "machine_sentence": machine_sentence(metrics["training"]),
        },
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = _skeleton.parse_recipe_args(argv, __name__, "Train the tiny-seq2seq model.", device=None)
    recipe = _skeleton.recipe_from_args(TinySeq2SeqRecipe, args)
    train_tiny_seq2seq(recipe, args.out, quiet=args.quiet)


if __name__ == "__main__":
    main()
