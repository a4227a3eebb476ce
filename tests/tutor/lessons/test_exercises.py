"""Code exercises as data: the shipped files load, each is set on a real step of its run
(arguments and the engine's answer read there), starters are honest files, the learner's
file is never overwritten, broken files name their field, and the wheel ships the
exercises but not their solutions."""

from __future__ import annotations

import tomllib
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.exercise_solutions import HERE as SOLUTIONS, exercise, run_of, shipped
from tests.paths import ROOT
from tutor.lessons.exercise_check import check_command, ensure_workspace_file, find_position
from tutor.lessons.exercises import (ExerciseNotFound, exercises_at, find_exercise,
                                     load_exercises, starter_text)

# The issue's list: these names with exactly these signatures.
REQUIRED = {
    "softmax-backward": "softmax_backward(p, g) -> dx",
    "linear-backward": "linear_backward(x, W, g) -> (dx, dW, db)",
    "layer-norm-backward": "layer_norm_backward(x, gamma, g, eps) -> (dx, dgamma, dbeta)",
}
ALSO = ("cross-entropy-backward", "relu-backward", "causal-attention", "attention-backward",
        "split-heads", "merge-heads", "positional-encoding", "sgd-step", "adam-step",
        "embedding-backward", "torch-encoder-layer", "torch-training-step")
HARNESS_PARAMETERS = {"call": [], "torch_module": [], "torch_training_step": ["model", "optimizer"]}


def parameters(signature: str) -> list[str]:
    inside = signature.split("(", 1)[1].split(")", 1)[0]
    return [p.strip() for p in inside.split(",") if p.strip()]


def test_the_shipped_exercises_are_the_issues_twelve_plus_two():
    exercises = shipped()
    names = {e.name: e for e in exercises}
    for name, signature in REQUIRED.items():
        assert names[name].signature == signature
    assert set(ALSO) <= set(names)
    numpy_ones = [e for e in exercises if not e.needs_torch]
    assert len(numpy_ones) >= 12
    assert {e.name for e in exercises if e.needs_torch} == {"torch-encoder-layer",
                                                            "torch-training-step"}
    assert [e.number for e in exercises] == list(range(1, len(exercises) + 1))
    for e in exercises:
        assert e.hints and all(h.strip() for h in e.hints)
        assert e.signature.startswith(e.function + "(")


@pytest.mark.parametrize("name", [e.name for e in load_exercises()[0]])
def test_each_exercise_reads_its_arguments_and_answer_at_a_real_step(name):
    """The arguments the learner's function gets are the step's live tensors, and the
    names of its parameters are the signature's."""
    run = run_of(name)
    e = run.exercise
    assert run.step.index == find_position(run.timeline, e.at)
    arguments = run.arguments()
    expected = run.expected(arguments)
    assert [a.name for a in e.call_arguments] == \
        parameters(e.signature)[len(HARNESS_PARAMETERS[e.harness]):]
    assert parameters(e.signature)[:len(HARNESS_PARAMETERS[e.harness])] == \
        HARNESS_PARAMETERS[e.harness]
    for a in e.arguments:
        value = arguments[a.name]
        if a.type == "array":
            assert value.dtype == np.float64 and np.all(np.isfinite(value))
        elif a.type == "ids":
            assert value.dtype == np.int64
        elif a.type == "int":
            assert isinstance(value, int) and value > 0
    for part in expected:
        assert part.value.dtype == np.float64 and np.all(np.isfinite(part.value))
    if e.reference is None:
        assert [p.name for p in expected] == [r.name for r in e.results]


def test_arguments_are_the_tensors_the_stepper_shows_at_that_step():
    """softmax-backward gets exactly the softmax step's output and upstream."""
    run = run_of("softmax-backward")
    step = run.step
    arguments = run.arguments()
    assert step.phase == "backward" and step.node.op.name == "softmax"
    np.testing.assert_array_equal(arguments["p"], step.node.output.value)
    np.testing.assert_array_equal(arguments["g"], step.backward.upstream)
    layer_norm = run_of("layer-norm-backward")
    assert layer_norm.arguments()["eps"] == layer_norm.step.node.attrs["eps"]


