"""Is a recording of a learner's model faithful? (``tutor torch FILE --check``)

``check_model`` records the model, then runs it again the plain way — the same inputs,
the same parameters and buffers, the same random state, ``loss.backward()`` — and
compares the recorded loss and every parameter and input gradient with that run's
``.grad``. Then every replayable step is redone in torch op by op on its recorded inputs
(``engine.pytorch.steps``). Random steps are taken as recorded. Everything is judged by
the one rule of ``engine.pytorch.match``. The model is left as it was: parameters,
buffers, ``.grad`` and the random state are put back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.pytorch import import_torch
from engine.pytorch.match import TOLERANCE, Match, match, tolerance_for
from engine.pytorch.record import TorchRecord, record_module
from engine.pytorch.steps import CheckReport, check_every_step

__all__ = ["ModelCheck", "check_model", "check_record"]


@dataclass
class ModelCheck:
    """A recording checked: its steps op by op (``report``) and its loss and leaf
    gradients against a plain ``loss.backward()`` (``quantities``)."""

    record: TorchRecord
    report: CheckReport
    quantities: list[Match] = field(default_factory=list)

    @property
    def differing(self) -> list[Match]:
        return [m for m in self.quantities if not m.ok]

    @property
    def ok(self) -> bool:
        return self.report.ok and not self.differing

    def summary(self) -> str:
        """``N steps checked, M mismatches, K random steps taken as recorded; …``"""
        report = self.report
        grads = len(self.quantities) - 1
        head = (f"{len(report.compared)} steps checked, {len(report.mismatches)} mismatches, "
                f"{len(report.random)} random steps taken as recorded")
        plain = len(report.skipped) - len(report.random)
        if plain:
            head += f", {plain} with no op to replay"
        if not self.differing:
            return f"{head}; the loss and {grads} gradients match a plain loss.backward()"
        names = ", ".join(m.label for m in self.differing[:3])
        return (f"{head}; {len(self.differing)} of the loss and {grads} gradients differ from "
                f"a plain loss.backward() ({names})")

    def first_problem(self) -> str:
        """The first thing that did not match, in one line ("" when all did)."""
        step = self.report.first_mismatch
        if step is not None:
            return (f"first mismatch at {step.phase} step {step.index} {step.name} "
                    f"({step.op}): {step.reason}")
        if self.differing:
            m = self.differing[0]
            return (f"{m.label}: recorded and loss.backward() differ by {m.max_abs_diff:.3g} "
                    f"> allowed {m.allowed:.3g}")
        return ""


def _clone(torch, value):
    """Inputs copied as they are now (a model may change its input in place)."""
    if isinstance(value, torch.Tensor):
        copy = value.detach().clone()
        return copy.requires_grad_(value.requires_grad) if value.is_leaf else copy
    if isinstance(value, tuple):
        return tuple(_clone(torch, v) for v in value)
    if isinstance(value, list):
        return [_clone(torch, v) for v in value]
    if isinstance(value, dict):
        return {k: _clone(torch, v) for k, v in value.items()}
    return value


def _named_inputs(torch, inputs) -> dict:
    """The input tensors by the names the recorder gives them (``input``, ``input0``,
    keywords, ``input1_0`` inside a tuple)."""
    if isinstance(inputs, torch.Tensor):
        items = [("input", inputs)]
    elif isinstance(inputs, dict):
        items = list(inputs.items())
    else:
        items = [(f"input{i}", x) for i, x in enumerate(inputs)]
    out = {}
    while items:
        name, x = items.pop(0)
        if isinstance(x, torch.Tensor):
            out.setdefault(str(name), x)
        elif isinstance(x, (tuple, list)):
            items.extend((f"{name}_{j}", v) for j, v in enumerate(x))
    return out


def check_model(model, inputs, loss_fn=None, tolerance: float = TOLERANCE,
                progress=None) -> ModelCheck:
    """Record ``model`` and check the recording (see the module docstring). Errors of
    the model, ``RecordError`` and ``RecordFailure`` propagate as from ``record_module``."""
    torch = import_torch()
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    grads = {n: p.grad for n, p in model.named_parameters()}
    fresh = _clone(torch, inputs)
    rng = torch.get_rng_state()
    try:
        record = record_module(model, inputs, loss_fn)
        model.load_state_dict(state)
        torch.set_rng_state(rng)
        quantities = _against_backward(torch, model, fresh, loss_fn, record, tolerance)
    finally:
        model.load_state_dict(state)
        for n, p in model.named_parameters():
            p.grad = grads[n]
        torch.set_rng_state(rng)
    return ModelCheck(record, check_record(record, tolerance, progress), quantities)


def check_record(record, tolerance: float = TOLERANCE, progress=None) -> CheckReport:
    return check_every_step(record, tolerance, progress)


def _against_backward(torch, model, inputs, loss_fn, record, tolerance) -> list[Match]:
    """The plain run: forward, the loss, ``loss.backward()``; its loss and ``.grad``s
    beside the recorded ones."""
    from engine.pytorch.record import _call, _default_loss

    for p in model.parameters():
        p.grad = None
    with torch.enable_grad():
        output = _call(model, inputs)
        loss = _default_loss(torch, output)[0] if loss_fn is None else loss_fn(output)
    loss.backward()
    value = loss.detach().cpu().numpy()
    out = [match("loss", record.loss.value, value, tolerance_for([value], tolerance),
                 keep_values=False)]
    recorded = {t.name: t for t in record.tensors if t.kind in ("param", "input")
                and t.requires_grad}
    leaves = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    leaves += [(n, x) for n, x in _named_inputs(torch, inputs).items() if x.requires_grad]
    for name, tensor in leaves:
        reference = (np.zeros(tuple(tensor.shape)) if tensor.grad is None
                     else tensor.grad.detach().cpu().numpy())
        found = recorded.get(name)
        got = found.grad if found is not None else np.zeros(tuple(tensor.shape))
        out.append(match(f"∂L/∂{name}", got, reference,
                         tolerance_for([reference], tolerance), keep_values=False))
    return out
