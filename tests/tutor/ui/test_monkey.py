"""A monkey at the keyboard: thousands of random keys from the documented set — bursts of
one to six, Enter, Escape, F2, F3, g, ctrl+p, PageUp/PageDown, typing into quizzes and the
step finder — and resizes from 40×12 to 250×70, over the lesson list, `tutor explore`, a
lesson, a decoding run and the training view. At the end the app is alive, shows a screen
and has not crashed.

The seeds are fixed so a failure can be replayed; ``MONKEY_SEED=n`` tries another, and
``MONKEY_KEYS=n`` changes how many keys each run presses. Failures print the seed and the
last keys pressed."""

from __future__ import annotations

import asyncio
import os
import random
from argparse import Namespace

import pytest

from engine.train import Trainer
from tutor.lessons.catalog import find_lesson, load_lessons
from tutor.lessons.run import start
from tutor.lessons.scenarios import build_scenario
from tutor.storage.progress import ProgressStore
from tutor.ui.app import TutorApp
from tutor.ui.screens.home import HomeScreen
from tutor.ui.screens.lesson import LessonScreen
from tutor.ui.screens.stepper import StepperScreen
from tutor.ui.screens.training import TrainingScreen
from tutor.views.session import Session, explore_session

KEYS = (["n"] * 8 + ["p"] * 4 + ["enter"] * 4 + ["escape"] * 4 + [
    "s", "o", "b", "B", "c", "g", "ctrl+p", "f2", "f3", "pageup", "pagedown", "home", "end",
    "tab", "shift+tab", "up", "down", "left", "right", "plus", "minus", "e", "d", "k", "x",
    "less_than_sign", "greater_than_sign", "question_mark", "m", "l", "L", "t", "space",
    "left_square_bracket", "right_square_bracket", "w", "h", "r", "v", "a", "1", "2", "0",
    "full_stop", "slash", "backspace", "delete"])
PER_RUN = int(os.environ.get("MONKEY_KEYS", "1000"))  # five runs: 5,000 keys in all
LESSONS, _ = load_lessons()


def home_app(tmp_path):
    return TutorApp(lambda: HomeScreen(LESSONS, ProgressStore(tmp_path)))


def explore_app(tmp_path):
    session = explore_session(Namespace(src=None, tgt=None, seed=0, config=None, weights=None,
                                        lr=0.1))
    return TutorApp(lambda: StepperScreen(session))


def lesson_app(tmp_path):
    run = start(find_lesson("3", LESSONS))
    return TutorApp(lambda: LessonScreen(run, ProgressStore(tmp_path)))


def decode_app(tmp_path):
    scenario = build_scenario({"kind": "decode", "src": [3, 1, 4, 1], "seed": 1,
                               "weights": "random"})
    return TutorApp(lambda: StepperScreen(Session(scenario.timeline(), "decode",
                                                  model=scenario.model,
                                                  decoding=scenario.decoding)))


def training_app(tmp_path):
    run = Trainer("reverse", 400, seed=0, lr=0.01, optimizer="adam")
    return TutorApp(lambda: TrainingScreen(run, tmp_path / "weights.npz"))


async def send_burst(app, keys) -> None:
    """Queue key events the way a terminal delivers a burst: all before any is handled
    (``pilot.press`` waits for each key to be handled before sending the next)."""
    from textual import events
    from textual.keys import _character_to_key

    for key in keys:
        if len(key) == 1 and not key.isalnum():
            key = _character_to_key(key)
        char = CHARACTERS.get(key, key if len(key) == 1 else None)
        event = events.Key(key, char)
        event.set_sender(app)
        app._driver.send_message(event)
    await asyncio.sleep(0)


CHARACTERS = {"plus": "+", "minus": "-", "less_than_sign": "<", "greater_than_sign": ">",
              "question_mark": "?", "left_square_bracket": "[", "right_square_bracket": "]",
              "full_stop": ".", "slash": "/", "space": " ", "enter": "\r", "escape": "\x1b",
              "tab": "\t", "backspace": "\x7f"}

APPS = {"home": home_app, "explore": explore_app, "lesson": lesson_app, "decode": decode_app,
        "training": training_app}
SEEDS = {"home": 1, "explore": 2, "lesson": 3, "decode": 4, "training": 5}


@pytest.mark.parametrize("name", list(APPS))
def test_random_keys_and_resizes_never_take_the_tutor_down(name, tmp_path, monkeypatch):
    seed = int(os.environ.get("MONKEY_SEED", SEEDS[name]))
    rng = random.Random(seed)
    monkeypatch.setenv("TUTOR_HOME", str(tmp_path))
    monkeypatch.setenv("EDITOR", "true")  # an exercise's e returns at once
    app = APPS[name](tmp_path)
    pressed: list[str] = []

    async def main():
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            while len(pressed) < PER_RUN:
                if rng.random() < 0.03:
                    size = (rng.randint(40, 250), rng.randint(12, 70))
                    pressed.append(f"resize{size}")
                    await pilot.resize_terminal(*size)
                    continue
                burst = [rng.choice(KEYS) for _ in range(rng.randint(1, 6))]
                pressed.extend(burst)
                await send_burst(app, burst)  # queued at once, as a terminal sends them
                await asyncio.sleep(rng.choice((0.0, 0.01, 0.03, 0.05)))  # 0–50 ms gaps
                if len(pressed) % 50 < 6:
                    await pilot.pause()  # now and then, let the screen catch up
                assert app.is_running and app.crash is None, failure()
            await pilot.pause(0.2)
            assert app.is_running and app.crash is None, failure()
            assert app.screen is not None and len(app.screen_stack) >= 1, failure()

    def failure() -> str:
        return (f"{name}, MONKEY_SEED={seed}: after {len(pressed)} keys, the last: "
                f"{pressed[-12:]}\n{app.crash or ''}")

    try:
        asyncio.run(main())
    except AssertionError:
        raise
    except Exception as error:  # run_test re-raises the app's own exception
        raise AssertionError(f"{failure()}\n{type(error).__name__}: {error}") from error