def test_each_lesson_exercise_sits_at_its_step_of_the_lesson():
    """Where a lesson screen finds them (Enter at that step opens them)."""
    for e in shipped():
        if e.lesson_id is None:
            continue
        timeline = run_of(e.name).timeline
        placed = exercises_at(e.lesson_id, timeline, list(shipped()))
        position = find_position(timeline, e.at)
        assert e in placed[position]
        assert all(x.lesson_id == e.lesson_id for here in placed.values() for x in here)
    assert exercises_at("01-derivative", run_of("relu-backward").timeline) == {}


def test_the_starter_is_a_python_file_with_the_signature_shapes_and_math():
    for e in shipped():
        run = run_of(e.name)
        shapes = run.shapes()
        text = starter_text(e, shapes, check_command(e, "FILE"))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            compile(text, e.file_name, "exec")
        assert f"def {e.function}({', '.join(parameters(e.signature))}):" in text
        assert f'raise NotImplementedError("write {e.function}")' in text
        assert f"tutor exercise {e.name} --check FILE" in text
        assert e.math.splitlines()[0].strip() in text
        for a in e.call_arguments:
            assert f"    {a.name:<10} {shapes[a.name]:<16}" in text
    softmax = run_of("softmax-backward")
    assert softmax.shapes()["p"] == str(softmax.step.node.output.value.shape)


def test_the_learners_file_is_made_once_from_the_starter_and_never_overwritten(tmp_path):
    run = run_of("relu-backward")
    path, created = ensure_workspace_file(run, tmp_path)
    assert created and path == tmp_path / "01-relu-backward.py"
    assert "NotImplementedError" in path.read_text()
    path.write_text("def relu_backward(x, g):\n    return g\n")
    again, created = ensure_workspace_file(run, tmp_path)
    assert again == path and not created
    assert path.read_text() == "def relu_backward(x, g):\n    return g\n"


def test_find_exercise_by_name_number_or_file_stem():
    exercises = list(shipped())
    assert find_exercise("softmax-backward", exercises).name == "softmax-backward"
    assert find_exercise("4", exercises).name == "softmax-backward"
    assert find_exercise("04-softmax-backward", exercises).name == "softmax-backward"
    with pytest.raises(ExerciseNotFound, match="did you mean 'softmax-backward'"):
        find_exercise("softmax-backwards", exercises)


GOOD = '''name = "{name}"
title = "T"
run = "06-attention"
at = "backward:attn.weights"
function = "f"
signature = "f(p) -> dx"
summary = "S."
math = "M."
hints = ["H."]

[[argument]]
name = "p"
value = "output"

[[result]]
name = "dx"
expect = "contribution(0)"
'''


def write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


def test_a_broken_exercise_file_names_its_file_and_field(tmp_path):
    write(tmp_path, "01-good.toml", GOOD.format(name="good"))
    write(tmp_path, "02-typo.toml", GOOD.format(name="typo").replace("hints", "hint"))
    write(tmp_path, "03-bad-expression.toml",
          GOOD.format(name="bad-expression").replace('"contribution(0)"', '"contribuion(0)"'))
    write(tmp_path, "04-renamed.toml", GOOD.format(name="other"))
    write(tmp_path, "05-bad-type.toml",
          GOOD.format(name="bad-type").replace('value = "output"', 'value = "output"\ntype = "tensor"'))
    write(tmp_path, "01-same-number.toml", GOOD.format(name="same-number"))
    write(tmp_path, "06-no-result.toml", GOOD.format(name="no-result").split("[[result]]")[0])
    write(tmp_path, "badname.toml", GOOD.format(name="x"))
    exercises, problems = load_exercises(tmp_path)
    text = "\n".join(str(p) for p in problems)
    assert [e.name for e in exercises] == ["good"]
    assert "exercises/02-typo.toml: hint: unknown field (did you mean 'hints'?)" in text
    assert "exercises/03-bad-expression.toml: result[0].expect: unknown name 'contribuion'" in text
    assert "exercises/04-renamed.toml: name: is 'other'" in text
    assert "exercises/05-bad-type.toml: argument[0].type: unknown type 'tensor'" in text
    assert "exercise number 1 is also used by" in text
    assert "exercises/06-no-result.toml: result: needs at least one [[result]]" in text
    assert "exercises/badname.toml: the file name must be NN-name.toml" in text


