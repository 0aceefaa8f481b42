"""Training (chapter 8): the ``Trainer`` (``trainer``) and its ``TrainConfig`` (``config``),
AdamW with decay on matrices (``optim``), learning-rate schedules, language-model batches and
streams of dict batches (``batching``, ``batch_stream``), DDP helpers (``distributed``), and
safetensors checkpoints that resume exactly (``checkpoint``, ``run_checkpoint``).
"""
