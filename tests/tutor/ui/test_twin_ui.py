"""The PyTorch twin in the stepper (x: this step in torch, X: every step), driven by keys.

Every number the pane shows is recomputed here by torch directly (the op itself, its
autograd, the SGD line) or read from an independently built ``TorchTwin``."""

from __future__ import annotations

import asyncio
import re
import sys
import textwrap
import threading
from argparse import Namespace

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from engine.pytorch import steps as torch_steps
from engine.pytorch.names import torch_line
from engine.pytorch.twin import TorchTwin  # noqa: E402
from tutor.views import twin as twin_check
from tutor.views.twin_checks import InProcess
from tutor.ui.app import TutorApp  # noqa: E402
from tutor.ui.screens.stepper import StepperScreen  # noqa: E402
from tutor.views.session import explore_session  # noqa: E402
from tutor.ui.tools.twin import TwinProgress, TwinTool  # noqa: E402
from tutor.ui.tools.twin_text import LOADING  # noqa: E402

from tests.keys import key
from tests.paths import FIXTURES

MLP = FIXTURES / "torch_models" / "mlp.py"
INSTALL = "pip install 'transformer-tutor[torch]'"
ROW = re.compile(r"(?P<label>\S+)\s+engine\s+(?P<engine>\S+)\s+torch\s+(?P<torch>\S+)\s+"
                 r"max\|Δ\|\s+(?P<diff>\S+)\s+(?P<mark>[✓✗])")


def options(**kw):
    base = dict(src=None, tgt=None, seed=0, config=None, weights=None, lr=0.1)
    base.update(kw)
    return Namespace(**base)


def run(coro):
    return asyncio.run(coro)


async def wait_for(pilot, predicate, timeout: float = 60.0):
    """Let the app run until ``predicate()`` holds (torch works in a thread)."""
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError("timed out waiting for the twin")


from tests.tutor.ui.tools import tool_text  # noqa: E402


def done(screen) -> bool:
    text = tool_text(screen)
    return "✓" in text or "✗" in text or "not" in text


def rows(text: str) -> dict[str, dict]:
    """The pane's comparison rows (compact layout: each row names its columns)."""
    return {m["label"]: m.groupdict() for m in ROW.finditer(text)}


WIDE_ROW = re.compile(r"^\s+(?P<label>∂\S+|output\S*|after\S*)\s+(?P<engine>\S+)\s+"
                      r"(?P<torch>\S+)\s+(?P<diff>\S+)\s+(?P<mark>[✓✗])", re.M)


def rows_full(text: str) -> dict[str, dict]:
    """The rows of the wide layout (a column header above, values in columns)."""
    return {m["label"]: m.groupdict() for m in WIDE_ROW.finditer(text)}


def test_x_on_a_forward_step_shows_the_torch_line_and_torch_agreeing():
    session = explore_session(options())
    timeline = session.timeline
    timeline.jump(12)
    node = timeline.step.node
    assert node.name == "encoder.layers.0.self_attn.weights"

    async def go():
        app = TutorApp(lambda: StepperScreen(session))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("x")
            await wait_for(pilot, lambda: done(app.screen))
            return tool_text(app.screen)

    text = run(go())
    assert torch_line(node) in text
    row = rows(text)["output[0,0,0,0]"]
    # softmax of the recorded scores, by torch itself
    expected = torch.softmax(torch.tensor(node.inputs[0].value), dim=-1)[0, 0, 0, 0].item()
    assert float(row["torch"]) == pytest.approx(expected, rel=1e-9, abs=0)
    assert row["engine"] == row["torch"]
    assert float(row["engine"]) == pytest.approx(node.output.value[0, 0, 0, 0], rel=1e-9)
    assert float(row["diff"]) <= 1e-10 and row["mark"] == "✓"
    assert "✓ max|Δ| ≤ 1e-10" in text


