"""Recording a PyTorch model op by op: the forward ops and autograd steps it writes,
checked against PyTorch's own forward values and ``.grad``."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from engine.timeline import Timeline  # noqa: E402
from engine.pytorch.record import (RecordError, RecordTooLarge, TorchRecord,  # noqa: E402
                                 record_module)
from engine.pytorch.steps import check_every_step  # noqa: E402

from tests.paths import ROOT
FIXTURES = ROOT / "tests" / "fixtures" / "torch_models"
F = torch.nn.functional


def load_fixture(name):
    spec = importlib.util.spec_from_file_location(f"fixture_{name}", FIXTURES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def mlp():
    return load_fixture("mlp").make()


def reference_grads(model, inputs, loss_fn):
    """``.grad`` from an ordinary forward and ``loss.backward()``."""
    model.zero_grad()
    loss_fn(model(inputs)).backward()
    return {n: p.grad.detach().numpy().copy() for n, p in model.named_parameters()}


def param_grads(record):
    return {t.name: t.grad for t in record.tensors if t.kind == "param"}


def test_importing_the_recorder_does_not_import_torch():
    code = ("import sys; import engine.pytorch.record, engine.pytorch.aten, engine.pytorch.backward; "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_the_mlp_records_the_expected_ops_in_order(mlp):
    record = record_module(*mlp)
    assert isinstance(record, TorchRecord)
    assert [(n.name, n.op.name) for n in record.nodes] == [
        ("fc1.linear.t", "aten.t"),          # nn.Linear is x @ Wᵀ + b: transpose W …
        ("fc1.linear.addmm", "aten.addmm"),  # … then bias + x @ Wᵀ in one op …
        ("fc1.linear", "F.linear"),          # … which is the call nn.Linear makes
        ("relu.relu", "aten.relu"),
        ("relu", "torch.relu"),
        ("fc2.linear.t", "aten.t"),
        ("fc2.linear.addmm", "aten.addmm"),
        ("fc2.linear", "F.linear"),
        ("loss.mse_loss.mse_loss", "aten.mse_loss"),
        ("loss.mse_loss", "F.mse_loss"),
    ]
    names = {n.name: [t.name for t in n.inputs] for n in record.nodes}
    assert names["fc1.linear.addmm"] == ["fc1.bias", "input", "fc1.linear.t"]
    assert names["fc2.linear.addmm"] == ["fc2.bias", "relu", "fc2.linear.t"]
    assert names["fc2.linear"] == ["relu", "fc2.weight", "fc2.bias"]
    assert [s.node.name for s in record.steps] == [
        "loss.mse_loss.mse_loss", "loss.mse_loss", "fc2.linear.addmm", "fc2.linear.t",
        "fc2.linear", "relu.relu", "relu", "fc1.linear.addmm", "fc1.linear.t", "fc1.linear"]
    assert record.loss is record.nodes[-1].output
    assert record.notes == [] and record.loss_note == "loss_fn(output)"


def test_the_mlp_values_and_gradients_are_pytorchs(mlp):
    model, x, loss_fn = mlp
    record = record_module(model, x, loss_fn)
    assert all(p.grad is None for p in model.parameters())  # .grad left alone
    by_name = {n.name: n for n in record.nodes}
    w1, b1 = model.fc1.weight.detach().numpy(), model.fc1.bias.detach().numpy()
    hidden = x.numpy() @ w1.T + b1
    assert np.allclose(by_name["fc1.linear"].output.value, hidden, rtol=0, atol=1e-14)
    assert np.array_equal(by_name["relu"].output.value, np.maximum(hidden, 0))
    expected = reference_grads(model, x, loss_fn)
    got = param_grads(record)
    assert set(got) == set(expected)
    for name in expected:
        assert np.allclose(got[name], expected[name], rtol=0, atol=1e-14), name


def test_backward_steps_hold_upstream_and_each_inputs_contribution(mlp):
    model, x, loss_fn = mlp
    record = record_module(model, x, loss_fn)
    steps = {s.node.name: s for s in record.steps}
    assert float(steps["loss.mse_loss"].upstream) == 1.0
    addmm = steps["fc2.linear.addmm"]
    g = addmm.upstream
    relu, w2t = (t.value for t in addmm.node.inputs[1:])
    contributions = {c.input_index: c.value for c in addmm.contributions}
    # closed forms of addmm's backward: bias ← Σ_rows G, mat1 ← G @ mat2ᵀ, mat2 ← mat1ᵀ @ G
    assert np.allclose(contributions[0], g.sum(axis=0), atol=1e-15)
    assert np.allclose(contributions[1], g @ w2t.T, atol=1e-15)
    assert np.allclose(contributions[2], relu.T @ g, atol=1e-15)
    # the upstream of fc2.addmm is ∂mse/∂y = 2 (y − target) / N
    y = addmm.node.output.value
    target = loss_fn.__closure__[0].cell_contents.numpy()
    assert np.allclose(g, 2 * (y - target) / y.size, atol=1e-15)


def test_each_op_replayed_alone_in_torch_agrees_with_the_record(mlp):
    report = check_every_step(record_module(*mlp), tolerance=1e-12)
    assert report.ok, report.summary()
    assert len(report.forward) == 10 and len(report.backward) == 10


def test_the_timeline_steps_through_a_record_and_pairs_twins(mlp):
    record = record_module(*mlp)
    timeline = Timeline(record)
    assert len(timeline) == len(record.nodes) + len(record.steps)
    for node in record.nodes:
        forward = timeline.forward_index[node.index]
        backward = timeline.twin(forward)
        assert backward is not None and timeline.steps[backward].node is node
        assert timeline.twin(backward) == forward
    timeline.jump(timeline.backward_start)
    assert timeline.jump_to_twin() and timeline.step.name == "loss.mse_loss.mse_loss"


class Residual(torch.nn.Module):
    """h feeds two consumers, so its gradient is a sum: an accumulation event."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 3, dtype=torch.float64)

    def forward(self, x):
        h = torch.tanh(self.fc(x))
        return h * 2 + h.exp()


