"""`tutor exercise NAME --check FILE` and `tutor exercises`, through tutor.cli: every
reference solution passes (exit 0), a typical wrong one fails naming an element with
both values (exit 1), usage errors exit 2, and progress counts the learner's own file."""

from __future__ import annotations

import re
import shutil

import pytest

import tutor.lessons.exercise_check
from tests.exercise_solutions import BROKEN, right, run_of, shipped, wrong
from tutor.cli import main
from tutor.storage.progress import ProgressStore

ELEMENT = re.compile(r"^(?P<name>[\w-]+): wrong: (?P<part>[\w.]+)\[(?P<index>[\d, ]+)\] is "
                     r"(?P<got>\S+) but the engine has (?P<want>\S+)$")


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh data dir; each exercise's run built once for the whole test session."""
    monkeypatch.setenv("TUTOR_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(tutor.lessons.exercise_check, "build_run", lambda e: run_of(e.name))
    return tmp_path / "home"


def needs(exercise) -> None:
    if exercise.needs_torch:
        pytest.importorskip("torch")


@pytest.mark.parametrize("exercise", shipped(), ids=lambda e: e.name)
def test_the_reference_passes_and_a_typical_mistake_fails_naming_an_element(exercise, home,
                                                                             capsys):
    needs(exercise)
    assert main(["exercise", exercise.name, "--check", str(right(exercise))]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{exercise.name}: correct: ")
    assert main(["exercise", exercise.name, "--check", str(wrong(exercise))]) == 1
    first, *rest = capsys.readouterr().out.splitlines()
    match = ELEMENT.match(first)
    assert match, first
    index = tuple(int(i) for i in match["index"].split(", "))
    expected = {p.name: p.value for p in run_of(exercise.name).expected()}
    assert float(match["want"]) == pytest.approx(expected[match["part"]][index], rel=1e-11)
    assert float(match["got"]) != pytest.approx(float(match["want"]), rel=1e-9)
    assert any(line.startswith("  engine: ") for line in rest) or exercise.name == "adam-step"
    assert not (home / "progress.json").exists()  # files outside the workspace: not progress


def test_usage_errors_exit_2_with_one_line(home, tmp_path, capsys):
    assert main(["exercise", "softmax-backwards", "--check", "x.py"]) == 2
    assert capsys.readouterr().err.strip() == (
        "tutor exercise: no exercise named 'softmax-backwards' (did you mean "
        "'softmax-backward'?); `tutor exercises` lists them")
    assert main(["exercise", "softmax-backward", "--check", str(tmp_path / "none.py")]) == 2
    assert "no such file" in capsys.readouterr().err
    text = tmp_path / "notes.txt"
    text.write_text("x")
    assert main(["exercise", "softmax-backward", "--check", str(text)]) == 2
    assert "not a .py file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["exercise"])
    assert stop.value.code == 2


def test_a_file_that_misbehaves_exits_1_with_its_reason(home, capsys):
    for name, words in (("raises.py", "raised ValueError"), ("returns_none.py", "is None"),
                        ("wrong_shape.py", "has shape (1, 1, 3)")):
        assert main(["exercise", "softmax-backward", "--check", str(BROKEN / name)]) == 1
        assert words in capsys.readouterr().out


def test_the_list_shows_each_exercise_and_progress_follows_the_workspace_file(home, capsys):
    assert main(["exercises"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len([line for line in lines if re.match(r"^\s*\d+  ", line)]) == len(shipped())
    assert lines[3].split()[:3] == ["4", "softmax-backward", "—"]
    assert lines[-1] == "Next: tutor exercise relu-backward"
    workspace = home / "exercises" / "04-softmax-backward.py"
    workspace.parent.mkdir(parents=True)
    shutil.copy(wrong(run_of("softmax-backward").exercise), workspace)
    assert main(["exercise", "softmax-backward", "--check", str(workspace)]) == 1
    assert ProgressStore(home).exercise("softmax-backward")["last"] == "wrong"
    shutil.copy(right(run_of("softmax-backward").exercise), workspace)
    assert main(["exercise", "softmax-backward", "--check", str(workspace)]) == 0
    entry = ProgressStore(home).exercise("softmax-backward")
    assert entry["done"] and entry["checks"] == 2
    capsys.readouterr()
    assert main(["exercises"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^ 4  softmax-backward\s+done ", out, re.M)
    assert "1/15 done." in out


def test_a_pytorch_exercise_without_torch_fails_cleanly(home, tmp_path, monkeypatch, capsys):
    fake = tmp_path / "no_torch" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no torch here')\n")
    monkeypatch.setenv("PYTHONPATH", str(fake.parent))
    exercise = run_of("torch-encoder-layer").exercise
    assert main(["exercise", exercise.name, "--check", str(right(exercise))]) == 1
    out = capsys.readouterr().out
    assert out.startswith("torch-encoder-layer: PyTorch is not installed, so this exercise "
                          "cannot run. Install it with: pip install")


def test_the_command_opens_the_stepper_at_the_exercises_step_with_its_pane(home, monkeypatch):
    import asyncio

    import tutor.ui.app
    from tests.tutor.ui.tools import tools_mounted
    from tutor.ui.tools.exercise import ExerciseTool

    apps = []
    monkeypatch.setattr(tutor.ui.app, "run_app", lambda app: apps.append(app) or 0)
    assert main(["exercise", "relu-backward"]) == 0
    run = run_of("relu-backward")

    async def look():
        async with apps[0].run_test(size=(120, 40)) as pilot:
            await tools_mounted(pilot)
            tool = apps[0].screen.query_one(ExerciseTool)
            for _ in range(300):
                if tool.result is not None:
                    break
                await pilot.pause(0.1)
            assert apps[0].screen.session.timeline.position == run.position
            assert tool.result.status == "todo" and tool.is_open

    asyncio.run(look())
    assert (home / "exercises" / "01-relu-backward.py").exists()
