"""Recipe: pretrain ``tiny-bert``, the bilingual story-world BERT in ``lmkit/weights/tiny-bert``.

Introduced in chapter 9. Run it with::

    python -m lmkit.recipes.tiny_bert --out runs/tiny-bert --threads 1

What it does, all seeded so that a second run gives the same model:

1. **Data.** Stories from ``StoryWorld(seed)``, each in English or Chinese by a coin flip
   (:func:`lmkit.data.story_corpus.story_texts`); held-out stories from ``StoryWorld(val_seed)``.
   One story is one input, ``[CLS] story [SEP]``, cut at ``max_position`` tokens.
2. **Tokenizer.** Our byte-level BPE with ``[PAD] [CLS] [SEP] [MASK]``
   (:class:`~lmkit.tokenizers.bert_bpe.BertBPETokenizer`), trained on the first training stories.
3. **Model.** A small :class:`~lmkit.bert.model.BertForMaskedLM` trained with BERT's masking
   (:func:`lmkit.bert.mlm.mask_tokens`: 15% of tokens, 80/10/10) by the
   :class:`~lmkit.training.trainer.Trainer` (AdamW, warmup + cosine).
4. **Measurements** per language on held-out stories: the masked-LM loss and top-1 accuracy
   on the masked tokens (masking seeded by ``eval_seed``); single-blank accuracy (one random
   token of each story hidden, top-1 and top-5); a few fill-in-the-blank examples.
5. **Files** into ``--out``: model.safetensors, config.json, tokenizer.json, metrics.json,
   MODEL_CARD.md (rendered from ``cards/tiny-bert.md``), which :func:`lmkit.hub.load` reads.
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
import torch.nn.functional as F

from lmkit.bert.mlm import fill_mask, mask_tokens
from lmkit.bert.model import IGNORE_INDEX, BertConfig, BertForMaskedLM
from lmkit.data.story_corpus import LANGS, story_texts
from lmkit.device import pick_device, seed_everything
from lmkit.errors import ConfigError
from lmkit.nn.padding import pad_right
from lmkit.recipes import _skeleton
from lmkit.recipes._bert_inputs import encode_texts, length_batches
from lmkit.recipes._cards import machine_sentence, render_card, table_cell
from lmkit.recipes._training import fit_on_stream
from lmkit.tokenizers.bert_bpe import BertBPETokenizer

FILL_MASK_EXAMPLES = (
    "Anna likes to eat [MASK].",
    "Tom went to the [MASK] with his dog.",
    "She was happy because she found her teddy [MASK].",
    "At seven in the [MASK], Jenny took the bus to the forest.",
    "安娜喜欢吃[MASK]。",
    "她在书店里买了一本黄色的[MASK]。",
    "晚饭以后，他们回[MASK]了。",
    "星期五晚上，她去了[MASK]。",
)


@dataclass(frozen=True)
class TinyBertRecipe(_skeleton.RecipeSettings):
    """Every setting of the tiny-bert recipe; the defaults made the shipped model."""

    seed: int = 0  # training stories, coin flips, BPE text, weights, batches, masking
    val_seed: int = 1  # held-out stories
    eval_seed: int = 2  # masking of the held-out stories and the single blanks
    train_stories: int = 100_000
    val_stories: int = 2_000
    bpe_stories: int = 20_000
    vocab_size: int = 2048
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    intermediate: int = 512
    max_position: int = 128
    batch_size: int = 64
    steps: int = 1500
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 100
    weight_decay: float = 0.01
    eval_interval: int = 300
    eval_stories: int = 400  # held-out stories per language for the losses during training

    SMOKE: ClassVar[dict[str, Any]] = {
        "train_stories": 200, "val_stories": 40, "bpe_stories": 100, "vocab_size": 300,
        "n_layer": 1, "n_head": 2, "n_embd": 16, "intermediate": 32, "max_position": 128,
        "batch_size": 8, "steps": 4, "warmup_steps": 1, "eval_interval": 2,
        "eval_stories": 10,
    }  # fmt: skip

    def check(self) -> None:
        if self.bpe_stories > self.train_stories or self.warmup_steps > self.steps:
            raise ConfigError("Need bpe_stories <= train_stories and warmup_steps <= steps.")
        if not 0 < self.min_lr <= self.lr:
            raise ConfigError(f"Need 0 < min_lr <= lr, got {self.min_lr}, {self.lr}.")




# ------------------------------------------------------------------------------ data
def masked_batches(
    sequences: Sequence[Sequence[int]],
    tokenizer: BertBPETokenizer,
    batch_size: int,
    seed: int,
) -> Iterator[dict[str, torch.Tensor]]:
    """Endless length-grouped batches, freshly masked each time (BERT's dynamic masking)."""
    rng, generator = random.Random(seed), torch.Generator().manual_seed(seed)
    lengths = [len(s) for s in sequences]
    while True:
        for index in length_batches(lengths, batch_size, rng):
            ids, mask = pad_right([sequences[i] for i in index], tokenizer.pad_id)
            masked = mask_tokens(
                ids, mask_id=tokenizer.mask_id, vocab_size=tokenizer.vocab_size,
                special_ids=tokenizer.special_tokens.values(), generator=generator,
            )  # fmt: skip
            yield {"input_ids": masked.input_ids, "attention_mask": mask, "labels": masked.labels}


@torch.no_grad()
def mlm_metrics(
    model: BertForMaskedLM,
    tokenizer: BertBPETokenizer,
    sequences: Sequence[Sequence[int]],
    seed: int,
    batch_size: int = 64,
) -> dict[str, float]:
    """Masked-LM loss (nats/token) and top-1 accuracy over BERT-masked tokens of ``sequences``.

    The masking is drawn from ``seed`` (batches in order, ``batch_size`` sequences each), so a
    second call gives the same masks.
    """
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    loss_sum, correct, total = 0.0, 0, 0
    device = next(model.parameters()).device
    for start in range(0, len(sequences), batch_size):
        ids, mask = pad_right(sequences[start : start + batch_size], tokenizer.pad_id)
        masked = mask_tokens(
            ids, mask_id=tokenizer.mask_id, vocab_size=tokenizer.vocab_size,
            special_ids=tokenizer.special_tokens.values(), generator=generator,
        )  # fmt: skip
        logits = model(masked.input_ids.to(device), mask.to(device)).logits.float().cpu()
        keep = masked.labels != IGNORE_INDEX
        chosen, labels = logits[keep], masked.labels[keep]
        loss_sum += float(F.cross_entropy(chosen, labels, reduction="sum"))
        correct += int((chosen.argmax(-1) == labels).sum())
        total += int(keep.sum())
    return {"loss": loss_sum / max(total, 1), "accuracy": correct / max(total, 1), "tokens": total}


@torch.no_grad()
def single_blank_accuracy(
    model: BertForMaskedLM, tokenizer: BertBPETokenizer, texts: Sequence[str], seed: int
) -> dict[str, float]:
    """Hide one random ordinary token per text (seeded) and check the model's guess.

    ``top1``/``top5``: share of texts whose hidden token is the best / among the five best
    guesses (special tokens excluded); ``chance`` is 1 / (ordinary tokens).
    """
    model.eval()
    rng = random.Random(seed)
    special = sorted(tokenizer.special_tokens.values())
    top1 = top5 = 0
    device = next(model.parameters()).device
    max_len = model.config.max_position
    for ids in encode_texts(tokenizer, texts, max_len):
        position = rng.randrange(1, len(ids) - 1)  # not [CLS] or [SEP]
        answer, blanked = ids[position], list(ids)
        blanked[position] = tokenizer.mask_id
        logits = model(torch.tensor([blanked], device=device)).logits[0, position].float().cpu()
        logits[special] = float("-inf")
        best = torch.topk(logits, 5).indices.tolist()
        top1 += best[0] == answer
        top5 += answer in best
    n = max(len(texts), 1)
    return {"top1": top1 / n, "top5": top5 / n, "texts": len(texts),
            "chance": 1 / (tokenizer.vocab_size - len(special))}  # fmt: skip


# ------------------------------------------------------------------------------ the run
def train_tiny_bert(
    recipe: TinyBertRecipe | None = None,
    out_dir: str | Path = "runs/tiny-bert",
    *,
    device: str = "auto",
    log: Callable[[str], None] | None = print,
) -> tuple[BertForMaskedLM, BertBPETokenizer, dict[str, Any]]:
    """Run the whole recipe and write the model folder; returns (model, tokenizer, metrics).

    Introduced in chapter 9.
    """
    recipe = TinyBertRecipe() if recipe is None else recipe
    if not isinstance(recipe, TinyBertRecipe):
        raise ConfigError(f"recipe must be a TinyBertRecipe, got {type(recipe).__name__}.")
    out = _skeleton.check_out_dir(out_dir)
    target = pick_device(device)
    say = log or (lambda _m: None)
    started, load_before = time.perf_counter(), _skeleton.load_average()

    train = story_texts(recipe.seed, recipe.train_stories)
    val = story_texts(recipe.val_seed, recipe.val_stories)
    say(f"tokenizer: BPE with {recipe.vocab_size} tokens on {recipe.bpe_stories} stories")
    tokenizer = BertBPETokenizer.train_bert(
        "\n".join(text for _, text in train[: recipe.bpe_stories]), recipe.vocab_size
    )
    train_ids = encode_texts(tokenizer, [t for _, t in train], recipe.max_position)
    val_by_lang = {lang: [t for lg, t in val if lg == lang] for lang in LANGS}
    val_ids = {
        lang: encode_texts(tokenizer, texts, recipe.max_position)
        for lang, texts in val_by_lang.items()
    }

    seed_everything(recipe.seed)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, max_position=recipe.max_position,
        n_layer=recipe.n_layer, n_head=recipe.n_head, n_embd=recipe.n_embd,
        intermediate=recipe.intermediate, dropout=0.0, pad_id=tokenizer.pad_id,
    )  # fmt: skip
    model = BertForMaskedLM(config).to(target)

    def during_training(model: BertForMaskedLM) -> dict[str, float]:
        return {
            f"val_loss_{lang}": mlm_metrics(
                model, tokenizer, ids[: recipe.eval_stories], recipe.eval_seed
            )["loss"]
            for lang, ids in val_ids.items()
        }

    n_params = sum(p.numel() for p in model.parameters())
    say(f"training {n_params:,} parameters for {recipe.steps} steps on {target}")
    fit_started = time.perf_counter()
    history = fit_on_stream(
        model, masked_batches(train_ids, tokenizer, recipe.batch_size, recipe.seed),
        batch_size=recipe.batch_size, steps=recipe.steps, lr=recipe.lr, min_lr=recipe.min_lr,
        warmup_steps=recipe.warmup_steps, weight_decay=recipe.weight_decay,
        eval_interval=recipe.eval_interval, evaluate=during_training, device=target, log=say,
    )  # fmt: skip
    train_seconds = time.perf_counter() - fit_started
    model = model.cpu().eval()

    say("measuring")
    evaluation = {
        lang: {
            "mlm": mlm_metrics(model, tokenizer, val_ids[lang], recipe.eval_seed),
            "single_blank": single_blank_accuracy(
                model, tokenizer, val_by_lang[lang], recipe.eval_seed
            ),
            "stories": len(val_ids[lang]),
        }
        for lang in LANGS
    }
    examples = {
        text: [(c.token, round(c.probability, 4)) for c in fill_mask(model, tokenizer, text)[0]]
        for text in FILL_MASK_EXAMPLES
    }
    seen = sum(len(train_ids[i]) for i in range(len(train_ids)))
    metrics: dict[str, Any] = {
        "model": "tiny-bert",
        "kind": "masked-lm",
        "recipe": recipe.to_dict(),
        "data": {
            "description": (
                "Stories from lmkit.data.StoryWorld, each in English or Chinese by a seeded coin "
                "flip; one story = one input [CLS] story [SEP]. Training: StoryWorld(seed); "
                "held out: StoryWorld(val_seed)."
            ),
            "train_stories": len(train_ids),
            "train_stories_en": sum(lang == "en" for lang, _ in train),
            "train_tokens": seen,
            "val_stories": {lang: len(ids) for lang, ids in val_ids.items()},
            "bpe": {
                "vocab_size": tokenizer.vocab_size,
                "merges": len(tokenizer.merges),
                "trained_on_stories": recipe.bpe_stories,
                "special_tokens": list(tokenizer.special_tokens),
            },
        },
        "model_config": config.to_dict(),
        "parameters": n_params,
        "training": _skeleton.training_record(
            steps=recipe.steps,
            seen=("stories_seen", recipe.steps * recipe.batch_size),
            epochs=recipe.steps * recipe.batch_size / len(train_ids),
            train_seconds=train_seconds,
            load_before=load_before,
            device=target,
            history=history,
        ),
        "evaluation": evaluation,
        "evaluation_protocol": (
            "Per language, all held-out stories: BERT masking (15% of ordinary tokens; 80% "
            "[MASK], 10% random, 10% unchanged) drawn from torch.Generator(eval_seed) batch by "
            "batch (64 stories, in order); loss = mean cross-entropy and accuracy = top-1 over "
            "the picked tokens. Single blank: one ordinary token per story, position drawn from "
            "random.Random(eval_seed), replaced by [MASK]; top1/top5 over all tokens but the "
            "special ones."
        ),
        "fill_mask_examples": examples,
        "tolerance": {
            "mlm_loss": 0.1,
            "accuracy_points": 3.0,
            "note": "Expected spread when the recipe is re-run on other hardware or versions.",
        },
    }
    _skeleton.write_folder(out, model, tokenizer, metrics, model_card, started)
    say(f"wrote {out}")
    return model, tokenizer, metrics


