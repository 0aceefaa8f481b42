"""Neural-network building blocks shared by every model family.

Right-padding a batch (chapter 5), attention with its masks (chapter 6), positional encodings
(chapters 5–6), the KV cache (chapter 10) and the linear layer with a fast single-row CPU path
(chapter 8).
"""