def test_x_on_a_backward_step_shows_autograd_and_each_contribution():
    session = explore_session(options())
    timeline = session.timeline
    timeline.jump(timeline.backward_start + 1)
    step = timeline.step
    assert step.name == "generator"
    node, backward = step.node, step.backward

    async def go():
        app = TutorApp(lambda: StepperScreen(session))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await pilot.press("x")
            await wait_for(pilot, lambda: done(app.screen))
            return tool_text(app.screen)

    text = run(go())
    flat = " ".join(text.split())
    assert torch_line(node) in flat
    assert ("grads = torch.autograd.grad(generator, (decoder_norm, generator_weight, "
            "generator_bias), grad_outputs=upstream)") in flat
    # the same linear layer and its gradients, by torch autograd here
    x, w, b = (torch.tensor(t.value, requires_grad=True) for t in node.inputs)
    y = F.linear(x, w, b)
    gx, gw, gb = torch.autograd.grad(y, (x, w, b), grad_outputs=torch.tensor(backward.upstream))
    assert y.grad_fn.name() in text  # the autograd node torch made for this op
    table = rows_full(text)
    dx, dw, db = (c.value for c in backward.contributions)
    for label, expected, engine in (("∂L/∂x[0,0,0]", gx[0, 0, 0], dx[0, 0, 0]),
                                    ("∂L/∂weight[0,0]", gw[0, 0], dw[0, 0]),
                                    ("∂L/∂bias[0]", gb[0], db[0])):
        row = table[label]
        assert float(row["torch"]) == pytest.approx(expected.item(), rel=1e-9, abs=1e-15)
        assert float(row["engine"]) == pytest.approx(engine, rel=1e-9, abs=1e-15)
        assert row["engine"] == row["torch"]
        assert float(row["diff"]) <= 1e-10 and row["mark"] == "✓"
    assert "✓ pass: max |engine − torch| over each whole tensor ≤ 1e-10" in text


def test_x_on_an_update_step_redoes_sgd_in_torch_and_follows_the_cursor():
    session = explore_session(options())
    timeline = session.timeline
    timeline.jump(len(timeline) - 2)

    async def go():
        app = TutorApp(lambda: StepperScreen(session))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("x")
            await wait_for(pilot, lambda: done(app.screen))
            first = tool_text(app.screen)
            await pilot.press("n")  # the pane follows the cursor
            await wait_for(pilot, lambda: "generator_bias" in tool_text(app.screen)
                           and done(app.screen))
            second = tool_text(app.screen)
            await pilot.press("x")  # x again closes it
            await pilot.pause()
            tool = app.screen.query_one(TwinTool)
            return first, second, tool_text(app.screen), tool.following

    first, second, closed, hooks = run(go())
    for text, step in ((first, timeline.steps[-2]), (second, timeline.steps[-1])):
        u = step.update
        w = u.name.replace(".", "_")
        assert f"with torch.no_grad(): {w} -= lr * {w}.grad" in text
        assert f"lr = {u.lr!r}" in text
        # the line itself, run by torch here
        p = torch.tensor(u.before, requires_grad=True)
        p.grad = torch.tensor(u.grad)
        with torch.no_grad():
            p -= u.lr * p.grad
        row = rows(text)["after[0]"] if u.after.ndim == 1 else rows(text)["after[0,0]"]
        assert float(row["torch"]) == pytest.approx(p.detach().numpy().reshape(-1)[0], rel=1e-9)
        assert row["engine"] == row["torch"] and float(row["diff"]) <= 1e-10
    assert "generator.weight" in first and "generator.bias" in second
    assert closed == "" and not hooks


def test_the_names_map_gives_the_packed_in_proj_index():
    session = explore_session(options())
    timeline = session.timeline
    timeline.jump(63)
    assert timeline.step.name == "decoder.layers.0.cross_attn.q_proj"
    twin = TorchTwin(session.model)
    packed = twin.named_parameters()["decoder.layers.0.multihead_attn.in_proj_weight"]
    packed = packed.detach().numpy()

    async def go():
        app = TutorApp(lambda: StepperScreen(session))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await pilot.press("x")
            # into the weight panel (the second), three rows down and five right
            await pilot.press("tab", "tab", "down", "down", "down", *["right"] * 5)
            await pilot.pause()
            q_text = tool_text(app.screen)
            await pilot.press("n")  # k_proj, the same element selected
            await pilot.pause()
            return q_text, tool_text(app.screen)

    q_text, k_text = run(go())
    for text, proj, offset in ((q_text, "q_proj", 0), (k_text, "k_proj", 32)):
        flat = " ".join(text.split())
        where = f"decoder.layers.0.multihead_attn.in_proj_weight[{offset}:{offset + 32}]"
        assert where in flat
        assert f"element [3,5] is in_proj_weight[{offset} + 3, 5]" in flat
        shown = re.search(r"= in_proj_weight\[(\d+), (\d+)\]", flat)
        row, col = int(shown[1]), int(shown[2])
        engine = session.model.params[f"decoder.layers.0.cross_attn.{proj}.weight"][3, 5]
        assert packed[row, col] == engine  # torch's packed tensor holds that very weight