def model_card(metrics: dict[str, Any]) -> str:
    """The ``MODEL_CARD.md`` text for a ``metrics.json`` dict of :func:`train_tiny_bert`."""
    examples = [
        f"| {table_cell(text)} | "
        + ", ".join(f"`{table_cell(tok)}` {p:.2f}" for tok, p in cands)
        + " |"
        for text, cands in metrics["fill_mask_examples"].items()
    ]
    return render_card(
        "tiny-bert",
        {
            **metrics,
            "weights_mb": metrics["weights_bytes"] / 1e6,
            "machine_sentence": machine_sentence(metrics["training"]),
            "example_rows": "\n".join(examples),
        },
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lmkit.recipes.tiny_bert``: train tiny-bert and write the model folder."""
    args = _skeleton.parse_recipe_args(
        argv, "lmkit.recipes.tiny_bert", "Pretrain tiny-bert, the story-world BERT."
    )
    recipe = _skeleton.recipe_from_args(TinyBertRecipe, args)
    train_tiny_bert(recipe, args.out, device=args.device, log=None if args.quiet else print)
    return 0


__all__ = [
    "FILL_MASK_EXAMPLES",
    "TinyBertRecipe",
    "main",
    "masked_batches",
    "mlm_metrics",
    "model_card",
    "single_blank_accuracy",
    "train_tiny_bert",
]

if __name__ == "__main__":
    sys.exit(main())
