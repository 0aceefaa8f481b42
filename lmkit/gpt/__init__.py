"""The decoder-only GPT (chapter 7): the model, its layers and input checks, and conversion to
and from transformers' GPT-2."""
