"""Train a tiny GPT in short slices, so a page or a notebook can watch it learn.

Introduced in chapter 8 (the app's Train page uses it). :class:`LiveTraining` builds everything
a run needs from one :class:`LiveTrainingSettings`: the text (story-world stories or your own),
a character or byte-level BPE tokenizer trained on it, a small :class:`~lmkit.gpt.model.GPT` and a
:class:`~lmkit.training.trainer.Trainer`. :meth:`LiveTraining.advance` then trains for at most a few
seconds and returns, so the caller can redraw the loss curve, show a sample, or stop. Calling
it again continues exactly where it left off (the Trainer keeps its step, optimizer and
history), and the whole run is capped by ``max_steps`` and ``max_seconds`` so it stays
CPU-friendly.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from lmkit.data.story_corpus import EOT, encode_stories, story_texts
from lmkit.data.story_world import StoryWorld
from lmkit.decoding.generation import generate
from lmkit.decoding.prompts import continuation
from lmkit.errors import ConfigError, InputError
from lmkit.gpt.config import GPTConfig
from lmkit.gpt.model import GPT
from lmkit.tokenizers import ByteBPETokenizer, CharTokenizer, Tokenizer
from lmkit.training.batching import LMBatches
from lmkit.training.config import TrainConfig
from lmkit.training.trainer import Trainer

SOURCES = ("story", "text")
LANGS = ("en", "zh", "both")
TOKENIZERS = ("char", "bpe")
MIN_TEXT_CHARS = 300  # less than this cannot fill enough training windows to learn anything
MAX_TEXT_CHARS = 100_000  # more only slows the tokenizer down; a tiny model cannot use it
MAX_STEPS = 2_000
# The character tokenizer's vocabulary is capped like BPE's (bpe_vocab_size <= 4096): a text of
# 100,000 distinct code points would otherwise make a 13.6M-parameter model, mostly embeddings.
MAX_CHAR_VOCAB = 4096
MAX_SECONDS = 300.0

# Model initialisation and the Trainer seed torch's global generator; one run at a time does
# that, so two visitors starting together still get reproducible models.
_SEEDING = threading.Lock()


def _int_in(name: str, value: object, lo: int, hi: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ConfigError(f"{name} must be an integer in {lo}..{hi}, got {value!r}.")


@dataclass(frozen=True)
class LiveTrainingSettings:
    """Everything that defines a live run; checked when made. Introduced in chapter 8.

    ``source``: ``"story"`` (``n_stories`` story-world stories in ``lang``) or ``"text"`` (the
    text given to :class:`LiveTraining`). ``tokenizer``: ``"char"`` or ``"bpe"`` (byte-level,
    ``bpe_vocab_size`` tokens), trained on that text. ``sample_every``: steps between samples
    and validation losses.
    """

    source: str = "story"
    lang: str = "both"
    n_stories: int = 400
    tokenizer: str = "bpe"
    bpe_vocab_size: int = 512
    n_layer: int = 2
    n_head: int = 2
    n_embd: int = 64
    block_size: int = 64
    batch_size: int = 16
    lr: float = 3e-3
    max_steps: int = 200
    max_seconds: float = 60.0
    sample_every: int = 25
    sample_tokens: int = 48
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name, allowed in (
            ("source", SOURCES),
            ("lang", LANGS),
            ("tokenizer", TOKENIZERS),
        ):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}.")
        _int_in("n_stories", self.n_stories, 10, 20_000)
        _int_in("bpe_vocab_size", self.bpe_vocab_size, 258, 4096)
        _int_in("n_layer", self.n_layer, 1, 8)
        _int_in("n_head", self.n_head, 1, 16)
        _int_in("n_embd", self.n_embd, 8, 512)
        _int_in("block_size", self.block_size, 8, 512)
        _int_in("batch_size", self.batch_size, 1, 256)
        _int_in("max_steps", self.max_steps, 1, MAX_STEPS)
        _int_in("sample_every", self.sample_every, 1, MAX_STEPS)
        _int_in("sample_tokens", self.sample_tokens, 1, 512)
        _int_in("seed", self.seed, 0, 2**31 - 1)
        if self.n_embd % self.n_head:
            raise ConfigError(
                f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})."
            )
        for name, hi in (("lr", 1.0), ("max_seconds", MAX_SECONDS)):
            value = getattr(self, name)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not ok or not math.isfinite(value) or not 0 < value <= hi:
                raise ConfigError(f"{name} must be a number in (0, {hi}], got {value!r}.")


@dataclass
class TrainingText:
    """Text to train on and what was done to it (``notes``, ready to show)."""

    text: str
    notes: list[str] = field(default_factory=list)


def check_training_text(text: object, *, max_chars: int = MAX_TEXT_CHARS) -> TrainingText:
    """Your own training text, checked: too short raises :class:`InputError`, too long is cut.

    Introduced in chapter 8.
    """
    if not isinstance(text, str):
        raise InputError(f"The training text must be a str, got {type(text).__name__}.")
    stripped = text.strip()
    if len(stripped) < MIN_TEXT_CHARS:
        raise InputError(
            f"The text has {len(stripped):,} characters; paste at least {MIN_TEXT_CHARS:,} (a few "
            "paragraphs) so there is something to learn, or train on the story world."
        )
    notes = []
    if len(stripped) > max_chars:
        notes.append(
            f"The text was cut to its first {max_chars:,} of {len(stripped):,} characters to "
            "keep training fast."
        )
        stripped = stripped[:max_chars]
    return TrainingText(stripped, notes)


def _documents(
    settings: LiveTrainingSettings, text: str | None
) -> tuple[list[tuple[str, str]], list[str]]:
    """The documents to train on, and notes about what was done to the text."""
    if settings.source == "text":
        if text is None:
            raise InputError("source='text' needs the text to train on.")
        checked = check_training_text(text)
        return [("text", checked.text)], checked.notes
    if settings.lang == "both":
        return story_texts(settings.seed, settings.n_stories), []
    world = StoryWorld(settings.seed)
    stories = [world.story(settings.lang).text for _ in range(settings.n_stories)]
    return [(settings.lang, story) for story in stories], []


def train_tokenizer(kind: str, text: str, bpe_vocab_size: int = 512) -> Tokenizer:
    """A character or byte-level BPE tokenizer learned on ``text``, with ``<|endoftext|>``.

    Introduced in chapter 2; used by chapter 8's live training.
    """
    if kind == "char":
        distinct = len(set(text)) + 1  # + <|endoftext|>
        if distinct > MAX_CHAR_VOCAB:
            raise InputError(
                f"The text has {distinct - 1:,} different characters, so the character tokenizer "
                f"would need a vocabulary of {distinct:,} tokens; the limit is {MAX_CHAR_VOCAB:,}. "
                "Use the byte-level BPE tokenizer (any text, a fixed vocabulary) or a text with "
                "fewer different characters."
            )
        return CharTokenizer.train(text, special_tokens=[EOT])
    if kind == "bpe":
        # Short texts run out of pairs to merge; ask for no more merges than they can give.
        room = 256 + 1 + max(1, len(text) // 8)
        return ByteBPETokenizer.train(text, min(bpe_vocab_size, room), special_tokens=[EOT])
    raise ConfigError(f"tokenizer must be one of {TOKENIZERS}, got {kind!r}.")


class LiveTraining:
    """A small GPT being trained slice by slice; see the module docstring. Introduced in chapter 8.

    ``history`` (the Trainer's records), ``samples`` (``(step, text)`` pairs) and ``model``
    are readable at any time, also after a slice was interrupted from outside. :meth:`advance`
    and :meth:`sample` hold :attr:`lock`, so a second thread that calls them (a web page whose
    previous script run is still finishing its slice) waits instead of training the same model
    at the same time; hold it yourself to read a state that does not move.
    """

    def __init__(self, settings: LiveTrainingSettings, text: str | None = None) -> None:
        if not isinstance(settings, LiveTrainingSettings):
            raise ConfigError(f"settings must be LiveTrainingSettings, got {settings!r}.")
        self.settings = settings
        documents, self.notes = _documents(settings, text)
        corpus = "\n".join(doc for _, doc in documents)
        self.tokenizer = train_tokenizer(settings.tokenizer, corpus, settings.bpe_vocab_size)
        tokens = encode_stories(self.tokenizer, documents)
        self.eot_id = self.tokenizer.special_tokens[EOT]
        train_tokens, val_tokens, block = _split(tokens, settings.block_size)
        if block < settings.block_size:
            self.notes.append(
                f"The text is short, so the model reads windows of {block} tokens instead of "
                f"{settings.block_size}."
            )
        self.num_tokens = len(tokens)
        config = GPTConfig(
            vocab_size=self.tokenizer.vocab_size,
            block_size=block,
            n_layer=settings.n_layer,
            n_head=settings.n_head,
            n_embd=settings.n_embd,
        )
        train = LMBatches(train_tokens, block, settings.batch_size, seed=settings.seed)
        val = LMBatches(val_tokens, block, settings.batch_size, seed=settings.seed + 1)
        train_config = TrainConfig(
            max_steps=settings.max_steps,
            lr=settings.lr,
            warmup_steps=min(20, settings.max_steps // 10),
            eval_interval=settings.sample_every,
            eval_steps=2,
            progress_bar=False,
            device=settings.device,
            seed=settings.seed,
            amp="off",
        )
        with _SEEDING:
            torch.manual_seed(settings.seed)
            self.model = GPT(config)
            self.trainer = Trainer(self.model, train_config, train, val, [self._on_step])
        self.samples: list[tuple[int, str]] = []
        self.lock = threading.RLock()
        self.seconds = 0.0  # training time so far, summed over slices
        self._deadline = math.inf
        self._slice_end_step = 0

    # ------------------------------------------------------------------ progress
    @property
    def step(self) -> int:
        """Optimizer steps done so far."""
        return self.trainer.step

    @property
    def history(self) -> list[dict[str, Any]]:
        return self.trainer.history

    @property
    def done(self) -> bool:
        """True once ``max_steps`` are done or the ``max_seconds`` budget is spent."""
        return self.step >= self.settings.max_steps or self.seconds >= self.settings.max_seconds

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def sample(self, max_new_tokens: int | None = None, seed: int | None = None) -> str:
        """A story start sampled from the model now (temperature 0.8, after ``<|endoftext|>``)."""
        with self.lock:  # generate() switches the model to eval mode and back
            out = generate(
                self.model,
                [self.eot_id],
                max_new_tokens=max_new_tokens or self.settings.sample_tokens,
                strategy="sample",
                temperature=0.8,
                seed=self.settings.seed if seed is None else seed,
                eos_id=self.eot_id,
            )
        new = out[0, 1:].tolist()
        return self.tokenizer.decode(continuation(new, self.eot_id))

    def _on_step(self, trainer: Trainer, record: dict[str, Any]) -> bool:
        done_steps = record["step"] + 1
        if done_steps % self.settings.sample_every == 0 or done_steps == self.settings.max_steps:
            self.samples.append((done_steps, self.sample()))
        return time.perf_counter() >= self._deadline or trainer.step >= self._slice_end_step

    def advance(self, seconds: float = 1.0, max_steps: int | None = None) -> list[dict[str, Any]]:
        """Train for about ``seconds`` (at least one step) or ``max_steps`` steps, whichever
        comes first, within the run's budget; return the new history records."""
        with self.lock:
            if self.done:
                return []
            before = len(self.history)
            left = self.settings.max_seconds - self.seconds
            start = time.perf_counter()
            self._deadline = start + max(0.0, min(seconds, left))
            self._slice_end_step = self.step + (max_steps or self.settings.max_steps)
            try:
                self.trainer.fit()
            finally:
                self.seconds += time.perf_counter() - start
            return self.history[before:]

    def run(self) -> list[dict[str, Any]]:
        """Train to the end of the budget in one go (for notebooks and scripts)."""
        while not self.done:
            self.advance(seconds=self.settings.max_seconds)
        return self.history

    def summary(self) -> dict[str, Any]:
        """Sizes and progress as plain values, for a caption or a log line."""
        last = self.history[-1] if self.history else {}
        val = [r["val_loss"] for r in self.history if r.get("val_loss") is not None]
        return {
            "step": self.step,
            "max_steps": self.settings.max_steps,
            "seconds": self.seconds,
            "parameters": self.num_parameters,
            "vocab_size": self.tokenizer.vocab_size,
            "tokens": self.num_tokens,
            "block_size": self.model.config.block_size,
            "loss": last.get("loss"),
            "val_loss": val[-1] if val else None,
            "settings": dataclasses.asdict(self.settings),
        }


def _split(tokens: np.ndarray, block_size: int) -> tuple[np.ndarray, np.ndarray, int]:
    """90% / 10% train/validation split and a window length both parts can fill."""
    cut = int(len(tokens) * 0.9)
    block = min(block_size, cut - 1, len(tokens) - cut - 1)
    if block < 4:
        raise InputError(
            f"The text gives only {len(tokens)} tokens, too few to train on. Paste more text or "
            "use the character tokenizer, which makes more tokens from the same text."
        )
    return tokens[:cut], tokens[cut:], block


__all__ = [
    "MAX_CHAR_VOCAB",
    "MAX_TEXT_CHARS",
    "MIN_TEXT_CHARS",
    "LiveTraining",
    "LiveTrainingSettings",
    "TrainingText",
    "check_training_text",
    "train_tokenizer",
]
