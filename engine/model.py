"""The encoder–decoder transformer, built only from the tape's ops.

Defined to equal ``torch.nn.Transformer(batch_first=True, dropout=0.0)`` (post-norm,
ReLU, layer-norm eps 1e-5, a final LayerNorm after each stack) with, around it:
token embeddings × √d_model + sinusoidal positions, a causal mask on decoder
self-attention, a generator Linear(d_model, vocab) and mean cross-entropy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from engine.config import ModelConfig, check_tokens
from engine.buffers import BufferPool
from engine.lean import LeanTape
from engine.tape import Tape, Tensor

LN_EPS = 1e-5


def positional_encoding(max_len: int, d_model: int) -> np.ndarray:
    """PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(pos / 10000^(2i/d))."""
    pos = np.arange(max_len)[:, None]
    two_i = np.arange(0, d_model, 2)
    angle = pos / 10000.0 ** (two_i / d_model)
    pe = np.zeros((max_len, d_model))
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle[:, : d_model // 2])
    return pe


def causal_mask(length: int) -> np.ndarray:
    """True above the diagonal: position t may not look at positions after t."""
    return np.triu(np.ones((length, length), dtype=bool), k=1)


class Run(NamedTuple):
    """One recorded forward + backward pass."""

    tape: Tape
    loss: float
    logits: np.ndarray
    grads: dict[str, np.ndarray]
    params: dict[str, Tensor]
    src: np.ndarray
    tgt_in: np.ndarray
    tgt_out: np.ndarray


class DecodeStep(NamedTuple):
    """One generated token: what the decoder read, the distribution at the last position
    and the pick. On a recorded decoding, ``nodes`` are the tape's node indices of this
    pass and ``probs_node`` the softmax that gave ``probs``."""

    position: int
    probs: np.ndarray  # (B, vocab) at the newest position
    chosen: np.ndarray  # (B,)
    prefix: np.ndarray | None = None  # (B, position): the tokens the decoder read
    logits: np.ndarray | None = None  # (B, vocab) at the newest position
    temperature: float | None = None  # None: greedy
    nodes: range | None = None
    probs_node: int | None = None


@dataclass
class Decoding:
    tokens: np.ndarray  # (B, 1 + steps), starting with the start token
    steps: list[DecodeStep] = field(default_factory=list)
    tape: Tape | None = None


class Transformer:
    """``Transformer(config, seed=0)``: deterministic weights; ``run`` records a pass."""

    def __init__(self, config: ModelConfig, seed: int = 0, params: dict | None = None):
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a whole number ≥ 0, got {seed!r}")
        self.config = config
        self.seed = seed
        self.pe = positional_encoding(config.max_len, config.d_model)
        self.buffers = BufferPool()  # big arrays reused from one run to the next
        self.params = self._check_params(params) if params is not None else self._init(seed)

    # weights --------------------------------------------------------------
    def _init(self, seed: int) -> dict[str, np.ndarray]:
        """Xavier-uniform matrices; torch's default uniform for the feed-forward and
        generator biases; zero attention biases; LayerNorm γ = 1, β = 0."""
        rng = np.random.default_rng(seed)
        params = {}
        for name, shape in self.config.parameter_shapes().items():
            if len(shape) == 2:
                bound = math.sqrt(6.0 / (shape[0] + shape[1]))
                params[name] = rng.uniform(-bound, bound, shape)
            elif ".norm" in name or name.startswith(("encoder.norm", "decoder.norm")):
                params[name] = np.ones(shape) if name.endswith("weight") else np.zeros(shape)
            elif "_proj.bias" in name:
                params[name] = np.zeros(shape)
            else:
                fan_in = self.config.parameter_shapes()[name.replace(".bias", ".weight")][1]
                bound = 1.0 / math.sqrt(fan_in)
                params[name] = rng.uniform(-bound, bound, shape)
        return params

    def _check_params(self, params: dict) -> dict[str, np.ndarray]:
        shapes = self.config.parameter_shapes()
        missing = [n for n in shapes if n not in params]
        if missing:
            raise ValueError(f"weights are missing parameter {missing[0]!r} "
                             f"({len(missing)} missing in all)")
        checked = {}
        for name, shape in shapes.items():
            value = np.asarray(params[name], dtype=np.float64)
            if value.shape != shape:
                raise ValueError(f"parameter {name!r} has shape {value.shape}, expected {shape}")
            if not np.all(np.isfinite(value)):
                raise ValueError(f"parameter {name!r} holds non-finite values")
            checked[name] = value
        return checked

    def with_params(self, params: dict[str, np.ndarray]) -> "Transformer":
        """The same architecture with other weights (the original is untouched)."""
        return Transformer(self.config, self.seed, params)

    # the forward pass, recorded --------------------------------------------
    def check_inputs(self, src, tgt_in, tgt_out=None):
        src = check_tokens("src", src, self.config)
        tgt_in = check_tokens("tgt_in", tgt_in, self.config)
        if tgt_in.shape[0] != src.shape[0]:
            raise ValueError(f"tgt_in has batch size {tgt_in.shape[0]} but src has "
                             f"{src.shape[0]}")
        if tgt_out is not None:
            tgt_out = check_tokens("tgt_out", tgt_out, self.config)
            if tgt_out.shape != tgt_in.shape:
                raise ValueError(f"tgt_out has shape {tgt_out.shape} but tgt_in has "
                                 f"{tgt_in.shape}; they must match")
        return src, tgt_in, tgt_out

    def bind(self, tape: Tape) -> dict[str, Tensor]:
        """Put every parameter on the tape as a named leaf."""
        return {name: tape.param(name, value) for name, value in self.params.items()}

    def embed(self, tape: Tape, P, ids: Tensor, which: str) -> Tensor:
        """x = E[ids] · √d_model + PE[:T]"""
        d = self.config.d_model
        length = ids.shape[1]
        with tape.scope(f"{which}_embed"):
            x = tape.embedding(ids, P[f"{which}_embed.weight"], label="lookup")
            x = tape.scale(x, math.sqrt(d), label="scale")
            pe = tape.constant(f"positional_encoding[:{length}]", self.pe[:length])
            return tape.add(x, pe, label="add_position")

    def attention(self, tape: Tape, P, prefix: str, x: Tensor, memory: Tensor,
                  mask: np.ndarray | None) -> Tensor:
        """softmax(Q Kᵀ / √dₖ [+ mask]) V per head, heads concatenated, then W_o."""
        h, dk = self.config.n_heads, self.config.d_head
        q = tape.linear(x, P[f"{prefix}.q_proj.weight"], P[f"{prefix}.q_proj.bias"], "q_proj")
        k = tape.linear(memory, P[f"{prefix}.k_proj.weight"], P[f"{prefix}.k_proj.bias"], "k_proj")
        v = tape.linear(memory, P[f"{prefix}.v_proj.weight"], P[f"{prefix}.v_proj.bias"], "v_proj")
        qh = tape.split_heads(q, h, "q_heads")
        kh = tape.split_heads(k, h, "k_heads")
        vh = tape.split_heads(v, h, "v_heads")
        scores = tape.matmul(qh, tape.transpose(kh, -2, -1, "k_transposed"), "scores")
        scores = tape.scale(scores, 1.0 / math.sqrt(dk), "scaled_scores")
        if mask is not None:
            scores = tape.masked_fill(scores, mask, -np.inf, "causal_mask")
        weights = tape.softmax(scores, "weights")
        context = tape.matmul(weights, vh, "context")
        merged = tape.merge_heads(context, "concat_heads")
        return tape.linear(merged, P[f"{prefix}.out_proj.weight"], P[f"{prefix}.out_proj.bias"],
                           "out_proj")

    def add_norm(self, tape: Tape, P, prefix: str, x: Tensor, sublayer: Tensor) -> Tensor:
        """LayerNorm(x + sublayer(x)): the residual add, then normalise (post-norm)."""
        y = tape.add(x, sublayer, "residual")
        return tape.layer_norm(y, P[f"{prefix}.weight"], P[f"{prefix}.bias"], LN_EPS, "layer_norm")

    def feed_forward(self, tape: Tape, P, prefix: str, x: Tensor) -> Tensor:
        """linear2(relu(linear1(x)))"""
        hidden = tape.linear(x, P[f"{prefix}.linear1.weight"], P[f"{prefix}.linear1.bias"], "linear1")
        hidden = tape.relu(hidden, "relu")
        return tape.linear(hidden, P[f"{prefix}.linear2.weight"], P[f"{prefix}.linear2.bias"],
                           "linear2")

    def encoder_layer(self, tape: Tape, P, p: str, x: Tensor) -> Tensor:
        """x = LayerNorm(x + SelfAttn(x)); x = LayerNorm(x + FF(x)). ``p`` prefixes the
        layer's parameter names (``encoder.layers.0``)."""
        with tape.scope("self_attn"):
            a = self.attention(tape, P, f"{p}.self_attn", x, x, None)
        with tape.scope("add_norm1"):
            x = self.add_norm(tape, P, f"{p}.norm1", x, a)
        with tape.scope("ff"):
            f = self.feed_forward(tape, P, p, x)
        with tape.scope("add_norm2"):
            return self.add_norm(tape, P, f"{p}.norm2", x, f)

    def decoder_layer(self, tape: Tape, P, p: str, x: Tensor, memory: Tensor,
                      mask: np.ndarray) -> Tensor:
        """x = LayerNorm(x + MaskedSelfAttn(x)); x = LayerNorm(x + CrossAttn(x, memory));
        x = LayerNorm(x + FF(x))."""
        with tape.scope("self_attn"):
            a = self.attention(tape, P, f"{p}.self_attn", x, x, mask)
        with tape.scope("add_norm1"):
            x = self.add_norm(tape, P, f"{p}.norm1", x, a)
        with tape.scope("cross_attn"):
            c = self.attention(tape, P, f"{p}.cross_attn", x, memory, None)
        with tape.scope("add_norm2"):
            x = self.add_norm(tape, P, f"{p}.norm2", x, c)
        with tape.scope("ff"):
            f = self.feed_forward(tape, P, p, x)
        with tape.scope("add_norm3"):
            return self.add_norm(tape, P, f"{p}.norm3", x, f)

    def encode(self, tape: Tape, P, src: Tensor) -> Tensor:
        x = self.embed(tape, P, src, "src")
        with tape.scope("encoder"):
            for i in range(self.config.n_encoder_layers):
                with tape.scope(f"layers.{i}"):
                    x = self.encoder_layer(tape, P, f"encoder.layers.{i}", x)
            return tape.layer_norm(x, P["encoder.norm.weight"], P["encoder.norm.bias"], LN_EPS,
                                   "norm")

    def decode(self, tape: Tape, P, memory: Tensor, tgt: Tensor) -> Tensor:
        x = self.embed(tape, P, tgt, "tgt")
        mask = causal_mask(tgt.shape[1])
        with tape.scope("decoder"):
            for i in range(self.config.n_decoder_layers):
                with tape.scope(f"layers.{i}"):
                    x = self.decoder_layer(tape, P, f"decoder.layers.{i}", x, memory, mask)
            return tape.layer_norm(x, P["decoder.norm.weight"], P["decoder.norm.bias"], LN_EPS,
                                   "norm")

    def forward(self, tape: Tape, P, src: np.ndarray, tgt_in: np.ndarray) -> Tensor:
        """Record the forward pass up to the logits (B, T, vocab)."""
        memory = self.encode(tape, P, tape.input("src", src, requires_grad=False))
        out = self.decode(tape, P, memory, tape.input("tgt_in", tgt_in, requires_grad=False))
        return tape.linear(out, P["generator.weight"], P["generator.bias"], "generator")

    def run(self, src, tgt_in, tgt_out) -> Run:
        """Forward, loss and backward, all recorded on one tape."""
        src, tgt_in, tgt_out = self.check_inputs(src, tgt_in, tgt_out)
        tape = Tape()
        P = self.bind(tape)
        with self.buffers.active():
            logits = self.forward(tape, P, src, tgt_in)
            loss = tape.cross_entropy(logits, tape.input("tgt_out", tgt_out,
                                                         requires_grad=False), "loss")
            tape.backward(loss)
        grads = {name: t.grad for name, t in P.items()}
        return Run(tape, float(loss.value), logits.value, grads, P, src, tgt_in, tgt_out)

    def loss(self, src, tgt_in, tgt_out) -> float:
        """The loss alone (forward only): what a nudge re-measures."""
        src, tgt_in, tgt_out = self.check_inputs(src, tgt_in, tgt_out)
        tape = Tape()
        with self.buffers.active():
            logits = self.forward(tape, self.bind(tape), src, tgt_in)
            return float(tape.cross_entropy(logits, tgt_out, "loss").value)

    def logits(self, src, tgt_in) -> np.ndarray:
        src, tgt_in, _ = self.check_inputs(src, tgt_in)
        tape = Tape()
        with self.buffers.active():
            return self.forward(tape, self.bind(tape), src, tgt_in).value

    # decoding ----------------------------------------------------------------
    def generate(self, src, start_token: int, steps: int, temperature: float | None = None,
                 rng: np.random.Generator | None = None, record: bool = True) -> Decoding:
        """Generate ``steps`` tokens after ``start_token``, one at a time.

        Greedy (argmax) when ``temperature`` is None; otherwise sample from
        softmax(logits / temperature). The encoder runs once; each new token runs
        the decoder again on the longer prefix, so the causal mask grows by one.
        Every op is recorded on ``Decoding.tape``; ``record=False`` runs the same ops
        on a ``LeanTape`` that keeps nothing (measuring accuracy: same tokens, less time).
        """
        src, _, _ = self.check_inputs(src, np.zeros((np.asarray(src).shape[0], 1), dtype=int))
        if not 0 <= start_token < self.config.vocab_size:
            raise ValueError(f"start_token {start_token} is outside [0, "
                             f"{self.config.vocab_size - 1}]")
        if steps < 1 or steps + 1 > self.config.max_len:
            raise ValueError(f"steps must be in [1, {self.config.max_len - 1}] "
                             f"(max_len {self.config.max_len}), got {steps}")
        if temperature is not None and not (temperature > 0 and math.isfinite(temperature)):
            raise ValueError(f"temperature must be a positive number, got {temperature}")
        rng = rng or np.random.default_rng(0)
        tape = Tape() if record else LeanTape(for_backward=False)
        P = self.bind(tape)
        memory = self.encode(tape, P, tape.input("src", src, requires_grad=False))
        tokens = np.full((src.shape[0], 1), start_token, dtype=np.int64)
        decoding = Decoding(tokens, [], tape if record else None)
        for step in range(1, steps + 1):
            first = len(tape.nodes)
            with tape.scope(f"token_{step}"):
                tgt = tape.input(f"prefix_{step}", tokens, requires_grad=False)
                out = self.decode(tape, P, memory, tgt)
                logits = tape.linear(out, P["generator.weight"], P["generator.bias"], "generator")
                if temperature is None:
                    probs = tape.softmax(logits, "probs")
                    chosen = tape.argmax(probs, "argmax").value[:, -1]
                else:
                    probs = tape.softmax(tape.scale(logits, 1.0 / temperature, "temperature"),
                                         "probs")
                    last = probs.value[:, -1]
                    chosen = np.array([rng.choice(len(p), p=p / p.sum()) for p in last])
            decoding.steps.append(DecodeStep(
                step, probs.value[:, -1].copy(), chosen, tokens, logits.value[:, -1].copy(),
                temperature, range(first, len(tape.nodes)) if record else None,
                probs.node.index if record else None))
            tokens = np.concatenate([tokens, chosen[:, None]], axis=1)
        decoding.tokens = tokens
        return decoding

    # the names PyTorch uses --------------------------------------------------
    def torch_state_dict(self, values: dict[str, np.ndarray] | None = None) -> dict:
        """Weights (or gradients, given ``run.grads``) under ``torch.nn.Transformer``'s names.

        Q, K and V are packed as torch packs them: ``in_proj_weight = [W_q; W_k; W_v]``.
        The decoder's cross-attention is torch's ``multihead_attn``.
        """
        values = self.params if values is None else values
        out = {}
        for name, value in values.items():
            torch_name = name.replace(".cross_attn.", ".multihead_attn.")
            if ".q_proj." in name:
                kind = name.rsplit(".", 1)[1]
                base = torch_name.split(".q_proj.")[0]
                stack = [values[name.replace(".q_proj.", f".{p}.")] for p in ("q_proj", "k_proj",
                                                                              "v_proj")]
                out[f"{base}.in_proj_{kind}"] = np.concatenate(stack, axis=0)
            elif ".k_proj." in name or ".v_proj." in name:
                continue
            else:
                out[torch_name] = value
        return out


class TorchLocation(NamedTuple):
    """Where an engine parameter lives in ``torch.nn.Transformer``: torch's name, and for
    Q, K and V the rows of the packed ``in_proj`` they occupy."""

    name: str
    rows: tuple[int, int] | None = None

    def __str__(self) -> str:
        return self.name if self.rows is None else f"{self.name}[{self.rows[0]}:{self.rows[1]}]"


def torch_location(engine_name: str, d_model: int) -> TorchLocation:
    """``…self_attn.k_proj.weight`` → ``…self_attn.in_proj_weight`` rows d..2d."""
    name = engine_name.replace(".cross_attn.", ".multihead_attn.")
    for offset, proj in enumerate(("q_proj", "k_proj", "v_proj")):
        if f".{proj}." in name:
            base, kind = name.split(f".{proj}.")
            return TorchLocation(f"{base}.in_proj_{kind}",
                                 (offset * d_model, (offset + 1) * d_model))
    return TorchLocation(name)
