"""Training (chapter 8): the ``Trainer``, learning-rate schedules, language-model batches, and
safetensors checkpoints that resume exactly.
"""
