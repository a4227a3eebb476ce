"""The command line: version, check, trace, explore's bad options."""

from __future__ import annotations

import gc

import pytest

from tests.paths import ROOT

from engine import __version__
from tutor.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_check_passes_against_torch(capsys, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setenv("COLUMNS", "160")
    assert main(["check", "--configs", "1"]) == 0
    out = capsys.readouterr().out
    assert "all 2 configurations match PyTorch" in out
    assert "∂L/∂decoder.layers.1.multihead_attn.in_proj_weight" in out


def test_check_fails_on_a_mismatch(capsys, monkeypatch):
    pytest.importorskip("torch")
    import engine.pytorch.twin as twin

    real = twin.compare

    def broken(*args, **kwargs):
        import dataclasses

        matches = real(*args, **kwargs)
        return matches[:1] + [dataclasses.replace(matches[1], max_abs_diff=0.5)] + matches[2:]

    monkeypatch.setattr(twin, "compare", broken)
    assert main(["check", "--configs", "0"]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH" in out and "differ from PyTorch" in out


def test_check_without_torch_says_how_to_install(capsys, monkeypatch):
    import engine.pytorch as pytorch

    def missing():
        raise pytorch.TorchMissing(f"PyTorch is not installed. Install it with: {pytorch.INSTALL}")

    monkeypatch.setattr(pytorch, "import_torch", missing)
    assert main(["check"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "PyTorch is not installed" in out
    assert "pip install 'transformer-tutor[torch]'" in out  # the brackets survive printing


def test_check_refuses_a_negative_number_of_configs(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["check", "--configs", "-1"])
    assert stopped.value.code == 2
    assert "--configs: must be between 0 and 100, got -1" in capsys.readouterr().err


def test_trace_filters_by_scope_and_phase(capsys):
    assert main(["trace", "--backward", "--scope", "decoder.layers.1.cross_attn.*"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()[1:]
    assert lines and all("backward" in line and "decoder.layers.1.cross_attn." in line
                         for line in lines)


def test_trace_marks_accumulation_and_counts_every_step(capsys):
    assert main(["trace"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 + 336
    assert any("∂L/∂encoder.norm (+=)" in line for line in lines)


def test_trace_with_no_match_says_so(capsys):
    assert main(["trace", "--scope", "no-such-op"]) == 1
    assert "no step matches" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["trace", "--config", "d_model=30,n_heads=4"], "must be divisible by n_heads"),
    (["trace", "--config", "width=3"], "is not NAME=NUMBER"),
    (["trace", "--src", "1,2,x"], "--src must be token ids"),
    (["trace", "--src", "1,2,99"], "token 99 is outside"),
    (["explore", "--config", "d_model=0"], "must be at least 1"),
])
def test_bad_options_give_one_clear_line(capsys, argv, message):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.out + captured.err
    assert "Traceback" not in captured.out + captured.err


def test_versions_agree_with_pyproject():
    import re
    from pathlib import Path

    import tutor

    text = (ROOT / "pyproject.toml").read_text()
    declared = re.search(r'^version = "([^"]+)"', text, re.M).group(1)
    assert tutor.__version__ == __version__ == declared


def test_startup_does_not_import_torch_or_markdown():
    """`tutor --help` and the stepper's modules load without torch (it costs a second)."""
    import subprocess
    import sys

    code = ("import sys; import tutor.cli, tutor.commands.explore, tutor.ui.screens.stepper; "
            "print('torch' in sys.modules, 'markdown_it' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.split() == ["False", "False"]


def test_the_lesson_list_opens_without_numpy(tmp_path):
    """`tutor` draws the lesson list (every lesson file read and its structure checked)
    before NumPy is imported: NumPy alone costs ~0.1 s of the launch."""
    import os
    import subprocess
    import sys

    code = ("import sys, tutor.cli as cli\n"
            "from textual.app import App\n"
            "run = App.run\n"
            "def headless(self, *a, **k):\n"
            "    def first_frame():\n"
            "        print('LESSONS', len(self.screen.lessons), 'numpy' in sys.modules)\n"
            "        self.exit()\n"
            "    self.call_after_refresh(first_frame)\n"
            "    return run(self, *a, headless=True, **k)\n"
            "App.run = headless\n"
            "cli.main([])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, TUTOR_HOME=str(tmp_path)), timeout=120).stdout
    found = [line.split() for line in out.splitlines() if line.startswith("LESSONS")]
    assert found and int(found[0][1]) >= 14 and found[0][2] == "False", out


@pytest.mark.parametrize("preset, expected", [(None, 120), ("30", 30)])
def test_the_app_paces_frames_at_120_unless_told_otherwise(tmp_path, preset, expected):
    """Textual waits one to two frame periods before a frame asked for just after another
    (a layout change's second frame): at 120 that wait is 8–17 ms, not 17–33."""
    import os
    import subprocess
    import sys

    code = ("import tutor.cli as cli\n"
            "def dispatch(args, lesson):\n"  # where the command would import Textual
            "    from textual import constants\n"
            "    print('FPS', constants.MAX_FPS)\n"
            "    return 0\n"
            "cli._dispatch = dispatch\n"
            "cli.main(['explore'])\n")
    env = {k: v for k, v in os.environ.items() if k != "TEXTUAL_FPS"}
    if preset is not None:
        env["TEXTUAL_FPS"] = preset
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(env, TUTOR_HOME=str(tmp_path)), timeout=120).stdout
    assert f"FPS {expected}" in out.splitlines(), out


@pytest.fixture
def collector():
    """The garbage collector as the test found it, whatever the test did to it."""
    yield
    gc.enable()
    gc.unfreeze()


@pytest.mark.parametrize("argv, held", [
    (["explore"], True), (["1"], True), ([], True), (["review"], True),
    (["trace"], False), (["lessons"], False), (["train", "--steps", "1"], False)])
def test_only_commands_that_open_a_screen_hold_the_collector(monkeypatch, collector, argv,
                                                             held):
    import tutor.cli as cli

    seen = []
    monkeypatch.setattr(cli, "_dispatch", lambda args, lesson: seen.append(gc.isenabled()) or 0)
    assert cli.main(argv) == 0
    assert seen == [not held]
    assert gc.isenabled()  # given back when the command ends, a screen or not


def test_a_command_that_fails_before_its_screen_gives_the_collector_back(capsys, collector):
    assert main(["explore", "--config", "d_model=oops"]) == 2
    assert "d_model" in capsys.readouterr().err
    assert gc.isenabled()


def test_the_app_turns_collection_on_after_its_first_frame(collector):
    import asyncio

    from textual.widgets import Static
    from textual.screen import Screen

    from tutor.ui.app import TutorApp

    class One(Screen):
        def compose(self):
            yield Static("one")

    async def run():
        gc.disable()
        app = TutorApp(One)
        async with app.run_test() as pilot:
            await pilot.pause()
            assert gc.isenabled()
            assert gc.get_freeze_count() > 0  # what the launch made is left out of collections

    asyncio.run(run())
    assert gc.get_freeze_count() == 0  # and collected again once the app is gone


@pytest.mark.parametrize("argv", [
    ["explore", "--seed", "3", "--config", "d_model=16", "--lr", "0.5"],
    ["trace", "--backward", "--scope", "softmax"],
    ["torch", "model.py:make", "--check"],
    ["train", "--task", "sort", "--steps", "20", "--optimizer", "sgd"],
    ["decode", "--temperature", "0.5"],
    ["serve", "--port", "8001", "explore", "--seed", "3"],
    ["exercise", "softmax", "--check", "mine.py"],
    ["review"], ["home"], [],
])
def test_a_command_line_parses_the_same_with_only_its_command_built(argv):
    """``parse`` builds only the command it was given (argparse takes ~10 ms to build
    all): the options it finds are those the whole command line finds."""
    from tutor.cli import build_parser, parse

    args, lesson = parse(argv)
    assert lesson is None
    assert vars(args) == vars(build_parser().parse_args(argv))


def test_the_help_lists_every_command(capsys):
    from tutor.cli import COMMAND_OPTIONS

    with pytest.raises(SystemExit):
        main(["-h"])
    listed = capsys.readouterr().out
    assert all(f"    {name} " in listed for name in COMMAND_OPTIONS)
    assert len(COMMAND_OPTIONS) == 13