def test_names_for_biases_activations_and_small_graphs():
    session = explore_session(options())
    timeline = session.timeline
    twin = TorchTwin(session.model)
    bias = twin.named_parameters()["encoder.layers.1.self_attn.in_proj_bias"].detach().numpy()
    step = timeline.steps[timeline.forward_index[next(
        n.index for n in timeline.tape.nodes if n.name == "encoder.layers.1.self_attn.v_proj")]]
    text = twin_check.torch_name_of(timeline, step, key("in2"), (7,), 32)
    assert text.startswith("encoder.layers.1.self_attn.in_proj_bias[64:96]")
    index = int(re.search(r"= in_proj_bias\[(\d+)\]", text)[1])
    assert bias[index] == session.model.params["encoder.layers.1.self_attn.v_proj.bias"][7]
    out = twin_check.torch_name_of(timeline, step, key("out"), (0, 1, 2), 32)
    assert out.startswith("encoder.layers[1].self_attn (v = value @ in_proj_weight[64:96].T")
    # a graph that is not the transformer says so
    from engine.tape import Tape
    from engine.timeline import Timeline

    tape = Tape()
    w = tape.param("w", 2.0)
    tape.backward((w * w).named("y"))
    small = Timeline(tape)
    assert "small graph of its own" in twin_check.torch_name_of(small, small.steps[0], key("in0"),
                                                                (), None)


def test_X_checks_every_step_and_reports_the_count(monkeypatch):
    session = explore_session(options())
    timeline = session.timeline
    shown = []
    advance = TwinProgress.advance_to

    def record(self, done):
        shown.append((self.total, done))
        advance(self, done)

    monkeypatch.setattr(TwinProgress, "advance_to", record)

    async def go():
        app = TutorApp(lambda: StepperScreen(session))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await pilot.press("X")
            await wait_for(pilot, lambda: "steps checked" in tool_text(app.screen))
            text = tool_text(app.screen)
            await pilot.press("X")  # closes the report
            await pilot.pause()
            return text, tool_text(app.screen), app.screen.focused

    text, closed, focused = run(go())
    # the progress bar went up to every step of the timeline
    assert shown and shown[-1] == (len(timeline), len(timeline))
    assert [d for _, d in shown] == sorted(d for _, d in shown)
    flat = " ".join(text.split())
    assert f"✓ {len(timeline)} steps checked in PyTorch" in flat
    n_forward, n_backward = len(timeline.tape.nodes), len(timeline.tape.steps)
    n_update = len(timeline) - timeline.update_start
    assert f"({n_forward} forward, {n_backward} backward, {n_update} update)" in flat
    largest = float(re.search(r"largest difference (\S+?),", flat)[1])
    assert 0 <= largest <= 1e-10
    assert timeline.position == 0 and closed == "" and focused is None


def test_X_jumps_to_a_corrupted_step():
    session = explore_session(options())
    timeline = session.timeline
    node = timeline.steps[79].node
    assert node.name == "decoder.layers.0.ff.relu"
    node.output.value = node.output.value + 0.5  # the tape now disagrees with relu

    async def go():
        app = TutorApp(lambda: StepperScreen(session))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await pilot.press("X")
            await wait_for(pilot, lambda: "steps checked" in tool_text(app.screen))
            report = tool_text(app.screen)
            await pilot.press("x")
            await wait_for(pilot, lambda: done(app.screen) and "FAIL" in tool_text(app.screen))
            return timeline.position, report, tool_text(app.screen)

    position, report, pane = run(go())
    assert position == 79
    flat = " ".join(report.split())
    assert "✗" in flat and f"First mismatch: step 80/{len(timeline)}, forward " \
                           "decoder.layers.0.ff.relu (relu)" in flat
    assert "The stepper jumped there" in flat
    row = rows_full(pane)["output[0,0,0]"]
    assert float(row["torch"]) == pytest.approx(max(node.inputs[0].value[0, 0, 0], 0.0), rel=1e-9)
    assert float(row["diff"]) == pytest.approx(0.5) and row["mark"] == "✗"


