"""Turning a model's logits into text (chapter 10): sampling filters, the generation loop with
streaming and a KV cache, and beam search.
"""
