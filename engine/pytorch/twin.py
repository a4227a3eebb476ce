"""The same model in PyTorch, with the engine's weights: the reference every number of
the whole model is checked against (``tutor check``, the tests)."""

from __future__ import annotations

import math
import warnings

import numpy as np

from engine.model import Transformer, positional_encoding
from engine.pytorch import import_torch
from engine.pytorch.match import Match, match

__all__ = ["TorchTwin", "compare"]


class TorchTwin:
    """``torch.nn.Transformer(batch_first=True, dropout=0.0)`` in float64 plus the
    embeddings, positions and generator, loaded with an engine model's weights."""

    def __init__(self, model: Transformer):
        torch = self.torch = import_torch()
        c = self.config = model.config
        nn = torch.nn
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.transformer = nn.Transformer(
                d_model=c.d_model, nhead=c.n_heads, num_encoder_layers=c.n_encoder_layers,
                num_decoder_layers=c.n_decoder_layers, dim_feedforward=c.d_ff, dropout=0.0,
                batch_first=True, dtype=torch.float64)
        self.src_embed = nn.Embedding(c.vocab_size, c.d_model, dtype=torch.float64)
        self.tgt_embed = nn.Embedding(c.vocab_size, c.d_model, dtype=torch.float64)
        self.generator = nn.Linear(c.d_model, c.vocab_size, dtype=torch.float64)
        self.modules = nn.ModuleDict({"transformer": self.transformer, "src_embed": self.src_embed,
                                      "tgt_embed": self.tgt_embed, "generator": self.generator})
        self.pe = torch.tensor(positional_encoding(c.max_len, c.d_model))
        self.load(model.torch_state_dict())

    def load(self, state: dict[str, np.ndarray]) -> None:
        torch = self.torch
        with torch.no_grad():
            for name, param in self.named_parameters().items():
                param.copy_(torch.from_numpy(np.asarray(state[name])))

    def named_parameters(self) -> dict:
        """Parameters under the names ``Transformer.torch_state_dict`` uses."""
        params = {f"{n}": p for n, p in self.transformer.named_parameters()}
        for prefix in ("src_embed", "tgt_embed", "generator"):
            for n, p in getattr(self, prefix).named_parameters():
                params[f"{prefix}.{n}"] = p
        return params

    def tensor(self, array):
        return self.torch.as_tensor(np.asarray(array))

    def logits(self, src, tgt_in):
        torch = self.torch
        src, tgt_in = self.tensor(src), self.tensor(tgt_in)
        scale = math.sqrt(self.config.d_model)
        s = self.src_embed(src) * scale + self.pe[: src.shape[1]]
        t = self.tgt_embed(tgt_in) * scale + self.pe[: tgt_in.shape[1]]
        mask = torch.nn.Transformer.generate_square_subsequent_mask(
            tgt_in.shape[1], dtype=torch.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = self.transformer(s, t, tgt_mask=mask)
        return self.generator(out)

    def loss_and_grads(self, src, tgt_in, tgt_out) -> tuple[float, dict[str, np.ndarray]]:
        """Loss and every parameter's gradient, by torch autograd."""
        torch = self.torch
        for p in self.modules.parameters():
            p.grad = None
        logits = self.logits(src, tgt_in)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 self.tensor(tgt_out).reshape(-1))
        loss.backward()
        grads = {n: p.grad.detach().numpy().copy() for n, p in self.named_parameters().items()}
        return float(loss.detach()), grads

    def generate(self, src, start_token: int, steps: int) -> np.ndarray:
        """Greedy decoding, one token at a time."""
        torch = self.torch
        tokens = np.full((np.asarray(src).shape[0], 1), start_token, dtype=np.int64)
        with torch.no_grad():
            for _ in range(steps):
                logits = self.logits(src, tokens)
                chosen = logits[:, -1].argmax(dim=-1).numpy()
                tokens = np.concatenate([tokens, chosen[:, None]], axis=1)
        return tokens


def compare(model: Transformer, src, tgt_in, tgt_out,
            twin: TorchTwin | None = None) -> list[Match]:
    """Engine vs torch on one batch: the loss first, then every parameter's gradient
    under torch's names, each judged by the one rule (``engine.pytorch.match``)."""
    run = model.run(src, tgt_in, tgt_out)
    twin = twin or TorchTwin(model)
    torch_loss, torch_grads = twin.loss_and_grads(src, tgt_in, tgt_out)
    matches = [match("loss", run.loss, torch_loss)]
    for name, engine_grad in model.torch_state_dict(run.grads).items():
        matches.append(match(name, engine_grad, torch_grads[name], keep_values=False))
    return matches
