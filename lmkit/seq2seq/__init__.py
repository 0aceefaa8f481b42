"""An encoder–decoder Transformer written from scratch (chapter 13, "Applications"): its config,
model, greedy and beam decoding, the text-to-text task front end (EN↔ZH translation and one-line
summaries from one model) and the metrics that grade it (BLEU, chrF, ROUGE).

Introduced in chapter 13. The heavy modules are not imported here, so ``import lmkit.seq2seq``
stays cheap; import ``lmkit.seq2seq.model``, ``.decoding``, ``.tasks`` or ``.metrics``.
"""
