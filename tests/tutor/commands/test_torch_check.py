"""``tutor torch FILE --check`` on the models a learner brings (one summary line, exit 0
when everything matches PyTorch, 1 on a mismatch or a recorder failure, 2 on a usage
error, never a traceback unless --verbose), and ``--trace`` with the filters of
``tutor trace``."""

from __future__ import annotations

import argparse
import re
import textwrap

import pytest

torch = pytest.importorskip("torch")
from tutor.cli import main  # noqa: E402
from tutor.commands.torch_model import run_torch  # noqa: E402

from tests.paths import FIXTURES  # noqa: E402

MODELS = FIXTURES / "torch_models"
SUMMARY = re.compile(r"^(\d+) steps checked, 0 mismatches, (\d+) random steps taken as "
                     r"recorded; the loss and (\d+) gradients match a plain loss\.backward\(\)$")
TARGETS = ["mlp.py", "micrograd.py", "lstm.py", "lstm.py:float64", "lstm.py:bidirectional",
           "gru.py", "convnet.py", "convnet.py:evaluate", "encoder_layer.py", "transformer.py",
           "gpt.py", "gpt.py:dropout", "custom_functions.py",
           "custom_functions.py:straight_through", "custom_functions.py:checkpointed"]


def run(target, capsys, **flags):
    options = dict(trace=False, check=False, shapes_only=False, forward=False, backward=False,
                   scope=None, verbose=False)
    options.update(flags)
    code = run_torch(argparse.Namespace(target=str(target), **options))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("target", TARGETS)
def test_check_passes_on_the_models_a_learner_brings(target, capsys):
    code, out, err = run(MODELS / target, capsys, check=True)
    assert (code, err) == (0, ""), err
    lines = out.splitlines()
    assert len(lines) == 1, out
    found = SUMMARY.match(lines[0])
    assert found, lines[0]
    steps, random, grads = (int(g) for g in found.groups())
    assert steps > 10 and grads >= 2
    assert (random > 0) == (target == "gpt.py:dropout")


def write(tmp_path, body: str):
    path = tmp_path / "model.py"
    path.write_text(textwrap.dedent(body))
    return path


def test_a_mismatch_exits_1_with_one_line_naming_it(tmp_path, capsys):
    """A loss that is not the same twice (it counts its calls): the recorded loss and the
    plain run's disagree."""
    path = write(tmp_path, """
        import torch
        calls = []
        def loss_fn(y):
            calls.append(1)
            return y.sum() * len(calls)
        def make():
            torch.manual_seed(0)
            return torch.nn.Linear(2, 2).double(), torch.ones(3, 2, dtype=torch.float64), loss_fn
    """)
    code, out, err = run(path, capsys, check=True)
    assert code == 1
    assert out.count("\n") == 1 and "differ from a plain loss.backward() (loss" in out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith("tutor torch: model.py:make: loss: recorded and loss.backward() "
                               "differ by ")


