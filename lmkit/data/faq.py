"""A small built-in English FAQ about language models and lmkit, for semantic search demos.

Introduced in chapter 3 (sentence embeddings); the app's Embeddings page searches it. Each
entry has a question, a short answer and a topic (used to colour the 2-D map). Written for
lmkit; every answer points to the chapter or module that goes deeper.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FAQ", "FaqEntry", "faq_questions"]


@dataclass(frozen=True)
class FaqEntry:
    """One question with its answer and topic."""

    question: str
    answer: str
    topic: str


def _entries(topic: str, pairs: list[tuple[str, str]]) -> list[FaqEntry]:
    return [FaqEntry(q, a, topic) for q, a in pairs]


FAQ: tuple[FaqEntry, ...] = tuple(
    _entries(
        "tokens",
        [
            (
                "What is a token?",
                "A token is the unit a model reads and writes: a character, a piece of a word "
                "or a whole word, depending on the tokenizer. Models see only token ids.",
            ),
            (
                "Why do language models split words into pieces?",
                "Sub-word pieces keep the vocabulary small while still covering rare words: an "
                "unseen word is spelled out from pieces the model knows (chapter 2).",
            ),
            (
                "How does byte-pair encoding work?",
                "BPE starts from bytes and repeatedly merges the most frequent adjacent pair "
                "into a new token; encoding replays those merges in order (lmkit.tokenizers.bpe).",
            ),
            (
                "Why does Chinese text need more tokens than English?",
                "A tokenizer trained mostly on English has few merges for Chinese characters, "
                "so each character may cost several byte tokens. A bilingual tokenizer fixes it.",
            ),
            (
                "What does [UNK] mean?",
                "[UNK] is the unknown token: a WordPiece tokenizer uses it for characters that "
                "are not in its vocabulary, such as Chinese in an English-only model.",
            ),
            (
                "What are special tokens like [CLS] and [SEP]?",
                "They mark structure rather than text: [CLS] starts a BERT input and its vector "
                "often summarises the sentence; [SEP] ends a segment; <|endoftext|> ends a story.",
            ),
        ],
    )
    + _entries(
        "embeddings",
        [
            (
                "What is an embedding?",
                "An embedding is a vector that stands for a token or a sentence; similar "
                "meanings get nearby vectors, so geometry can stand in for meaning.",
            ),
            (
                "How is cosine similarity computed?",
                "Divide the dot product of two vectors by the product of their lengths; it is 1 "
                "for the same direction, 0 for unrelated and -1 for opposite vectors.",
            ),
            (
                "How do I turn a whole sentence into one vector?",
                "Run an encoder such as MiniLM, average its token vectors (mean pooling) and "
                "normalise the result to length 1: lmkit.minilm.embeddings.encode_sentences.",
            ),
            (
                "What is semantic search?",
                "Semantic search embeds the query and every document, then ranks documents by "
                "cosine similarity, so a paraphrase finds the answer even without shared words.",
            ),
            (
                "What does PCA show in an embedding plot?",
                "PCA projects high-dimensional vectors onto the two directions of largest "
                "variance; nearby points are often similar, but distances are only approximate.",
            ),
            (
                "How are word2vec vectors trained?",
                "Skip-gram with negative sampling learns to tell real context words from random "
                "ones; words used in similar contexts end up with similar vectors (chapter 3).",
            ),
        ],
    )
    + _entries(
        "attention",
        [
            (
                "What does an attention head do?",
                "Each head compares every token's query with every token's key and uses the "
                "softmax of those scores to mix the value vectors: a learned look-up.",
            ),
            (
                "Why are GPT attention maps triangular?",
                "GPT uses a causal mask: a token may only look at itself and earlier tokens, so "
                "every weight above the diagonal is zero.",
            ),
            (
                "Why do many heads attend to [CLS] or [SEP]?",
                "When a head has nothing useful to find it often parks its attention on a "
                "special token, a known habit of BERT models rather than a sign of meaning.",
            ),
            (
                "Does attention explain a model's decision?",
                "Only partly: attention shows where information was read from, not how much it "
                "mattered. Gradient-based saliency is a useful second opinion.",
            ),
            (
                "What is multi-head attention?",
                "Several attention heads run side by side on smaller slices of the vector, each "
                "free to learn a different pattern; their outputs are joined and mixed.",
            ),
            (
                "Why are attention scores divided by the square root of the head size?",
                "Dot products grow with the dimension; scaling keeps the softmax from becoming "
                "almost one-hot at initialisation, which would stall learning.",
            ),
        ],
    )
    + _entries(
        "training",
        [
            (
                "What is the loss of a language model?",
                "The cross-entropy of the next token: the average negative log probability the "
                "model gave to the token that really came next.",
            ),
            (
                "What is a learning rate warm-up?",
                "The learning rate starts small and grows over the first steps, so large early "
                "gradients cannot throw the weights into a bad region (lmkit.training.schedule).",
            ),
            (
                "How do I know if my model is overfitting?",
                "Watch the validation loss: when it rises while the training loss keeps "
                "falling, the model is memorising the training text.",
            ),
            (
                "How long does it take to train tiny-gpt?",
                "The built-in tiny-gpt trains in minutes on a laptop CPU with "
                "python -m lmkit.recipes.tiny_gpt; its model card lists the exact numbers.",
            ),
            (
                "Why use AdamW instead of plain gradient descent?",
                "AdamW adapts the step size per weight from running averages of the gradient and "
                "its square, and decays weights separately; it trains transformers reliably.",
            ),
            (
                "What is gradient clipping for?",
                "It rescales the gradient when its norm exceeds a limit, so one unlucky batch "
                "cannot make a huge update and blow up training.",
            ),
        ],
    )
    + _entries(
        "generation",
        [
            (
                "What does temperature do when sampling?",
                "Temperature divides the logits before the softmax: below 1 the model plays it "
                "safe, above 1 it takes more risks and makes more mistakes.",
            ),
            (
                "What is the difference between top-k and top-p sampling?",
                "Top-k keeps the k most likely tokens; top-p keeps the smallest set whose "
                "probabilities add up to p, so its size adapts to the model's confidence.",
            ),
            (
                "Why does greedy decoding repeat itself?",
                "Always taking the most likely token can fall into a loop that the model finds "
                "likely; sampling or a repetition penalty breaks it.",
            ),
            (
                "What is a KV cache?",
                "During generation the keys and values of earlier tokens are stored, so each "
                "new token only computes its own, making generation much faster (lmkit.nn.kv_cache).",
            ),
            (
                "What is beam search?",
                "Beam search keeps several partial outputs and extends the most probable ones, "
                "which suits tasks with one right answer such as translation (lmkit.decoding.beam).",
            ),
        ],
    )
    + _entries(
        "using lmkit",
        [
            (
                "How do I install lmkit?",
                "Clone the repository and run make setup; it creates a virtual environment in "
                ".venv and installs lmkit with every extra.",
            ),
            (
                "How do I start the app?",
                "Run make app from the repository root and open the address Streamlit prints; "
                "everything works offline.",
            ),
            (
                "How do I load a built-in model?",
                "Call lmkit.load('tiny-gpt'); it returns the model and its tokenizer from "
                "files that ship with lmkit, so no download is needed.",
            ),
            (
                "Does lmkit need an internet connection?",
                "No. The built-in models, the MiniLM encoder, the data and the figures all work "
                "offline; only Hugging Face models you name yourself need the network.",
            ),
            (
                "How do I run the tests?",
                "Run make test; it installs what is missing and runs pytest over the tests folder.",
            ),
            (
                "Can I use a GPU with lmkit?",
                "Yes: models go to the best available device (lmkit.pick_device), and the "
                "training code uses mixed precision on CUDA when it helps.",
            ),
            (
                "How do I classify the sentiment of a review?",
                "Open the Classify page of the app, or call lmkit.tasks.text_classify.classify with a "
                "built-in classifier such as tiny-sentiment.",
            ),
        ],
    )
    + _entries(
        "models",
        [
            (
                "What is the difference between GPT and BERT?",
                "GPT reads left to right and predicts the next token; BERT reads in both "
                "directions and fills in masked tokens, which suits understanding tasks.",
            ),
            (
                "What is MiniLM?",
                "all-MiniLM-L6-v2 is a small six-layer BERT-style encoder trained so that "
                "sentences with similar meaning get nearby vectors; lmkit ships it offline.",
            ),
            (
                "What is fine-tuning?",
                "Fine-tuning continues training a pretrained model on a small task dataset, "
                "often with a new output layer, such as a sentiment classifier on MiniLM.",
            ),
            (
                "Why are large models better than small ones?",
                "More parameters and more data lower the loss along smooth scaling curves, "
                "but tiny models are far easier to inspect, which is why lmkit uses them.",
            ),
        ],
    )
)
"""The FAQ entries, grouped by topic."""


def faq_questions() -> list[str]:
    """The questions of :data:`FAQ`, in order."""
    return [entry.question for entry in FAQ]
