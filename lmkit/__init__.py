"""lmkit: a small, tested PyTorch library for learning how language models work."""

__version__ = "0.1.0"
