"""The classic public datasets lmkit can download: where each lives and how to check it.

One :class:`RemoteDataset` entry per dataset, with its URL(s), SHA-256, size, license and the
built-in dataset to use instead when there is no network. :mod:`lmkit.data.remote` downloads
and parses them. Introduced in chapter 8.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RemoteDataset:
    """One downloadable dataset: where it lives, how to check it, what to use when offline."""

    name: str
    urls: tuple[str, ...]  # tried in order; later ones are mirrors
    filename: str  # name of the cached file (and of the file on a mirror)
    sha256: str | None  # published checksum, or None: record it on the first download
    size: int | None  # bytes, when published
    license: str  # license / citation line to show the reader
    offline_alternative: str  # the built-in dataset to suggest instead
    kind: str  # "text" (load -> str) or "labelled" (load -> list[(text, label)])
    splits: tuple[str, ...]
    hf_path: tuple[str, str | None] | None = None  # (dataset id, config) on the HF Hub


# Checksums: we could not download anything while writing this module, so none of these was
# computed by us. Each SHA-256 (with its byte size) is the one published by several independent
# projects that pin these files: TensorFlow Datasets' checksum files (tiny_shakespeare,
# imdb_reviews, glue), the GLUE dataset_info of Hugging Face `datasets`, and Julia's DataDeps
# registrations (IMDB, GLUE-SST, WikiText-2). A mismatch therefore means a changed or damaged
# file, never a typo of ours. An entry added later without a published checksum gets
# sha256=None and is pinned on its first download (see `download`).
REGISTRY: dict[str, RemoteDataset] = {
    entry.name: entry
    for entry in (
        RemoteDataset(
            name="tinyshakespeare",
            urls=(
                "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/"
                "tinyshakespeare/input.txt",
            ),
            filename="tinyshakespeare.txt",
            sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
            size=1_115_394,
            license=(
                "Shakespeare's plays (public domain), collected by Andrej Karpathy for char-rnn "
                "(MIT), 2015."
            ),
            offline_alternative=(
                "the built-in story world (lmkit.data.story_world) or "
                "lmkit.data.stdlib_corpus.stdlib_docstrings()"
            ),
            kind="text",
            splits=("all",),
        ),
        RemoteDataset(
            name="imdb",
            urls=("https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",),
            filename="aclImdb_v1.tar.gz",
            sha256="c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
            size=84_125_825,
            license=(
                "Maas et al., 'Learning Word Vectors for Sentiment Analysis', ACL 2011 "
                "(Large Movie Review Dataset v1.0; cite the paper when you use it)."
            ),
            offline_alternative="the built-in review sets: lmkit.data.reviews.load_reviews('en')",
            kind="labelled",
            splits=("train", "test"),
            hf_path=("stanfordnlp/imdb", None),
        ),
        RemoteDataset(
            name="sst2",
            urls=("https://dl.fbaipublicfiles.com/glue/data/SST-2.zip",),
            filename="SST-2.zip",
            sha256="d67e16fb55739c1b32cdce9877596db1c127dc322d93c082281f64057c16deaa",
            size=7_439_277,
            license=(
                "Socher et al., 'Recursive Deep Models for Semantic Compositionality Over a "
                "Sentiment Treebank', EMNLP 2013; GLUE version (Wang et al., ICLR 2019)."
            ),
            offline_alternative="the built-in review sets: lmkit.data.reviews.load_reviews('en')",
            kind="labelled",
            splits=("train", "test"),  # "test" is GLUE's dev set: GLUE's test has no labels
            hf_path=("stanfordnlp/sst2", None),
        ),
        RemoteDataset(
            name="wikitext2",
            urls=(
                # The original Salesforce S3 bucket is gone; llama.cpp's CI mirror serves the
                # identical archive (same SHA-256), and the old address is kept as a fallback.
                "https://huggingface.co/datasets/ggml-org/ci/resolve/main/wikitext-2-raw-v1.zip",
                "https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-raw-v1.zip",
            ),
            filename="wikitext-2-raw-v1.zip",
            sha256="ef7edb566e3e2b2d31b29c1fdb0c89a4cc683597484c3dc2517919c615435a11",
            size=4_721_645,
            license=(
                "Merity et al., 'Pointer Sentinel Mixture Models', 2016; text from Wikipedia, "
                "CC BY-SA 3.0."
            ),
            offline_alternative=(
                "lmkit.data.stdlib_corpus.stdlib_docstrings() or the built-in story world"
            ),
            kind="text",
            splits=("train", "validation", "test"),
            hf_path=("Salesforce/wikitext", "wikitext-2-raw-v1"),
        ),
    )
}


__all__ = ["REGISTRY", "RemoteDataset"]