def test_X_can_be_cancelled_with_escape(monkeypatch):
    session = explore_session(options())
    release = threading.Event()
    real = torch_steps.check_every_step

    def held(tape, progress):
        def slow(done, n):
            release.wait(0.02)
            progress(done, n)
        return real(tape, progress=slow)

    monkeypatch.setattr(twin_check, "check_steps", held)

    async def go():
        app = TutorApp(lambda: StepperScreen(session))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await pilot.press("X")
            await pilot.pause(0.3)
            focused = app.screen.focused
            await pilot.press("escape")
            await pilot.pause()
            text = tool_text(app.screen)
            await pilot.press("n")  # the stepper still steps
            await pilot.pause()
            return focused, text, session.timeline.position, app.screen.focused

    focused, text, position, after = run(go())
    release.set()
    assert isinstance(focused, TwinProgress)
    assert re.search(r"Check cancelled after \d+ of 336 steps", text)
    assert position == 1 and after is None


def test_without_torch_the_pane_says_how_to_install_it(monkeypatch):
    session = explore_session(options())
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails

    async def go():
        app = TutorApp(lambda: StepperScreen(session))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await pilot.press("x")
            await wait_for(pilot, lambda: INSTALL in tool_text(app.screen))
            pane = tool_text(app.screen)
            await pilot.press("X")
            await wait_for(pilot, lambda: INSTALL in tool_text(app.screen))
            return pane, tool_text(app.screen)

    pane, report = run(go())
    assert "PyTorch is not installed" in pane and "✓" not in pane
    assert "src_embed_lookup = F.embedding(src, src_embed_weight)" in pane  # the code still
    assert "PyTorch is not installed" in report


def test_loading_shows_and_the_screen_keeps_stepping(monkeypatch):
    session = explore_session(options())
    release = threading.Event()
    real = twin_check.check_step

    def held(timeline, position):
        release.wait(10)
        return real(timeline, position)

    monkeypatch.setattr(twin_check, "check_step", held)
    monkeypatch.setattr(InProcess, "ready", property(lambda self: False))

    async def go():
        app = TutorApp(lambda: StepperScreen(session))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await pilot.press("x")
            await pilot.pause()
            loading = tool_text(app.screen)
            await pilot.press("n")  # torch is busy in its thread; the stepper is not
            await pilot.pause()
            moved = session.timeline.position
            release.set()
            await wait_for(pilot, lambda: "✓" in tool_text(app.screen))
            return loading, moved, tool_text(app.screen)

    loading, moved, text = run(go())
    assert LOADING in loading and LOADING == "loading PyTorch… (first time ~1–2 s)"
    assert moved == 1
    assert "src_embed_scale" in text  # the result shown is the new step's


# `tutor torch`: a recorded PyTorch model in the stepper ---------------------------------

def open_recorded(monkeypatch, target, shapes_only=False):
    """``tutor torch TARGET`` up to the point where the app would run; returns the app."""
    from tutor.commands.torch_model import run_torch

    apps = []
    monkeypatch.setattr(TutorApp, "run", lambda self, *a, **k: apps.append(self))
    code = run_torch(Namespace(target=str(target), trace=False, shapes_only=shapes_only))
    assert code == 0 and len(apps) == 1
    return apps[0]


def notifications(app) -> str:
    return "\n".join(f"{n.title}: {n.message}" for n in app._notifications)


