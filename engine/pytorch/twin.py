"""The same model in PyTorch, with the engine's weights: the reference every number
is checked against. Torch is imported only when a twin is built.

Two levels of proof: ``TorchTwin``/``compare`` run the whole model in
``torch.nn.Transformer``; ``twin_forward``/``twin_backward``/``check_every_step``
replay each recorded node alone with its op's ``torch_forward``, and
``replay_torch`` rebuilds any tape end to end in torch autograd. The torch spelling of
nodes and activations (``torch_line``, ``activation_torch_name``) lives in
``engine.pytorch.names`` and is re-exported here."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from engine.model import Transformer, positional_encoding
from engine.pytorch.names import activation_torch_name, python_name, torch_line, torch_operands

__all__ = ["TorchMissing", "import_torch", "TorchTwin", "compare", "max_abs_diff",
           "twin_forward", "twin_backward", "StepCheck", "CheckReport", "check_every_step",
           "replay_torch", "activation_torch_name", "python_name", "torch_line",
           "torch_operands"]


class TorchMissing(RuntimeError):
    """PyTorch is not installed; the message says how to install it."""


def import_torch():
    try:
        import torch
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise TorchMissing("PyTorch is not installed. Install it with: "
                           "pip install 'transformer-tutor[torch]'  "
                           "(on a CPU-only machine: pip install torch --index-url "
                           "https://download.pytorch.org/whl/cpu)") from error
    return torch


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


def compare(model: Transformer, src, tgt_in, tgt_out, twin: TorchTwin | None = None):
    """Engine vs torch: [(name, max abs error, max relative error)], loss first."""
    run = model.run(src, tgt_in, tgt_out)
    twin = twin or TorchTwin(model)
    torch_loss, torch_grads = twin.loss_and_grads(src, tgt_in, tgt_out)
    loss_error = abs(run.loss - torch_loss)
    rows = [("loss", loss_error, loss_error / max(abs(torch_loss), 1e-300))]
    for name, engine_grad in model.torch_state_dict(run.grads).items():
        ref = torch_grads[name]
        abs_err = float(np.max(np.abs(engine_grad - ref)))
        rel_err = abs_err / max(float(np.max(np.abs(ref))), 1e-300)
        rows.append((name, abs_err, rel_err))
    return rows


# ---------------------------------------------------------------------------
# Op by op: every recorded node replayed alone in torch.
# ---------------------------------------------------------------------------

def max_abs_diff(a, b) -> float:
    """max |a − b| over all elements; equal infinities (a masked −∞) count as 0 and a
    shape mismatch or a NaN on one side only as ∞."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    with np.errstate(invalid="ignore"):
        diff = np.where(same, 0.0, np.abs(a - b))
    return float(np.where(np.isnan(diff), np.inf, diff).max())


def _leaf(torch, value, requires_grad: bool = False):
    """A fresh torch tensor holding a copy of a recorded value (dtype kept: float64
    stays float64, token ids stay integers)."""
    tensor = torch.tensor(np.array(value, copy=True))
    return tensor.requires_grad_(True) if requires_grad else tensor


def _check_values(node) -> None:
    if getattr(node.output.tape, "shapes_only", False):
        raise ValueError("this record holds shapes only, no values: nothing to replay")


def _run_op(torch, node, xs):
    return node.op.torch_forward(torch, *xs, **node.attrs)


def twin_forward(node) -> tuple[np.ndarray, float]:
    """Run ``node``'s op in torch on its recorded inputs: (torch's value, max |engine − torch|)."""
    torch = import_torch()
    _check_values(node)
    xs = [_leaf(torch, t.value) for t in node.inputs]
    with torch.no_grad():
        y = _run_op(torch, node, xs)
    value = y.detach().numpy().copy()
    return value, max_abs_diff(node.output.value, value)


def twin_backward(step) -> list[tuple[int, np.ndarray, float]]:
    """The backward step redone by torch on that node alone.

    The node's inputs become fresh leaves, the op runs forward, and
    ``torch.autograd.grad(y, inputs, grad_outputs=upstream)`` gives ∂L/∂y · ∂y/∂x for
    each input that received a contribution: [(input_index, torch's value, max diff)].
    """
    torch = import_torch()
    node = step.node
    _check_values(node)
    wanted = [c.input_index for c in step.contributions]
    xs = [_leaf(torch, t.value, requires_grad=i in wanted) for i, t in enumerate(node.inputs)]
    if not wanted:
        return []
    y = _run_op(torch, node, xs)
    upstream = torch.tensor(np.array(step.upstream, dtype=float, copy=True), dtype=y.dtype)
    grads = torch.autograd.grad(y, [xs[i] for i in wanted], grad_outputs=upstream,
                                allow_unused=True)
    out = []
    for c, g in zip(step.contributions, grads):
        value = (np.zeros(np.shape(node.inputs[c.input_index].value)) if g is None
                 else g.detach().numpy().copy())
        out.append((c.input_index, value, max_abs_diff(c.value, value)))
    return out


@dataclass(frozen=True)
class StepCheck:
    """One step checked: ``phase`` "forward" (``index`` is the node index) or
    "backward" (``index`` is the backward step index)."""

    phase: str
    index: int
    name: str
    op: str
    max_abs_diff: float
    scale: float  # max |torch value| of what was compared
    ok: bool
    skipped: bool = False  # a recorded step with no op to replay (see engine.pytorch.record)


