"""Every size and switch of a GPT, checked when made. Introduced in chapter 7."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from lmkit.errors import ConfigError
from lmkit.validators import check_int, check_number, is_number

POS_ENCODINGS = ("learned", "sinusoidal", "rotary")


@dataclass
class GPTConfig:
    """Every size and switch of a :class:`GPT`. Defaults are GPT-2 small (124M parameters).

    Introduced in chapter 7.
    """

    vocab_size: int = 50257
    block_size: int = 1024  # longest context the model accepts
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True  # biases in Linear layers and LayerNorms, as GPT-2 has
    tie_weights: bool = True  # the output layer reuses the token embedding matrix
    pos_encoding: str = "learned"  # "learned" | "sinusoidal" | "rotary"
    layer_norm_eps: float = 1e-5
    gradient_checkpointing: bool = False  # recompute block activations in backward: less memory
    rotary_base: float = 10000.0  # only used by pos_encoding="rotary"

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            setattr(self, name, check_int(f"GPTConfig.{name}", getattr(self, name), minimum=1))
        for name in ("bias", "tie_weights", "gradient_checkpointing"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(
                    f"GPTConfig.{name} must be True or False, got {getattr(self, name)!r}."
                )
        if self.n_embd % self.n_head:
            raise ConfigError(
                f"GPTConfig.n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}): "
                f"each head gets n_embd / n_head dimensions. Try n_head in "
                f"{[h for h in range(1, min(self.n_embd, 64) + 1) if self.n_embd % h == 0]}."
            )
        if self.pos_encoding not in POS_ENCODINGS:
            raise ConfigError(
                f"GPTConfig.pos_encoding must be one of {POS_ENCODINGS}, got {self.pos_encoding!r}."
            )
        if self.pos_encoding == "rotary" and self.head_dim % 2:
            raise ConfigError(
                f"Rotary position encoding rotates pairs of dimensions, so the head size "
                f"n_embd / n_head must be even, got {self.n_embd} / {self.n_head} = {self.head_dim}."
            )
        if not is_number(self.dropout) or not 0.0 <= self.dropout < 1.0:
            raise ConfigError(
                f"GPTConfig.dropout must be a number in [0, 1), got {self.dropout!r}."
            )
        if not is_number(self.layer_norm_eps) or not 0.0 < self.layer_norm_eps < 1.0:
            raise ConfigError(
                f"GPTConfig.layer_norm_eps must be a small positive number (e.g. 1e-5), got "
                f"{self.layer_norm_eps!r}."
            )
        check_number("GPTConfig.rotary_base", self.rotary_base, minimum=1, above=True)

    @property
    def head_dim(self) -> int:
        """Size of one attention head: ``n_embd // n_head``."""
        return self.n_embd // self.n_head

    # GPT-2 sizes from the 2019 paper (as released by OpenAI); other fields may be overridden.
    @classmethod
    def gpt2_small(cls, **overrides: Any) -> GPTConfig:
        """GPT-2 small: 12 layers, 12 heads, 768 dims (124M parameters)."""
        return cls(**{"n_layer": 12, "n_head": 12, "n_embd": 768, **overrides})

    @classmethod
    def gpt2_medium(cls, **overrides: Any) -> GPTConfig:
        """GPT-2 medium: 24 layers, 16 heads, 1024 dims (355M parameters)."""
        return cls(**{"n_layer": 24, "n_head": 16, "n_embd": 1024, **overrides})

    @classmethod
    def gpt2_large(cls, **overrides: Any) -> GPTConfig:
        """GPT-2 large: 36 layers, 20 heads, 1280 dims (774M parameters)."""
        return cls(**{"n_layer": 36, "n_head": 20, "n_embd": 1280, **overrides})

    @classmethod
    def gpt2_xl(cls, **overrides: Any) -> GPTConfig:
        """GPT-2 XL: 48 layers, 25 heads, 1600 dims (1.5B parameters)."""
        return cls(**{"n_layer": 48, "n_head": 25, "n_embd": 1600, **overrides})

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of all fields (JSON-serialisable)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GPTConfig:
        """Rebuild a config from :meth:`to_dict` output; unknown keys raise :class:`ConfigError`."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"GPTConfig.from_dict expects a mapping, got {type(data).__name__}.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"Unknown GPTConfig field(s) {unknown}. Known fields: {sorted(known)}."
            )
        return cls(**dict(data))


__all__ = ["POS_ENCODINGS", "GPTConfig"]