def test_a_tensor_with_two_consumers_gets_an_accumulation_event():
    torch.manual_seed(1)
    model, x = Residual(), torch.randn(4, 3, dtype=torch.float64)
    record = record_module(model, x)
    assert record.loss_note == "output.sum() (no loss_fn given)"
    h = next(n.output for n in record.nodes if n.op.name == "aten.tanh")
    into_h = [c for s in record.steps for c in s.contributions
              if c.tensor is h and s.node.op.level == "aten"]
    assert len(into_h) == 2  # from aten.mul and aten.exp; their calls (*, .exp) repeat them
    first, second = into_h
    assert first.before is None and second.accumulates
    assert np.array_equal(second.before, first.after)
    assert np.allclose(second.after, first.value + second.value, atol=0)
    # independently: ∂/∂h of Σ(2h + eʰ) is 2 + eʰ
    assert np.allclose(second.after, 2 + np.exp(h.value), atol=1e-14)
    expected = reference_grads(model, x, lambda y: y.sum())
    for name, grad in param_grads(record).items():
        assert np.allclose(grad, expected[name], atol=1e-14)


def small_transformer():
    torch.manual_seed(0)
    model = torch.nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                                 dim_feedforward=16, dropout=0.0, batch_first=True,
                                 dtype=torch.float64)
    src = torch.randn(1, 5, 8, dtype=torch.float64)
    tgt = torch.randn(1, 4, 8, dtype=torch.float64)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=torch.float64)
    return model, {"src": src, "tgt": tgt, "tgt_mask": mask}, lambda y: (y ** 2).mean()


def test_a_small_torch_transformer_records_and_its_leaf_gradients_are_grad():
    model, inputs, loss_fn = small_transformer()
    record = record_module(model, inputs, loss_fn)
    assert len(record.nodes) > 100 and record.notes == []
    assert {t.name for t in record.tensors if t.kind == "input"} >= {"src", "tgt"}
    model.zero_grad()
    loss_fn(model(**inputs)).backward()
    expected = {n: p.grad.numpy() for n, p in model.named_parameters()}
    got = param_grads(record)
    assert set(got) == set(expected)
    for name in expected:
        assert np.allclose(got[name], expected[name], rtol=0, atol=1e-12), name
    # every backward step is paired with a forward op (the stepper's "jump to twin")
    assert all(s.node.index < len(record.nodes) for s in record.steps)
    names = [n.name for n in record.nodes]
    assert "encoder.layers.0.linear1.linear.addmm" in names
    assert "decoder.layers.0.multihead_attn.multi_head_attention_forward.split_with_sizes[1]" \
        in names
    Timeline(record)