@dataclass
class CheckReport:
    """Every step of a tape against torch. A step passes when
    max |engine − torch| ≤ tolerance · max(1, max |torch value|): absolute for values
    of order one, relative for large ones."""

    tolerance: float
    steps: list[StepCheck] = field(default_factory=list)

    @property
    def forward(self) -> list[StepCheck]:
        return [s for s in self.steps if s.phase == "forward"]

    @property
    def backward(self) -> list[StepCheck]:
        return [s for s in self.steps if s.phase == "backward"]

    @property
    def first_mismatch(self) -> StepCheck | None:
        return next((s for s in self.steps if not s.ok), None)

    @property
    def ok(self) -> bool:
        return self.first_mismatch is None

    @property
    def skipped(self) -> list[StepCheck]:
        return [s for s in self.steps if s.skipped]

    @property
    def max_diff(self) -> float:
        return max((s.max_abs_diff for s in self.steps), default=0.0)

    def summary(self) -> str:
        bad = self.first_mismatch
        head = (f"{len(self.forward)} forward and {len(self.backward)} backward steps against "
                f"PyTorch: largest difference {self.max_diff:.2e}")
        if self.skipped:
            head += f" ({len(self.skipped)} with no op to replay, skipped)"
        if bad is None:
            return f"{head}, all within {self.tolerance:g}"
        return (f"{head}; first mismatch at {bad.phase} step {bad.index} {bad.name} "
                f"({bad.op}): {bad.max_abs_diff:.3g} > {self.tolerance:g}")


def _finite_scale(*arrays) -> float:
    scale = 0.0
    for a in arrays:
        a = np.asarray(a, dtype=float)
        finite = a[np.isfinite(a)]
        if finite.size:
            scale = max(scale, float(np.abs(finite).max()))
    return scale


def _check_forward(node, passes) -> StepCheck:
    if not getattr(node.op, "replayable", True):
        return StepCheck("forward", node.index, node.name, node.op.name, 0.0, 0.0, True,
                         skipped=True)
    value, diff = twin_forward(node)
    scale = _finite_scale(value)
    return StepCheck("forward", node.index, node.name, node.op.name, diff, scale,
                     passes(diff, scale))


def _check_backward(step, passes) -> StepCheck:
    node = step.node
    if not getattr(node.op, "replayable", True):
        return StepCheck("backward", step.index, node.name, node.op.name, 0.0, 0.0, True,
                         skipped=True)
    results = twin_backward(step)
    diff = max((d for _, _, d in results), default=0.0)
    scale = _finite_scale(*(v for _, v, _ in results))
    return StepCheck("backward", step.index, node.name, node.op.name, diff, scale,
                     passes(diff, scale))


def check_every_step(tape, tolerance: float = 1e-10, progress=None) -> CheckReport:
    """Replay every forward node and every backward step of ``tape`` in torch, one at a
    time, on the recorded inputs. ``progress(i, n)`` is called after each of the n steps.

    (On a record of a PyTorch model with dropout the random ops disagree, as they must.)"""
    report = CheckReport(tolerance)

    def passes(diff, scale):
        return diff <= tolerance * max(1.0, scale)

    jobs = [(_check_forward, n) for n in tape.nodes] + [(_check_backward, s) for s in tape.steps]
    for done, (check, item) in enumerate(jobs, 1):
        report.steps.append(check(item, passes))
        if progress is not None:
            progress(done, len(jobs))
    return report


def replay_torch(tape) -> dict[int, tuple[np.ndarray, np.ndarray | None]]:
    """The whole graph rebuilt in torch from the leaves, then ``backward`` from ``tape.loss``.

    Returns {tensor id: (value, gradient)} with gradients computed by torch autograd
    alone (``retain_grad`` on every activation): ``None`` for a tensor that needs no
    gradient, zeros for one the loss does not depend on (the engine's convention).
    """
    torch = import_torch()
    if getattr(tape, "shapes_only", False):
        raise ValueError("this record holds shapes only, no values: nothing to replay")
    values = {}
    for t in tape.tensors:
        if t.node is None:
            floating = np.asarray(t.value).dtype.kind == "f"
            values[t.id] = _leaf(torch, t.value, requires_grad=t.requires_grad and floating)
            continue
        node = t.node
        y = _run_op(torch, node, [values[x.id] for x in node.inputs])
        if y.requires_grad:
            y.retain_grad()
        values[t.id] = y
    if tape.loss is not None:
        loss = values[tape.loss.id]
        first = tape.steps[0] if tape.steps else None
        seed = (first.upstream if first is not None and first.node.output is tape.loss
                else np.ones(np.shape(tape.loss.value)))
        if loss.requires_grad:
            loss.backward(torch.tensor(np.array(seed, dtype=float, copy=True), dtype=loss.dtype))
    out = {}
    for t in tape.tensors:
        v = values[t.id]
        grad = None
        if tape.loss is not None and t.requires_grad:
            grad = (v.grad.detach().numpy().copy() if v.grad is not None
                    else np.zeros(np.shape(t.value)))
        out[t.id] = (v.detach().numpy().copy(), grad)
    return out

