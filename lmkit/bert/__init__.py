"""BERT written from scratch (chapters 9 and 11): the encoder with its masked-LM and classifier
heads, input checks, 80/10/10 masking and fill-mask, and conversion to and from transformers;
in chapter 13 the token-tagging and span-QA heads and their LoRA adapter folders.
"""
