"""The one table of model types: what each ``model_type`` in a ``config.json`` is and how to load it.

Every folder lmkit writes names its ``model_type``; this table turns that name back into a model
class, its config class, the model's kind (``causal-lm``, ``masked-lm``, ``classifier``,
``encoder``, ``token-classifier``, ``question-answering`` or ``seq2seq``) and, for folders the
standard loader cannot read (a MiniLM model ships only what it trained; the encoder comes from
another package), a loader function. Classes are given as lazy
``"module:Name"`` strings, so that reading the table imports no model family.
:func:`lmkit.training.checkpoint.load_model` and :func:`lmkit.hub.load` both read it.
Introduced in chapter 8.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from lmkit.errors import InputError

KINDS = (
    "causal-lm", "masked-lm", "classifier", "encoder", "token-classifier", "question-answering",
    "seq2seq",
)  # fmt: skip


@dataclass(frozen=True)
class ModelType:
    """One registered model type. ``model_class``/``config_class``: classes or ``"module:Name"``
    strings; ``loader``: ``"module:function"`` taking ``(folder, device)`` and returning
    ``(model, tokenizer)``, or ``None`` for the standard folder loader.

    What the tokenizer saved beside such a model must have (checked by :func:`lmkit.hub.load`):
    ``tokenizer_specials``, special tokens by name (BERT's ``[CLS]``…); ``tokenizer_roles``,
    roles such as ``"eos"`` (a causal LM is prompted after its end-of-text token) or ``"pad"``
    (it must be the config's ``pad_id``); ``exact_vocab``: one token per row of the model's
    vocabulary, for models that emit ids the tokenizer must decode (causal and masked LMs).
    """

    name: str
    model_class: type | str
    config_class: type | str | None
    kind: str
    loader: str | None = None
    tokenizer_specials: tuple[str, ...] = ()
    tokenizer_roles: tuple[str, ...] = ()
    exact_vocab: bool = False


def _builtin_types() -> dict[str, ModelType]:
    bert_config = "lmkit.bert.model:BertConfig"
    bert = {"tokenizer_specials": ("[CLS]", "[SEP]"), "tokenizer_roles": ("pad",)}
    types = (
        ModelType(
            "gpt", "lmkit.gpt.model:GPT", "lmkit.gpt.config:GPTConfig", "causal-lm",
            tokenizer_roles=("eos",), exact_vocab=True,
        ),
        ModelType(
            "gpt-lora", "lmkit.gpt.model:GPT", None, "causal-lm",
            loader="lmkit.gpt.adapter:load_folder",
        ),
        ModelType("bert", "lmkit.bert.model:BertEncoder", bert_config, "encoder", **bert),
        ModelType(
            "bert-mlm", "lmkit.bert.model:BertForMaskedLM", bert_config, "masked-lm",
            tokenizer_specials=("[CLS]", "[SEP]", "[MASK]"), tokenizer_roles=("pad",),
            exact_vocab=True,
        ),
        ModelType(
            "bert-classifier", "lmkit.bert.model:BertForSequenceClassification", bert_config,
            "classifier", **bert,
        ),
        ModelType(
            "bert-lora-tagger", "lmkit.bert.task_heads:BertForTokenClassification", None,
            "token-classifier", loader="lmkit.bert.adapter:load_folder",
        ),
        ModelType(
            "bert-lora-qa", "lmkit.bert.task_heads:BertForQuestionAnswering", None,
            "question-answering", loader="lmkit.bert.adapter:load_folder",
        ),
        ModelType(
            "minilm-classifier", "lmkit.minilm.classifier:MiniLMClassifier", None, "classifier",
            loader="lmkit.minilm.classifier:load_folder",
        ),
        ModelType(
            "minilm-encoder", "lmkit.minilm.encoder:MiniLMEncoder", None, "encoder",
            loader="lmkit.minilm.encoder:load_folder",
        ),
        ModelType(
            "naive-bayes-classifier", "lmkit.basics.naive_bayes:NaiveBayesClassifier", None,
            "classifier", loader="lmkit.basics.naive_bayes:load_folder",
        ),
        ModelType(
            "seq2seq", "lmkit.seq2seq.model:Seq2SeqTransformer",
            "lmkit.seq2seq.config:Seq2SeqConfig", "seq2seq",
            tokenizer_specials=("[CLS]", "[SEP]", "<en-zh>", "<zh-en>", "<summarize>"),
            tokenizer_roles=("pad",), exact_vocab=True,
        ),
    )
    return {t.name: t for t in types}


MODEL_TYPES: dict[str, ModelType] = _builtin_types()


def register_model_type(
    name: str,
    model_class: type | str,
    config_class: type | str | None,
    kind: str,
    loader: str | None = None,
    *,
    tokenizer_specials: tuple[str, ...] = (),
    tokenizer_roles: tuple[str, ...] = (),
    exact_vocab: bool = False,
) -> ModelType:
    """Add (or replace) a model type, e.g. for your own model class, so that
    :func:`lmkit.training.checkpoint.save_model` can write it and ``load_model`` rebuild it.
    The ``tokenizer_*`` and ``exact_vocab`` settings are described in :class:`ModelType`."""
    if not isinstance(name, str) or not name:
        raise InputError(f"model_type must be a non-empty string, got {name!r}.")
    for what, ref in (("model_class", model_class), ("config_class", config_class)):
        if ref is None and what == "config_class":
            continue
        if not isinstance(ref, type) and not (isinstance(ref, str) and ":" in ref):
            raise InputError(f"{what} must be a class or a 'module:Class' string, got {ref!r}.")
    if kind not in KINDS:
        raise InputError(f"kind must be one of {KINDS}, got {kind!r}.")
    if loader is not None and not (isinstance(loader, str) and ":" in loader):
        raise InputError(f"loader must be None or a 'module:function' string, got {loader!r}.")
    for what, names in (
        ("tokenizer_specials", tokenizer_specials),
        ("tokenizer_roles", tokenizer_roles),
    ):
        if not isinstance(names, tuple) or not all(isinstance(n, str) and n for n in names):
            raise InputError(f"{what} must be a tuple of non-empty strings, got {names!r}.")
    if not isinstance(exact_vocab, bool):
        raise InputError(f"exact_vocab must be True or False, got {exact_vocab!r}.")
    MODEL_TYPES[name] = ModelType(
        name, model_class, config_class, kind, loader, tokenizer_specials, tokenizer_roles,
        exact_vocab,
    )  # fmt: skip
    return MODEL_TYPES[name]


def resolve(ref: type | str) -> Any:
    """The class or function a registry entry names (importing its module on first use)."""
    if isinstance(ref, type):
        return ref
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def _qualified(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def model_type_of(model: object) -> str | None:
    """The registered ``model_type`` of ``model``'s class, or ``None`` if it is not registered."""
    for entry in MODEL_TYPES.values():
        if entry.model_class is type(model) or entry.model_class == _qualified(type(model)):
            return entry.name
    return None


def model_type(name: str) -> ModelType:
    """The entry for ``name``; a :class:`~lmkit.errors.CheckpointError`-friendly message if none."""
    if name not in MODEL_TYPES:
        raise InputError(
            f"Unknown model_type {name!r}. Known: {sorted(MODEL_TYPES)}. Register yours with "
            "lmkit.registry.register_model_type."
        )
    return MODEL_TYPES[name]


__all__ = [
    "KINDS",
    "MODEL_TYPES",
    "ModelType",
    "model_type",
    "model_type_of",
    "register_model_type",
    "resolve",
]
