"""Decoding in the stepper (tutor decode, lesson 13's kind of run): the bars are the
model's next-token distribution and the tokens are the greedy answer, both recomputed
here with the PyTorch twin; the command's errors are one clear message and exit 2."""

from __future__ import annotations

import asyncio
from argparse import Namespace

import numpy as np
import pytest

from tutor.lessons.scenarios import build_scenario
from engine.tasks import BOS, held_out
from engine.timeline import Timeline
from engine.train import default_config
from tutor.storage.weights import save_weights
from engine.model import Transformer
from tutor.ui.app import TutorApp
from tutor.cli import main
from tutor.commands.decode import decode_session
from tutor.ui.screens.stepper import StepperScreen
from tutor.views.session import Session
from tutor.views.decoding import find_decoding
from tutor.ui.tools.decode import DecodeTool
from tests.tutor.ui.tools import shown_tool


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("TUTOR_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "model.npz"
    save_weights(path, Transformer(default_config(), seed=5))
    return path


def args(**kw):
    base = dict(task="reverse", weights=None, src=None, temperature=None, seed=0)
    base.update(kw)
    return Namespace(**base)


def drive(session, script, size=(120, 40)):
    async def run():
        app = TutorApp(lambda: StepperScreen(session))
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            return await script(pilot, app.screen)

    return asyncio.run(run())


def bars_of(screen):
    tool = shown_tool(screen)
    return tool if isinstance(tool, DecodeTool) else None


async def visit_every_pass(pilot, screen):
    """At each pass's softmax step: (pass number, the pane's comparison, its text)."""
    seen = []
    for step in find_decoding(screen.session.timeline, screen.session.decoding).passes:
        screen.go_to(step.probs_step)
        await pilot.pause()
        pane = bars_of(screen)
        seen.append((pane.step.number, pane.comparison, pane.plain))
    return seen


def test_greedy_decode_shown_pass_by_pass_equals_the_torch_twins_tokens(weights):
    torch = pytest.importorskip("torch")
    from engine.pytorch.twin import TorchTwin

    session = decode_session(args(weights=weights, src="3,1,4,1,5"))
    seen = drive(session, visit_every_pass)
    model = session.model
    src = np.array([[3, 1, 4, 1, 5]])
    twin = TorchTwin(model)
    tokens = twin.generate(src, BOS, 5)
    assert [c.greedy_pick for _, c, _ in seen] == tokens[0, 1:].tolist()
    assert [n for n, _, _ in seen] == [1, 2, 3, 4, 5]
    for k, comparison, text in seen:
        prefix = tokens[:, :k]
        with torch.no_grad():
            logits = twin.logits(src, prefix)[0, -1]
            expected = torch.softmax(logits, -1).numpy()
            tempered = torch.softmax(logits / 1.0, -1).numpy()
        assert np.allclose(comparison.greedy_probs, expected, atol=1e-12)
        assert np.allclose(comparison.tempered_probs, tempered, atol=1e-12)
        reads = " ".join(["BOS"] + [str(t) for t in tokens[0, 1:k]])
        assert f"token {k}/5 · reads {reads}▌ · mask {k}×{k} · appends {tokens[0, k]}" in text
        best = int(np.argmax(expected))
        assert f"{best} " in text and f"{expected[best]:.4f} ◀" in text
        assert f"argmax → {best}" in text


def test_temperature_keys_and_a_sampled_run(weights):
    torch = pytest.importorskip("torch")
    from engine.pytorch.twin import TorchTwin

    session = decode_session(args(weights=weights, src="9,8,7", temperature=2.0, seed=4))
    decoding = session.decoding

    async def script(pilot, screen):
        seen = await visit_every_pass(pilot, screen)
        await pilot.press("less_than_sign")  # T 2 → 1
        await pilot.pause()
        return seen, bars_of(screen).comparison

    seen, halved = drive(session, script)
    twin = TorchTwin(session.model)
    src = np.array([[9, 8, 7]])
    # the run sampled at T = 2: the right-hand bars are its recorded distribution and its
    # picks are the tokens it appended
    assert [c.sampled_pick for _, c, _ in seen] == decoding.tokens[0, 1:].tolist()
    for k, comparison, text in seen:
        with torch.no_grad():
            logits = twin.logits(src, decoding.tokens[:, :k])[0, -1]
        assert comparison.recorded == "sample" and "the run's sample, T=2 → " in text
        assert np.allclose(comparison.tempered_probs, torch.softmax(logits / 2, -1).numpy(),
                           atol=1e-12)
        assert comparison.greedy_pick == int(torch.argmax(logits))
    assert halved.temperature == 1.0
    with torch.no_grad():
        last = twin.logits(src, decoding.tokens[:, :3])[0, -1]
    assert np.allclose(halved.tempered_probs, torch.softmax(last, -1).numpy(), atol=1e-12)


def test_k_hides_the_bars_and_shows_them_at_any_step(weights):
    session = decode_session(args(weights=weights, src="2,7"))
    first = find_decoding(session.timeline, session.decoding).passes[0]

    async def script(pilot, screen):
        screen.go_to(first.probs_step)
        await pilot.pause()
        auto = bars_of(screen) is not None
        await pilot.press("k")
        hidden = bars_of(screen) is None
        screen.go_to(first.first + 2)  # inside pass 1, before its softmax
        await pilot.pause()
        still_hidden = bars_of(screen) is None
        await pilot.press("k")
        await pilot.pause()
        return auto, hidden, still_hidden, bars_of(screen).plain

    auto, hidden, still_hidden, text = drive(session, script)
    assert auto and hidden and still_hidden
    assert "p(next) comes at step" in text


def test_a_lesson_style_decode_scenario_gets_the_bars_too():
    scenario = build_scenario({"kind": "decode", "src": [3, 1, 4], "weights": "random"})
    session = Session(Timeline(scenario.tape), "lesson 13", scenario.model,
                      decoding=scenario.decoding)
    found = find_decoding(session.timeline, session.decoding)
    assert [p.number for p in found.passes] == [1, 2, 3]
    picks = drive(session, lambda pilot, screen: visit_every_pass(pilot, screen))
    assert [c.greedy_pick for _, c, _ in picks] == scenario.decoding.tokens[0, 1:].tolist()


def test_the_default_source_is_a_held_out_sequence(weights):
    session = decode_session(args(weights=weights, task="sort"))
    src = session.decoding.tokens.shape[1] - 1
    assert src == held_out("sort").src.shape[1]
    tape_src = next(t for t in session.timeline.tape.tensors if t.name == "src").value
    assert np.array_equal(tape_src[0], held_out("sort").src[0])
    assert "expected " + " ".join(map(str, np.sort(held_out("sort").src[0]))) in session.title


def test_without_trained_weights_decode_says_how_to_get_them(capsys, home):
    assert main(["decode", "--task", "copy"]) == 2
    err = capsys.readouterr().err
    assert "no trained weights for the copy task" in err
    assert "tutor train --task copy" in err and "about a minute" in err
    assert str(home / "weights" / "copy.npz") in err


@pytest.mark.parametrize("extra,message", [
    (["--src", "3,x"], "--src must be token ids"),
    (["--src", "3,12"], "--src: 12 is not a digit"),
    (["--src", ",".join(["1"] * 16)], "--src has 16 digits"),
    (["--temperature", "0"], "--temperature: must be a positive number"),
    (["--temperature", "nan"], "--temperature: must be a positive number"),
    (["--seed", "-1"], "--seed: must be between 0 and"),
])
def test_bad_arguments_exit_2_with_one_message(weights, capsys, extra, message):
    with pytest.raises(SystemExit) as stopped:
        raise SystemExit(main(["decode", "--weights", str(weights)] + extra))
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("tutor decode: ") and message in err and "Traceback" not in err


def test_an_unreadable_weights_file_is_named(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    assert main(["decode", "--weights", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"--weights {bad}" in err and "Traceback" not in err
