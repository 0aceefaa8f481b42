"""The pretrained all-MiniLM-L6-v2 encoder (needs the ``hf`` extra): loading it with its
attention maps (chapter 6), mean-pooled sentence embeddings (chapter 3) and the fine-tuned
sentiment classifier built on it (chapter 11).
"""
