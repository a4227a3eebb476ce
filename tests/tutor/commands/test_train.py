"""``tutor train`` through ``tutor.cli.main``: where weights go, what is printed, and
how bad arguments and Ctrl-C are handled."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tutor.commands.train as train_cli
from engine.train import evaluate
from engine.weights import load_weights
from tutor.cli import main


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("TUTOR_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_train_saves_under_tutor_home_and_reports_the_held_out_match_it_got(home, capsys):
    assert main(["train", "--task", "sort", "--steps", "40", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    path = home / "weights" / "sort.npz"
    assert f"weights saved to {path}" in out
    printed = float(re.search(r"held-out exact match: ([\d.]+)%", out).group(1))
    model = load_weights(path)
    assert printed == pytest.approx(100 * evaluate(model, "sort"), abs=0.05)
    assert "training sort (seed 2, adam, lr 0.003, 40 steps)" in out


def test_out_optimizer_and_lr_are_used(tmp_path, capsys):
    target = tmp_path / "mine" / "copy-sgd.weights"
    assert main(["train", "--task", "copy", "--steps", "3", "--optimizer", "sgd", "--lr", "0.05",
                 "--out", str(target)]) == 0
    out = capsys.readouterr().out
    assert "sgd, lr 0.05, 3 steps" in out and f"weights saved to {target}" in out
    assert load_weights(target).config.d_model == 32


def test_ui_flag_opens_the_training_view_with_the_checked_arguments(home, monkeypatch):
    import tutor.commands.train as training

    calls = []
    monkeypatch.setattr(training, "run_training_view", lambda *a: calls.append(a) or 0)
    assert main(["train", "--task", "copy", "--steps", "2", "--ui"]) == 0
    assert calls == [("copy", 2, 0, 0.003, "adam", home / "weights" / "copy.npz")]


@pytest.mark.parametrize("argv,message", [
    (["--steps", "0"], "--steps: must be between 1 and 10000000, got 0"),
    (["--lr", "0"], "--lr: must be a positive number, got 0"),
    (["--lr", "-0.1"], "--lr: must be a positive number"),
    (["--lr", "nan"], "--lr: must be a positive number"),
    (["--seed", "-3"], "--seed: must be between 0 and"),
    (["--out", "{file}/w.npz"], "is a file, not a folder"),
    (["--out", "{dir}"], "is a folder; give a file name"),
])
def test_bad_arguments_get_one_clear_line_and_exit_2(tmp_path, capsys, argv, message):
    blocker = tmp_path / "plain.txt"
    blocker.write_text("x")
    argv = [a.format(file=blocker, dir=tmp_path) for a in argv]
    with pytest.raises(SystemExit) as stopped:
        raise SystemExit(main(["train", *argv]))
    assert stopped.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("tutor train: ")
    assert "Traceback" not in captured.err + captured.out


def test_ctrl_c_saves_nothing_and_keeps_the_earlier_file(home, capsys, monkeypatch):
    path = home / "weights" / "reverse.npz"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"earlier weights")
    calls = []

    def interrupted_train(task, callback=None, **kwargs):
        from engine.train import Progress

        for step in (1, 2, 3):
            calls.append(step)
            callback(Progress(step, kwargs["steps"], 2.0, 1e-3, None, 0.1, 10.0))
        raise KeyboardInterrupt

    monkeypatch.setattr(train_cli, "train", interrupted_train)
    assert main(["train", "--task", "reverse"]) == 130
    out = capsys.readouterr().out
    assert calls == [1, 2, 3]
    assert f"interrupted: nothing saved to {path} (the file already there is unchanged)" in out
    assert path.read_bytes() == b"earlier weights"
    assert [p.name for p in path.parent.iterdir()] == ["reverse.npz"]


def test_a_loss_that_blows_up_is_reported_not_raised(capsys, monkeypatch):
    def exploding_train(task, **kwargs):
        raise FloatingPointError("the loss became nan at step 7; try a smaller learning rate")

    monkeypatch.setattr(train_cli, "train", exploding_train)
    assert main(["train", "--lr", "50"]) == 1
    err = capsys.readouterr().err
    assert "the loss became nan at step 7" in err and "nothing saved" in err


def test_saved_weights_are_the_trained_ones(tmp_path):
    from engine.train import train

    target = tmp_path / "w.npz"
    assert main(["train", "--task", "copy", "--steps", "5", "--seed", "4", "--out",
                 str(target)]) == 0
    reference = train("copy", steps=5, seed=4)
    loaded = load_weights(target)
    assert all(np.array_equal(loaded.params[n], v) for n, v in reference.params.items())