def test_a_failure_of_the_recorder_names_the_step_and_exits_1(monkeypatch, capsys):
    from engine.pytorch.recorder import Recorder

    def broken(self, *args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(Recorder, "on_op", broken)
    for flags in (dict(check=True), dict(trace=True)):
        code, out, err = run(MODELS / "mlp.py", capsys, **flags)
        assert (code, out) == (1, "")
        assert err.strip() == ("tutor torch: recording failed at forward op 0 (aten.t.default): "
                               "ZeroDivisionError: division by zero")
    code, _, err = run(MODELS / "mlp.py", capsys, check=True, verbose=True)
    assert code == 1 and "Traceback" in err and "on_op" in err


def test_usage_errors_exit_2(tmp_path, capsys):
    code, out, err = run(tmp_path / "missing.py", capsys, check=True)
    assert (code, out) == (2, "") and err.startswith("tutor torch: no such file:")
    code, _, err = run(MODELS / "mlp.py", capsys, check=True, shapes_only=True)
    assert code == 2 and "--shapes-only records none" in err
    code, _, err = run(MODELS / "mlp.py", capsys, forward=True)
    assert code == 2 and "--forward filters the printed record: add --trace" in err
    with pytest.raises(SystemExit) as exit_:
        main(["torch", str(MODELS / "mlp.py"), "--check", "--trace"])
    assert exit_.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def step_lines(out):
    return [line for line in out.splitlines() if re.match(r"^ *\d+ (forward  |backward )", line)]


def test_trace_filters_like_tutor_trace(capsys):
    mlp = MODELS / "mlp.py"
    _, out, _ = run(mlp, capsys, trace=True, forward=True)
    assert len(step_lines(out)) == 10
    assert all(" forward " in line for line in step_lines(out))
    _, out, _ = run(mlp, capsys, trace=True, backward=True)
    assert len(step_lines(out)) == 10
    assert all(" backward " in line for line in step_lines(out))
    _, out, _ = run(mlp, capsys, trace=True, scope="fc1.*")  # a glob: whole names
    names = [line.split()[2] for line in step_lines(out)]
    assert names == ["fc1.linear.t", "fc1.linear.addmm", "fc1.linear",  # forward
                     "fc1.linear.addmm", "fc1.linear.t", "fc1.linear"]  # backward
    _, out, _ = run(mlp, capsys, trace=True, backward=True, scope="addmm")  # a substring
    assert [line.split()[2] for line in step_lines(out)] == ["fc2.linear.addmm",
                                                             "fc1.linear.addmm"]
    code, out, err = run(mlp, capsys, trace=True, scope="no_such_step")
    assert code == 1 and step_lines(out) == [] and "no step matches 'no_such_step'" in err


def test_the_command_line_runs_check_without_a_traceback(capsys):
    assert main(["torch", str(MODELS / "micrograd.py"), "--check"]) == 0
    out, err = capsys.readouterr()
    assert SUMMARY.match(out.strip()) and err == ""


def test_a_random_step_says_it_is_taken_as_recorded():
    from engine.pytorch.check import check_model
    from engine.timeline import Timeline
    from tutor.views.twin import EveryStep, check_step, every_step_summary

    from tests.engine.pytorch.test_record import load_fixture

    outcome = check_model(*load_fixture("gpt").dropout())
    timeline = Timeline(outcome.record)
    bernoulli = next(s.index for s in timeline.steps if s.op_name == "aten.bernoulli_")
    result = check_step(timeline, bernoulli)
    assert result.message.startswith("random: recorded value, not re-run") and not result.ok
    text, mismatch = every_step_summary(timeline, EveryStep(outcome.report, ()))
    assert mismatch is None and text.startswith("✓")
    assert f"; {len(outcome.report.random)} random steps taken as recorded" in text


def test_the_twin_says_where_each_tensor_of_the_model_lives():
    from engine.pytorch.record import record_module
    from engine.timeline import Timeline
    from tutor.views.step import PanelKey, Role
    from tutor.views.twin import torch_name_of

    from tests.engine.pytorch.test_record import load_fixture

    timeline = Timeline(record_module(*load_fixture("convnet").make()))

    def where(name, key):
        step = next(s for s in timeline.steps if s.phase == "forward" and s.name == name)
        return torch_name_of(timeline, step, key, (0,), None)

    assert where("bn.batch_norm", PanelKey(Role.OUTPUT)) == (
        "bn.batch_norm[0]: the output of F.batch_norm (its aten.native_batch_norm) inside "
        "module model.bn")
    assert where("bn.batch_norm", PanelKey(Role.INPUT, 1)) == (
        "model.bn.running_mean[0]: a buffer of the model (not learned) (torch's own name)")
    assert where("bn.batch_norm", PanelKey(Role.INPUT, 3)) == \
        "model.bn.weight[0] (torch's own name)"
    assert where("fc.linear.t", PanelKey(Role.OUTPUT)) == (
        "fc.linear.t[0]: the output of aten.t, a step inside F.linear, inside module model.fc")
    assert where("conv.conv2d", PanelKey(Role.INPUT, 0)) == \
        "input[0]: the input you passed to the model"
