"""The from-scratch pieces the early chapters build and then look inside.

n-gram models (chapter 1), word vectors (chapter 3), activations and optimizers written by hand
(chapter 4), RNN/LSTM/GRU cells and the chapter-5 classification loop and metrics (chapter 5),
naive Bayes over character n-grams (the shipped zh-sentiment) and calibration (chapter 11).
They teach; the library core in ``lmkit.nn``, ``lmkit.gpt`` and ``lmkit.training`` does not
import them.
"""