def test_the_transformer_record_replays_op_by_op_in_torch():
    record = record_module(*small_transformer())
    report = check_every_step(record, tolerance=1e-12)
    assert report.ok, report.summary()


def test_an_op_whose_outputs_both_get_gradients_is_split_into_per_output_steps():
    class Halves(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.randn(6, 2, dtype=torch.float64))

        def forward(self, x):
            a, b = self.w.split([2, 4])
            return (x @ a.T).sum() + (x @ b.T).pow(2).sum()

    torch.manual_seed(2)
    model, x = Halves(), torch.randn(3, 2, dtype=torch.float64)
    record = record_module(model, x)
    split_steps = [s for s in record.steps if s.node.op.name == "aten.split_with_sizes"]
    assert sorted(s.node.name for s in split_steps) == ["split.split_with_sizes",
                                                         "split.split_with_sizes[1]"]
    into_w = [c for s in split_steps for c in s.contributions]
    assert len(into_w) == 2 and into_w[1].accumulates
    total = reference_grads(model, x, lambda y: y)["w"]
    assert np.allclose(into_w[1].after, total, atol=1e-14)
    assert np.allclose(sum(c.value for c in into_w), total, atol=1e-14)


class Double(torch.autograd.Function):
    """A custom Function whose forward no recorded op explains (numpy inside)."""

    @staticmethod
    def forward(ctx, x):
        return torch.from_numpy(x.detach().numpy() * 2)

    @staticmethod
    def backward(ctx, g):
        return 2 * g


