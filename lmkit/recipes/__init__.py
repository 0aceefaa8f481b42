"""Recipes: the scripts that reproduce the models shipped in ``lmkit/weights/``.

Introduced in chapter 9. Each recipe is a module you can run, e.g.
``python -m lmkit.recipes.tiny_gpt --out runs/tiny-gpt``; it builds its data, trains with
:class:`lmkit.training.trainer.Trainer`, measures the model and writes a folder that
:func:`lmkit.hub.load` reads (weights, config, tokenizer, ``metrics.json``, ``MODEL_CARD.md``).
Nothing is imported here, so ``import lmkit.recipes`` stays cheap.
"""
