"""Recipes: the scripts that reproduce the models shipped in ``lmkit/weights/``.

Introduced in chapter 9. Each recipe is a module you can run, e.g.
``python -m lmkit.recipes.tiny_gpt --out runs/tiny-gpt``; it builds its data, trains with
:class:`lmkit.training.trainer.Trainer`, measures the model and writes a folder that
:func:`lmkit.hub.load` reads (weights, config, tokenizer, ``metrics.json``, ``MODEL_CARD.md``).
The private modules (``_skeleton``: command line and model folder; ``_cards``: model cards
rendered from ``cards/<model>.md``; ``_training``, ``_bert_inputs``, ``_minilm_*``, ``_zh_card``) are what
recipes share; a recipe never imports another recipe. Nothing is imported here, so
``import lmkit.recipes`` stays cheap.
"""