def test_the_wheel_ships_the_exercises_but_not_their_solutions():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    setuptools = pyproject["tool"]["setuptools"]
    assert "tutor.lesson_files.exercises" in setuptools["packages"]
    globs = setuptools["package-data"]["tutor.lesson_files.exercises"]
    lessons = ROOT / setuptools["package-dir"]["tutor.lesson_files"]
    shipped_files = {p for g in globs for p in (lessons / "exercises").glob(g)}
    for e in shipped():
        assert lessons / "exercises" / f"{e.number:02d}-{e.name}.toml" in shipped_files
    packaged = [ROOT / setuptools["package-dir"].get(p, p.replace(".", "/"))
                for p in setuptools["packages"]]
    assert not any(p.name == "tests" or p.is_relative_to(ROOT / "tests") for p in packaged)
    solutions = list(SOLUTIONS.rglob("*.py"))
    assert len(solutions) >= 2 * len(shipped())
    assert not any(s.is_relative_to(p) for s in solutions for p in packaged)
    assert not any(p.suffix == ".py" for p in shipped_files)


def test_adam_reference_is_torch_optim_adam():
    """The engine's answer for adam-step: torch.optim.Adam taking the same second step
    (the state after a first step with the same gradient), to 1e-12."""
    torch = pytest.importorskip("torch")
    run = run_of("adam-step")
    a = run.arguments()
    w = torch.tensor(a["w"], requires_grad=True)
    optimizer = torch.optim.Adam([w], lr=a["lr"], betas=(a["beta1"], a["beta2"]), eps=a["eps"])
    g = torch.tensor(a["g"])
    # a first step with the same gradient leaves exactly the m and v the exercise passes
    w0 = w.detach().clone()
    w.grad = g.clone()
    optimizer.step()
    state = optimizer.state[w]
    np.testing.assert_allclose(state["exp_avg"].numpy(), a["m"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(state["exp_avg_sq"].numpy(), a["v"], rtol=1e-12, atol=0)
    with torch.no_grad():
        w.copy_(w0)  # the exercise's step starts from the run's weight
    w.grad = g.clone()
    optimizer.step()
    assert a["t"] == int(state["step"])
    expected = {p.name: p.value for p in run.expected(a)}
    np.testing.assert_allclose(expected["w_new"], w.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(expected["m_new"], state["exp_avg"].numpy(), rtol=1e-12)
    np.testing.assert_allclose(expected["v_new"], state["exp_avg_sq"].numpy(), rtol=1e-12)


def test_the_training_step_reference_is_lesson_14s_update_under_torch_names():
    run = run_of("torch-training-step")
    parts = {p.name: p.value for p in run.expected()}
    updates = {s.update.name: s.update for s in run.timeline.steps if s.update is not None}
    assert parts["loss"] == pytest.approx(run.context()["loss"])
    assert len(parts) == 1 + len(run.model.torch_state_dict())
    gen = updates["generator.weight"]
    np.testing.assert_array_equal(parts["generator.weight"], gen.before - gen.lr * gen.grad)
    q = updates["encoder.layers.0.self_attn.q_proj.weight"]
    packed = parts["encoder.layers.0.self_attn.in_proj_weight"]
    np.testing.assert_array_equal(packed[:q.after.shape[0]], q.before - q.lr * q.grad)


def test_every_exercise_function_is_written_in_its_solution_with_that_signature():
    """The reference solutions keep the starter's signature (what a learner keeps)."""
    for e in shipped():
        source = (SOLUTIONS / "right" / e.file_name).read_text()
        assert f"def {e.function}({', '.join(parameters(e.signature))}):" in source
