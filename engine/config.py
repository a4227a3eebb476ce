"""The model's sizes, and the checks that catch an impossible one before any work."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from numbers import Integral

import numpy as np


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of an encoder–decoder transformer (names as in ``torch.nn.Transformer``)."""

    vocab_size: int = 12
    d_model: int = 32
    n_heads: int = 4
    d_ff: int = 64
    n_encoder_layers: int = 2
    n_decoder_layers: int = 2
    max_len: int = 16

    def __post_init__(self):
        for field, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, Integral):
                raise ValueError(f"ModelConfig.{field} must be a whole number, got {value!r}")
            if value < 1:
                raise ValueError(f"ModelConfig.{field} must be at least 1, got {value}")
        if self.d_model % self.n_heads:
            raise ValueError(f"ModelConfig.d_model ({self.d_model}) must be divisible by "
                             f"n_heads ({self.n_heads}): each head gets d_model / n_heads dims")

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every parameter's name and shape, in a fixed order (no memory used)."""
        d, f, v = self.d_model, self.d_ff, self.vocab_size
        shapes: dict[str, tuple[int, ...]] = {"src_embed.weight": (v, d), "tgt_embed.weight": (v, d)}

        def attention(prefix):
            for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
                shapes[f"{prefix}.{proj}.weight"] = (d, d)
                shapes[f"{prefix}.{proj}.bias"] = (d,)

        def feed_forward_and_norms(prefix, norms):
            shapes[f"{prefix}.linear1.weight"] = (f, d)
            shapes[f"{prefix}.linear1.bias"] = (f,)
            shapes[f"{prefix}.linear2.weight"] = (d, f)
            shapes[f"{prefix}.linear2.bias"] = (d,)
            for n in range(1, norms + 1):
                shapes[f"{prefix}.norm{n}.weight"] = (d,)
                shapes[f"{prefix}.norm{n}.bias"] = (d,)

        for i in range(self.n_encoder_layers):
            attention(f"encoder.layers.{i}.self_attn")
            feed_forward_and_norms(f"encoder.layers.{i}", 2)
        shapes["encoder.norm.weight"] = (d,)
        shapes["encoder.norm.bias"] = (d,)
        for i in range(self.n_decoder_layers):
            attention(f"decoder.layers.{i}.self_attn")
            attention(f"decoder.layers.{i}.cross_attn")
            feed_forward_and_norms(f"decoder.layers.{i}", 3)
        shapes["decoder.norm.weight"] = (d,)
        shapes["decoder.norm.bias"] = (d,)
        shapes["generator.weight"] = (v, d)
        shapes["generator.bias"] = (v,)
        return shapes

    def parameter_count(self, include_embeddings: bool = True) -> int:
        skip = () if include_embeddings else ("src_embed.", "tgt_embed.", "generator.")
        return sum(math.prod(s) for n, s in self.parameter_shapes().items()
                   if not n.startswith(skip))


LIMITS = {"vocab_size": 10_000, "d_model": 1024, "n_heads": 64, "d_ff": 4096,
          "n_encoder_layers": 12, "n_decoder_layers": 12, "max_len": 512}
MAX_PARAMETERS = 10_000_000  # 80 MB of float64: far beyond the tutor's models, short of a stall


def check_size(config: ModelConfig) -> ModelConfig:
    """``config`` if the tutor can build and run it in memory, else ValueError naming the
    size that is too large: checked before any array is allocated."""
    for name, high in LIMITS.items():
        value = getattr(config, name)
        if value > high:
            raise ValueError(f"ModelConfig.{name} must be at most {high}, got {value}")
    count = config.parameter_count()
    if count > MAX_PARAMETERS:
        raise ValueError(f"the model would have {count:,} parameters; the tutor allows at most "
                         f"{MAX_PARAMETERS:,}")
    return config


class TokenError(ValueError):
    """Token ids that cannot be used; ``reason`` says why without naming them, so a
    caller can name them its own way (``--src``, ``scenario.tgt``)."""

    def __init__(self, name: str, reason: str):
        self.name, self.reason = name, reason
        super().__init__(f"{name}: {reason}")


def check_tokens(name: str, ids, config: ModelConfig) -> np.ndarray:
    """A (B, T) int64 array of token ids in [0, vocab_size) no longer than max_len, or
    ``TokenError``."""
    try:
        array = np.asarray(ids)
    except (ValueError, TypeError):
        raise TokenError(name, "must be rows of token ids of one length") from None
    if array.dtype.kind == "f":
        bad = array[~np.isfinite(array) | (array != np.round(array))] if array.size else array
        if bad.size:
            raise TokenError(name, f"token ids must be whole numbers, got {bad.flat[0]:g}")
        array = array.astype(np.int64)
    elif array.dtype.kind == "b" or array.dtype.kind not in "iu":
        raise TokenError(name, f"token ids must be whole numbers, got {array.dtype} values")
    if array.ndim != 2:
        raise TokenError(name, f"must have shape (batch, length), got shape {array.shape}")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise TokenError(name, f"is empty: shape {array.shape}")
    if array.shape[1] > config.max_len:
        raise TokenError(name, f"has length {array.shape[1]}, longer than max_len "
                               f"{config.max_len}")
    low, high = int(array.min()), int(array.max())
    if low < 0 or high >= config.vocab_size:
        bad = low if low < 0 else high
        raise TokenError(name, f"token {bad} is outside [0, {config.vocab_size - 1}] "
                               f"(vocab_size {config.vocab_size})")
    return array.astype(np.int64, copy=False)