def test_tutor_torch_opens_the_stepper_and_x_shows_autograd_names(monkeypatch, capsys):
    app = open_recorded(monkeypatch, MLP)

    async def go():
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            # the loss's aten op, the loss call, fc2's F.linear, then into it: its addmm
            await pilot.press("B", "n", "n", "s", "x")
            await wait_for(pilot, lambda: done(app.screen))
            return app.screen.session.timeline.step, tool_text(app.screen)

    step, text = run(go())
    assert step.phase == "backward" and step.name == "fc2.linear.addmm"
    # what torch names this op's backward, asked of torch here
    x = torch.randn(5, 4, dtype=torch.float64)
    w = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    assert torch.addmm(b, x, w).grad_fn.name() == "AddmmBackward0"
    assert "autograd AddmmBackward0" in text
    assert "torch name  model.fc2.bias[0]" in text
    # ∂L/∂fc2.bias[0] by running the fixture's model in torch, independently of the recorder
    import importlib.util

    spec = importlib.util.spec_from_file_location("mlp_for_twin_test", MLP)
    mlp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mlp)
    model, inputs, loss_fn = mlp.make()
    loss_fn(model(inputs)).backward()
    row = rows_full(text)["∂L/∂fc2.bias[0]"]  # the tensor's name, not addmm's "self"
    assert float(row["torch"]) == pytest.approx(model.fc2.bias.grad[0].item(), rel=1e-9)
    assert row["engine"] == row["torch"] and row["mark"] == "✓"


ODD = """
import torch


class Double(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.from_numpy(x.detach().numpy() * 2)

    @staticmethod
    def backward(ctx, g):
        return 2 * g


class Odd(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(4, 3, dtype=torch.float64))

    def forward(self, x):
        y = Double.apply(self.w * x)
        y[0].mul_(2)  # in place through a view: its base changes too
        return (y ** 2).sum()


def make():
    torch.manual_seed(0)
    return Odd(), torch.randn(4, 3, dtype=torch.float64), lambda y: y
"""


def test_a_custom_function_is_checked_through_its_own_backward_and_x_says_not_replayable(
        monkeypatch, tmp_path, capsys):
    path = tmp_path / "odd.py"
    path.write_text(textwrap.dedent(ODD))
    app = open_recorded(monkeypatch, path)

    async def go():
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            note = notifications(app)
            timeline = app.screen.session.timeline
            double = next(s.index for s in timeline.steps
                          if s.phase == "backward" and s.op_name == "Double.apply")
            app.screen.go_to(double)
            await pilot.press("x")
            await wait_for(pilot, lambda: done(app.screen))
            custom = tool_text(app.screen)
            write = next(s.index for s in timeline.steps if s.op_name == "view_write")
            app.screen.go_to(write)  # the open twin follows the cursor
            await wait_for(pilot, lambda: "view_write" in tool_text(app.screen)
                           and done(app.screen))
            pane = tool_text(app.screen)
            await pilot.press("X")
            await wait_for(pilot, lambda: "steps checked" in tool_text(app.screen))
            return note, custom, pane, tool_text(app.screen), len(timeline)

    note, custom, pane, report, total = run(go())
    assert "matches no recorded forward op" not in note  # everything is paired
    assert "✓ pass" in custom and "Double.apply" in custom
    assert "not replayable: view_write" in pane and "✓" not in pane
    assert "autograd.grad" not in pane  # no line to rerun for it
    flat = " ".join(report.split())
    # view_write forward and backward (CopySlices) have nothing of their own to replay
    assert f"✓ {total} steps checked" in flat and "2 with nothing to replay, skipped" in flat


def test_a_shapes_only_record_says_shape_only(monkeypatch, capsys):
    app = open_recorded(monkeypatch, MLP, shapes_only=True)

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            note = notifications(app)
            await pilot.press("x")
            await wait_for(pilot, lambda: done(app.screen))
            pane = tool_text(app.screen)
            await pilot.press("X")
            await pilot.pause()
            return note, pane, tool_text(app.screen)

    note, pane, report = run(go())
    assert "shapes only: no values were recorded" in note
    assert "shape only: this record holds shapes, no values (--shapes-only)" in pane
    assert "fc1_linear = F.linear(input, fc1_weight, fc1_bias)" in pane  # the first call
    assert "shape only" in report
