"""The decoder-only GPT (chapter 7): the model, and conversion to and from transformers' GPT-2."""
