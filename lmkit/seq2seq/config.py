"""Every size and switch of the encoder–decoder Transformer, checked when made.

Introduced in chapter 13.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from lmkit.errors import ConfigError
from lmkit.validators import check_int, check_number

__all__ = ["Seq2SeqConfig"]


@dataclass
class Seq2SeqConfig:
    """Sizes of a :class:`~lmkit.seq2seq.model.Seq2SeqTransformer` and its special token ids.

    The embedding matrix is shared by the encoder, the decoder and the output layer (tied), and
    positions are sinusoidal, so the only sizes that cost weights are ``vocab_size``,
    ``d_model``, ``d_ff`` and the layer counts. ``bos_id`` starts every target (the decoder's
    first input), ``eos_id`` ends it, ``pad_id`` fills batches. Introduced in chapter 13.
    """

    vocab_size: int = 2051
    d_model: int = 64
    n_heads: int = 4
    n_encoder_layers: int = 3
    n_decoder_layers: int = 2
    d_ff: int = 256
    max_source_len: int = 128  # longest source, task tag and end token included
    max_target_len: int = 64  # longest target, start and end tokens included
    dropout: float = 0.1
    layer_norm_eps: float = 1e-5
    pad_id: int = 2044
    bos_id: int = 2045
    eos_id: int = 2046

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "n_heads", "n_encoder_layers", "n_decoder_layers",
                     "d_ff", "max_source_len", "max_target_len"):  # fmt: skip
            setattr(self, name, check_int(f"Seq2SeqConfig.{name}", getattr(self, name), 1))
        if self.d_model % self.n_heads:
            raise ConfigError(
                f"Seq2SeqConfig.d_model ({self.d_model}) must be divisible by n_heads "
                f"({self.n_heads}): each head gets d_model / n_heads dimensions."
            )
        self.dropout = check_number("Seq2SeqConfig.dropout", self.dropout, 0.0, 0.99)
        self.layer_norm_eps = check_number(
            "Seq2SeqConfig.layer_norm_eps", self.layer_norm_eps, 0.0, 1.0, above=True
        )
        ids = {}
        for name in ("pad_id", "bos_id", "eos_id"):
            value = check_int(
                f"Seq2SeqConfig.{name}", getattr(self, name), 0, self.vocab_size - 1,
                " Special token ids must be rows of the embedding matrix.",
            )  # fmt: skip
            setattr(self, name, value)
            ids[name] = value
        if len(set(ids.values())) != 3:
            raise ConfigError(f"pad_id, bos_id and eos_id must be three different ids, got {ids}.")

    @property
    def head_dim(self) -> int:
        """Dimensions per attention head."""
        return self.d_model // self.n_heads

    def to_dict(self) -> dict[str, Any]:
        """All fields as a JSON-ready dict (what config.json stores)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Seq2SeqConfig:
        """The config stored by :meth:`to_dict`; an unknown key is a :class:`ConfigError`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"Unknown Seq2SeqConfig fields {unknown}; known: {sorted(known)}.")
        return cls(**data)
