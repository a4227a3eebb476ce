"""``tutor torch FILE.py[:FACTORY]``: the learner's own model recorded and printed or
opened, and one clear line (exit 2) for every way the file or factory can be wrong."""

from __future__ import annotations

import argparse
import importlib.util
import sys
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from engine.timeline import Timeline  # noqa: E402
from tutor.cli import main  # noqa: E402
from tutor.commands.torch_model import run_torch, split_target  # noqa: E402

from tests.paths import FIXTURES, ROOT

MLP = FIXTURES / "torch_models" / "mlp.py"

MODEL = """
import torch
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(2, 2)
    def forward(self, x):
        return self.fc(x)
"""


def write(tmp_path, body: str, name: str = "model.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(MODEL) + textwrap.dedent(body))
    return path


def run(target, capsys, trace=True, shapes_only=False, **extra):
    args = argparse.Namespace(target=str(target), trace=trace, shapes_only=shapes_only, **extra)
    code = run_torch(args)
    out, err = capsys.readouterr()
    return code, out, err


def fails_with(target, capsys, *fragments) -> str:
    code, out, err = run(target, capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # one line, no traceback
    assert lines[0].startswith("tutor torch: ")
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def test_the_example_mlp_traces_one_line_per_step(capsys):
    code, out, err = run(MLP, capsys)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "mlp.py:make — MLP"
    assert lines[1] == ("10 forward ops (4 calls you wrote, the aten ops they ran indented "
                        "under them), 10 backward steps")
    steps = lines[2:]
    assert len(steps) == 20
    # the call the learner's nn.Linear makes, after the aten ops it ran (indented)
    assert "   2 forward    fc1.linear.addmm  aten.addmm  (4,) (5, 3) (3, 4) → (5, 4)" in steps[1]
    assert "   3 forward  fc1.linear  F.linear  (5, 3) (4, 3) (4,) → (5, 4)" in steps[2]
    assert "backward   loss.mse_loss.mse_loss  aten.mse_loss  upstream scalar 1" in steps[10]
    assert "backward loss.mse_loss  F.mse_loss  upstream scalar 1" in steps[11]
    assert "→ ∂L/∂fc1.weight" in steps[19]


def test_the_trace_shows_the_recorded_loss_value(capsys):
    code, out, _ = run(MLP, capsys)
    spec = importlib.util.spec_from_file_location("mlp_for_test", MLP)
    mlp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mlp)
    model, x, loss_fn = mlp.make()
    loss = loss_fn(model(x)).item()
    line = next(s for s in out.splitlines() if "forward  loss.mse_loss" in s)
    assert line.endswith(f"{loss:.4g}")


def test_through_the_command_line_parser(capsys):
    assert main(["torch", str(MLP), "--trace", "--shapes-only"]) == 0
    out = capsys.readouterr().out
    assert "note: shapes only: no values were recorded" in out
    assert "shape only" in out and "mean" not in out


def test_without_trace_the_stepper_opens_on_the_record(monkeypatch, capsys):
    import tutor.commands.explore
    opened = {}

    def fake_stepper(timeline, title, notes=None):
        opened.update(timeline=timeline, title=title, notes=notes)
        return 0

    monkeypatch.setattr(tutor.commands.explore, "run_stepper", fake_stepper)
    code, _, _ = run(MLP, capsys, trace=False)
    assert code == 0
    assert isinstance(opened["timeline"], Timeline) and opened["title"] == "mlp.py:make — MLP"
    assert len(opened["timeline"]) == 20
    assert opened["notes"] == []  # the notes go to the stepper, to show once


def test_a_named_factory_a_dict_and_the_default_loss(tmp_path, capsys):
    path = write(tmp_path, """
        def build():
            torch.manual_seed(0)
            return {"model": Net().double(), "inputs": torch.ones(3, 2, dtype=torch.float64)}
        def helper():
            return None
    """)
    code, out, _ = run(f"{path}:build", capsys)
    assert code == 0
    assert "note: loss: output.sum() (no loss_fn given)" in out
    assert "loss.sum  Tensor.sum" in out and "loss.sum.sum  aten.sum" in out


def test_without_make_the_only_function_is_used_and_said(tmp_path, capsys):
    path = write(tmp_path, """
        def build(seed=0):
            return Net(), torch.ones(1, 2)
    """)
    code, out, _ = run(path, capsys)
    assert code == 0
    assert "note: model.py has no make(); using build(), the only function" in out


def test_split_target():
    assert split_target("a/b.py:make2") == (Path("a/b.py"), "make2")
    assert split_target("a/b.py") == (Path("a/b.py"), None)
    assert split_target("C:model.py") == (Path("C:model.py"), None)
    assert split_target("odd:name.py") == (Path("odd:name.py"), None)


# --- every error: one line, exit 2 ----------------------------------------------

def test_missing_file(tmp_path, capsys):
    fails_with(tmp_path / "nope.py", capsys, "no such file:", "nope.py")


def test_not_a_python_file(tmp_path, capsys):
    other = tmp_path / "model.txt"
    other.write_text("x")
    fails_with(other, capsys, "is not a Python file", ".py")
    fails_with(tmp_path, capsys, "is not a Python file")


def test_syntax_error_names_the_line(tmp_path, capsys):
    path = tmp_path / "broken.py"
    path.write_text("import torch\n\ndef make(:\n    pass\n")
    fails_with(path, capsys, "syntax error in", "broken.py line 3")


def test_an_import_that_fails_names_the_error_and_line(tmp_path, capsys):
    path = tmp_path / "needs.py"
    path.write_text("import torch\nimport not_a_real_package_xyz\n")
    fails_with(path, capsys, "importing needs.py raised ModuleNotFoundError",
               "not_a_real_package_xyz", "needs.py line 2")


def test_missing_factory_lists_the_functions_found(tmp_path, capsys):
    path = write(tmp_path, """
        def first():
            return Net(), torch.ones(1, 2)
        def second():
            return Net(), torch.ones(1, 2)
        def needs_args(x):
            return x
    """)
    line = fails_with(path, capsys, "has no function 'make'", "functions found: first, second")
    assert "needs_args" not in line
    fails_with(f"{path}:third", capsys, "has no function 'third'", "first, second")


def test_no_function_at_all(tmp_path, capsys):
    fails_with(write(tmp_path, ""), capsys, "no function without arguments", "def make()")


def test_a_factory_that_raises(tmp_path, capsys):
    path = write(tmp_path, """
        def make():
            raise ValueError("the data file is missing")
    """)
    fails_with(path, capsys, "make() raised ValueError: the data file is missing",
               "model.py line 11")


def test_a_factory_that_returns_the_wrong_shape(tmp_path, capsys):
    for body, fragment in [
        ("return Net()", "it returned a Net"),
        ("return Net(), 1, 2, 3", "it returned a tuple of 4 items"),
        ("return {'model': Net()}", "a dict without 'inputs'"),
        ("return {'model': Net(), 'inputs': 1, 'loss': 2}", "unexpected key 'loss'"),
    ]:
        path = write(tmp_path, f"def make():\n    {body}\n")
        fails_with(path, capsys, "make()", fragment)


def test_a_model_that_is_not_a_module(tmp_path, capsys):
    path = write(tmp_path, "def make():\n    return (lambda x: x), torch.ones(2)\n")
    fails_with(path, capsys, "returned a model of type function", "torch.nn.Module")
    path = write(tmp_path, "def make():\n    return Net(), torch.ones(2), 'mse'\n")
    fails_with(path, capsys, "loss_fn of type str")


def test_a_model_that_fails_when_run(tmp_path, capsys):
    path = write(tmp_path, "def make():\n    return Net(), torch.ones(3, 5)\n")
    fails_with(path, capsys, "running the model raised RuntimeError", "cannot be multiplied",
               "model.py line 8")


def test_a_loss_that_is_not_a_number(tmp_path, capsys):
    path = write(tmp_path, "def make():\n    return Net(), torch.ones(3, 2), lambda y: y\n")
    fails_with(path, capsys, "the loss must be a single number", "(3, 2)")


def test_too_large_suggests_shapes_only(tmp_path, capsys):
    path = write(tmp_path, """
        def make():
            return torch.nn.Linear(1500, 1500), torch.ones(1500, 1500)
    """)
    fails_with(path, capsys, "passed 5,000,000 numbers", "--shapes-only")


def test_torch_not_installed(tmp_path, capsys, monkeypatch):
    import engine.pytorch as pytorch

    def no_torch():
        raise pytorch.TorchMissing(f"PyTorch is not installed. Install it with: {pytorch.INSTALL}")

    monkeypatch.setattr(pytorch, "import_torch", no_torch)
    fails_with(MLP, capsys, "PyTorch is not installed", "pip install 'transformer-tutor[torch]'")


def test_verbose_adds_the_traceback(tmp_path, capsys):
    path = write(tmp_path, "def make():\n    raise KeyError('k')\n")
    code, _, err = run(path, capsys, verbose=True)
    assert code == 2 and "Traceback" in err and "KeyError" in err



def test_importing_the_command_does_not_import_torch():
    import subprocess
    code = "import sys, tutor.commands.torch_model; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True,
                   cwd=ROOT)


def test_the_architecture_map_shows_the_learners_own_modules():
    import importlib.util

    from engine.pytorch.record import record_module
    from tutor.ui.widgets.arch_map import LABELS, ArchMap

    spec = importlib.util.spec_from_file_location("gpt_for_map", FIXTURES / "torch_models" /
                                                  "gpt.py")
    gpt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpt)
    timeline = Timeline(record_module(*gpt.make()))
    arch = ArchMap()
    arch.build(timeline)
    timeline.jump_to_name("transformer.h.1.attn.c_attn.linear", "forward")
    rows = [("  " * indent) + label for indent, label, _ in arch.rows(timeline.step.path[1:])]
    assert rows == ["transformer", "  wte", "  wpe", "  h.0", "  h.1", "    ln_1", "    attn",
                    "      c_attn", "      c_proj", "    ln_2", "    mlp", "  ln_f", "lm_head",
                    "loss"]
    marked = [label for _, label, here in arch.rows(timeline.step.path[1:]) if here]
    assert marked == ["c_attn"]  # the module the call ran in, not the call itself
    built_in = set(LABELS.values()) - {"loss"}  # the built-in model's labels are not used
    assert not {row.strip() for row in rows} & built_in