class Odd(torch.nn.Module):
    """Everything that does not pair one to one: a custom Function, an in-place op
    through a view, a no_grad block and a detach."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(4, 3, dtype=torch.float64))

    def forward(self, x):
        y = Double.apply(self.w * x)
        y = y * y
        y[0].mul_(2)  # an in-place change through a view
        with torch.no_grad():
            frozen = y * 3
        return y.exp().sum() + (x.detach() * frozen).sum()


def test_what_does_not_pair_one_to_one_is_shown_and_gradients_stay_right():
    torch.manual_seed(3)
    model, x = Odd(), torch.randn(3, dtype=torch.float64)
    record = record_module(model, x)
    # the custom Function is a call of its own, its backward (DoubleBackward) its step
    double = next(n for n in record.nodes if n.op.name == "Double.apply")
    assert double.op.level == "custom" and [t.name for t in double.inputs] == ["mul"]
    timeline = Timeline(record)
    assert timeline.twin(timeline.forward_index[double.index]) == \
        timeline.backward_index[double.index]
    assert record.notes == []
    # the in-place write through y[0] is a view_write node, paired with CopySlices
    write = next(n for n in record.nodes if n.op.name == "view_write")
    assert [t.name for t in write.inputs] == ["mul_2", "mul_"]
    y_value = write.output.value
    assert np.array_equal(y_value[0], 2 * write.inputs[0].value[0])
    assert np.array_equal(y_value[1:], write.inputs[0].value[1:])
    exp = next(n for n in record.nodes if n.op.name == "aten.exp")
    assert exp.inputs[0] is write.output  # later reads see the new value
    assert any(s.node is write for s in record.steps)
    assert "detach" not in {n.op.name.split(".")[-1] for n in record.nodes}
    frozen = next(n for n in record.nodes if n.attrs.get("other") == 3)  # under no_grad
    assert not frozen.output.requires_grad
    assert frozen.index not in {s.node.index for s in record.steps}
    expected = reference_grads(model, x, lambda y: y)
    assert np.allclose(param_grads(record)["w"], expected["w"], rtol=0, atol=1e-12)
    report = check_every_step(record, tolerance=1e-12)
    assert report.ok, report.summary()
    assert {s.name for s in report.skipped} == {"mul_.view_write"}
    assert "with no op to replay, skipped" in report.summary()


def test_too_large_a_recording_raises_with_a_hint(mlp):
    with pytest.raises(RecordTooLarge, match="more than 3 ops.*--shapes-only"):
        record_module(*mlp, max_ops=3)
    with pytest.raises(RecordTooLarge, match="passed 20 numbers.*--shapes-only"):
        record_module(*mlp, max_elements=20)


def test_shapes_only_records_shapes_without_values(mlp):
    record = record_module(*mlp, shapes_only=True, max_elements=20)
    full = record_module(*mlp)
    assert record.shapes_only and record.elements == 0
    assert [n.name for n in record.nodes] == [n.name for n in full.nodes]
    for a, b in zip(record.nodes, full.nodes):
        assert a.output.shape == b.output.shape and np.isnan(a.output.value).all()
        assert a.output.value.strides == (0,) * a.output.value.ndim  # no memory behind it
    for a, b in zip(record.steps, full.steps):
        assert a.upstream.shape == b.upstream.shape
        assert [c.value.shape for c in a.contributions] == [c.value.shape for c in b.contributions]
    assert len(Timeline(record)) == len(Timeline(full))
    with pytest.raises(ValueError, match="shapes only"):
        check_every_step(record)


def test_user_mistakes_raise_record_errors(mlp):
    model, x, loss_fn = mlp
    with pytest.raises(RecordError, match="torch.nn.Module, got function"):
        record_module(lambda x: x, x)
    with pytest.raises(RecordError, match=r"single number.*\(5, 2\)"):
        record_module(model, x, lambda y: y)
    frozen = load_fixture("mlp").make()[0].requires_grad_(False)
    with pytest.raises(RecordError, match="does not depend on anything that needs a gradient"):
        record_module(frozen, x)
    with pytest.raises(RecordError, match="returned str"):
        record_module(_Words(), x)


class _Words(torch.nn.Module):
    def forward(self, x):
        return "words"


def test_the_models_own_exceptions_pass_through(mlp):
    model, x, _ = mlp
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        record_module(model, torch.randn(5, 7, dtype=torch.float64))
    # hooks are gone afterwards: the model runs normally
    assert not model.fc1._forward_hooks and not model.fc1._forward_pre_hooks


def test_inputs_are_named_by_position_or_keyword():
    class Two(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))

        def forward(self, a, b):
            return a * self.w + b

    a, b = torch.ones(2, dtype=torch.float64), torch.full((2,), 3.0, dtype=torch.float64)
    by_position = record_module(Two(), (a, b))
    by_keyword = record_module(Two(), {"a": a, "b": b})
    add = next(n for n in by_position.nodes if n.op.name == "+")
    assert [t.name for t in add.inputs] == ["mul", "input1"]
    assert [t.name for t in by_keyword.nodes[0].inputs] == ["a", "w"]


def test_the_learners_model_is_left_as_it_was(mlp):
    model, x, loss_fn = mlp
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    record_module(model, x, loss_fn)
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]) and p.grad is None
    assert not model._forward_hooks and not model._forward_pre_hooks



def test_every_recorded_op_has_a_torch_line_that_recomputes_it():
    """The runnable line for each aten op (exact attributes: ints, floats, dtypes,
    devices), executed here — in the test only — on tensors named like its inputs."""
    import math

    from engine.pytorch.match import max_abs_diff
    from engine.pytorch.names import torch_line, torch_operands

    mlp = load_fixture("mlp").make()
    for record in (record_module(*mlp), record_module(*small_transformer())):
        for node in record.nodes:
            namespace = {"torch": torch, "F": F, "math": math}
            for name, t in zip(torch_operands(node), node.inputs):
                namespace[name] = torch.tensor(np.array(t.value))
            line = torch_line(node)
            target = line.split(" = ", 1)[0]
            exec(compile(line, node.name, "exec"), namespace)  # noqa: S102 - test only
            value = namespace[target]
            if isinstance(value, tuple):  # F.multi_head_attention_forward: (output, None)
                value = next(v for v in value if isinstance(v, torch.Tensor))
            value = value.detach().numpy() if isinstance(value, torch.Tensor) else value
            assert max_abs_diff(value, node.output.value) == 0.0, line
    assert torch_line(record.nodes[0]) == \
        "encoder_layers_0_self_attn_transpose = torch.ops.aten.transpose.int(src, 1, 0)"
