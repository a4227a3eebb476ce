"""Key → screen in a real terminal: the `tutor` command in a pty, beside a bare Textual app.

    pip install -e ".[bench]"
    python benchmarks/stepper_speed.py [--presses N] [--launches N] [--sizes 120x40,80x24]

Each program runs in its own pseudo-terminal (benchmarks/terminal.py) whose output is
read into a terminal emulator (pyte), as a learner's terminal would; the bare Textual app
(benchmarks/bare_app.py) runs the same way in the same run, so ratios hold on any machine.

Prints, beside the bare app:
- key → screen for `n` then `p` in `tutor explore` and in lesson 11 (its quizzes marked
  answered, so they do not open), at each size, from writing the key to the pty: *shown*,
  the end of the first frame that draws the new step, and *settled*, the last byte of the
  frames it caused (median, p90). Targets: shown median ≤ 16 ms and ≤ 2× bare, p90 ≤ 33 ms.
- a held key: 30 presses of `n` at 30 ms, then the time from the last press until the
  screen shows the step it ends on. Target ≤ 50 ms.
- launch → first full frame (the end of the first frame that shows the stepper, or the
  lesson list) and → settled (the last byte before the screen goes quiet): `tutor
  explore` (target ≤ 1.5× bare), `tutor` (the lesson list, ≤ 1.3×), and whether torch
  was imported by then (it must not be).
- `q` → process exit, in each state: the lesson list, explore, explore just after `X`
  (20 ms) and as its helper starts (0.1 s), while `X` loads torch (0.3 s after it) and
  while it checks every step (1.5 s after), and the training view while it trains.
  Target ≤ 100 ms.
- `n` → screen while `X` works (torch loading, then checking, in its helper process).

No assertions: it prints figures for the notes and for spotting regressions.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from terminal import Terminal  # noqa: E402

BARE = [sys.executable, str(Path(__file__).resolve().parent / "bare_app.py")]
TUTOR = [sys.executable, "-m", "tutor.cli"]
LESSON = "11"
STEP = re.compile(r"step (\d+)/")
COUNT = re.compile(r"count (-?\d+)")


def environment(home: Path) -> dict[str, str]:
    return dict(os.environ, TUTOR_HOME=str(home), PYTHONPATH=str(ROOT))


def lesson_home(base: Path) -> Path:
    """A data directory where lesson 11's quizzes are answered: `n` only steps."""
    from tutor.lessons.run import lesson_by_query
    from tutor.storage.progress import ProgressStore

    home = base / "answered"
    home.mkdir()
    lesson = lesson_by_query(LESSON)
    store = ProgressStore(home)
    for quiz in lesson.quizzes:
        store.record_quiz(lesson.id, quiz.id, {"result": "correct", "attempts": 1})
    return home


def counter(text: str) -> int | None:
    found = STEP.search(text) or COUNT.search(text)
    return int(found.group(1)) if found else None


def summary(values: list[float]) -> str:
    if not values:
        return "no samples"
    values = sorted(values)
    p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
    return f"median {statistics.median(values):6.1f} ms  p90 {p90:6.1f} ms  (n={len(values)})"


def open_terminal(argv, size, env, shows=lambda text: counter(text) is not None) -> Terminal:
    terminal = Terminal(argv, size[0], size[1], env)
    if terminal.wait_for(shows, limit=60) is None:
        terminal.close()
        raise SystemExit(f"{' '.join(argv[-2:])} never showed its first screen:\n"
                         + terminal.text())
    return terminal


def key_to_screen(argv, size, env, presses: int):
    """`n` × presses then `p` × presses: each key's milliseconds until its step is shown
    and until the screen settles. Then a held key: 30 × `n` at 30 ms, and the last
    press's milliseconds until the screen shows the step it ends on."""
    terminal = open_terminal(argv, size, env)
    shown, settled = [], []
    try:
        for key in [b"n"] * presses + [b"p"] * presses:
            timing = terminal.key_to_screen(key, quiet=0.08)
            if timing is not None:
                shown.append(timing[0] * 1e3)
                settled.append(timing[1] * 1e3)
        held = terminal.held(b"n", 30, 0.03)
        held = None if held is None else held * 1e3
    finally:
        terminal.close()
    return shown, settled, held


def launch(argv, env, shows) -> tuple[float, float] | None:
    """Milliseconds from starting ``argv`` in a pty to the end of its first frame that
    ``shows`` accepts, and to the last byte before the screen goes quiet (settled: what
    the program draws just after, the tools coming in, say); None if it never shows."""
    terminal = Terminal(argv, 120, 40, env)
    try:
        end = time.perf_counter() + 60
        while time.perf_counter() < end:
            settled = terminal.settle(limit=end - time.perf_counter())
            shown = terminal.parse(shows)
            if shown is not None:
                return (shown - terminal.started) * 1e3, (settled - terminal.started) * 1e3
            terminal.pump(0.05)
        return None
    finally:
        terminal.close()


def torch_at_start(env) -> bool:
    """Whether `tutor explore` has imported torch by its first frame (it must not)."""
    probe = ("import sys, tutor.cli as c; from textual.app import App\n"
             "r = App.run\n"
             "def run(self, *a, **k):\n"
             "    self.call_after_refresh(lambda: (print('TORCH', 'torch' in sys.modules),"
             " self.exit()))\n"
             "    return r(self, *a, headless=True, **k)\n"
             "App.run = run\nc.main(['explore'])")
    import subprocess
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env=env, timeout=120).stdout
    return "TORCH True" in out


def quit_time(argv, env, shows, setup: bytes = b"", wait: float = 0.0) -> float | None:
    """Milliseconds from `q` to the process's exit, after ``setup`` keys and ``wait`` s."""
    terminal = open_terminal(argv, (120, 40), env, shows)
    try:
        if setup:
            terminal.press(setup)
            end = time.perf_counter() + wait
            while time.perf_counter() < end:
                terminal.pump(0.01)
        sent = terminal.press(b"q")
        exited = terminal.exit_time(sent, limit=10)
        return None if exited is None else exited * 1e3
    finally:
        terminal.close()


# keys besides n/p, in this order (each acts on what the ones before it left)
OTHER_KEYS = (("Tab (into a panel)", b"\t"), ("→ (the next cell)", b"\x1b[C"),
              ("b (fwd⇄bwd)", b"b"), ("o (out)", b"o"), ("Home", b"\x1b[H"),
              ("t (tree)", b"t"), ("t (again)", b"t"), ("a (map)", b"a"), ("a (again)", b"a"),
              ("x (twin pane)", b"x"), ("n (twin open)", b"n"), ("x (closes)", b"x"),
              ("? (help)", b"?"), ("q (closes help)", b"q"), ("End", b"\x1b[F"))


def other_keys(sizes, env, rounds: int = 3) -> None:
    """Each of ``OTHER_KEYS`` in `tutor explore`: milliseconds until the screen changes
    (t and a change it only at 80×24, where the tree and the map fold away)."""
    print(f"\nother keys in `tutor explore` → screen changed, median of {rounds}")
    for size in sizes:
        times: dict[str, list[float]] = {name: [] for name, _ in OTHER_KEYS}
        for _ in range(rounds):
            terminal = open_terminal(TUTOR + ["explore"], size, env)
            try:
                terminal.settle(0.5)
                for name, key in OTHER_KEYS:
                    timing = terminal.key_to_screen(key)
                    if timing is not None:
                        times[name].append(timing[0] * 1e3)
                    terminal.settle(0.2)
            finally:
                terminal.close()
        cells = [f"{name} {statistics.median(t):.0f}" if t else f"{name} –"
                 for name, t in times.items()]
        print(f"  {size[0]}×{size[1]}: " + " · ".join(cells) + " ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presses", type=int, default=40)
    parser.add_argument("--launches", type=int, default=5)
    parser.add_argument("--sizes", default="120x40,80x24")
    parser.add_argument("--quits", type=int, default=3, help="q → exit runs per state")
    parser.add_argument("--parts", default="keys,other,launch,quit",
                        help="which figures: keys, other, launch, quit (comma-separated)")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    sizes = [tuple(int(n) for n in size.split("x")) for size in args.sizes.split(",")]

    with tempfile.TemporaryDirectory() as base:
        plain = Path(base) / "plain"
        plain.mkdir()
        env = environment(plain)

        if "keys" in parts:
            keys(sizes, args.presses, env, Path(base))
        if "other" in parts:
            other_keys(sizes, env)
        if "launch" in parts:
            launches(args.launches, env)
        if "quit" in parts:
            quits(args.quits, env)
            keys_while_checking(args.quits, env)


def keys(sizes, presses: int, env, base: Path) -> None:
    print(f"key → screen, `n` × {presses} then `p` × {presses}: shown (the "
          "first frame of the new step)\nand settled (the last byte it caused); held `n`: "
          "30 presses at 30 ms, last press → the last step shown")
    for size in sizes:
        print(f"  {size[0]}×{size[1]}")
        folder = base / f"lesson-{size[0]}x{size[1]}"  # each size starts at the first step
        folder.mkdir()
        lesson_env = environment(lesson_home(folder))
        bare, bare_settled, bare_held = key_to_screen(BARE, size, env, presses)
        bare_median = statistics.median(bare)
        print(f"    {'bare Textual app':<17} shown   {summary(bare)}   held {bare_held:5.1f} ms")
        for name, argv, where in (("tutor explore", TUTOR + ["explore"], env),
                                  (f"tutor {LESSON}", TUTOR + [LESSON], lesson_env)):
            ours, settled, held = key_to_screen(argv, size, where, presses)
            ratio = statistics.median(ours) / bare_median
            held_text = "never" if held is None else f"{held:5.1f} ms"
            print(f"    {name:<17} shown   {summary(ours)}   held {held_text}   "
                  f"{ratio:.2f}× bare")
            print(f"    {'':<17} settled {summary(settled)}")
    print("    targets: shown median ≤ 16 ms and ≤ 2× bare, p90 ≤ 33 ms; held ≤ 50 ms")


def launches(count: int, env) -> None:
    print(f"\nlaunch → first full frame, 120×40, {count} launches each, interleaved in a "
          "shuffled order, 0.2 s apart (after one untimed launch each: files cached, the "
          "lesson cache written)")
    # each program's first complete frame: the bare app's footer comes a frame after its
    # label (Textual fills the footer once the app's bindings are known)
    commands = {"bare": (BARE, lambda text: "count 0" in text and "q quit" in text),
                "explore": (TUTOR + ["explore"], lambda text: STEP.search(text)),
                "home": (TUTOR, lambda text: "What a derivative" in text)}
    times: dict[str, list[float]] = {name: [] for name in commands}
    settled: dict[str, list[float]] = {name: [] for name in commands}
    order = list(commands)
    for round_ in range(count + 1):
        # no program always first (or always after the same one) in a round, and the
        # last one gone before the next starts: the machine's drift falls on all alike
        random.Random(round_).shuffle(order)
        for name in order:
            argv, shows = commands[name]
            time.sleep(0.2)
            elapsed = launch(argv, env, shows)
            if round_ and elapsed is not None:
                times[name].append(elapsed[0])
                settled[name].append(elapsed[1])
    base_median = statistics.median(times["bare"])
    for name, label, target in (("bare", "bare Textual app", None),
                                ("explore", "tutor explore", 1.5),
                                ("home", "tutor (lessons)", 1.3)):
        ratio = "" if target is None else (
            f"   {statistics.median(times[name]) / base_median:.2f}× bare (target ≤ {target}×)")
        print(f"  {label:18}  first frame  {summary(times[name])}{ratio}")
        print(f"  {'':18}  settled      {summary(settled[name])}")
    print(f"  torch imported before the first frame: {torch_at_start(env)}")


def quits(count: int, env) -> None:
    print(f"\nq → process exit, median of {count} (target ≤ 100 ms)")
    stepper = lambda text: counter(text) is not None  # noqa: E731
    states = (("bare Textual app", BARE, stepper, b"", 0.0),
              ("lesson list", TUTOR, lambda text: "What a derivative" in text, b"", 0.0),
              ("explore", TUTOR + ["explore"], stepper, b"", 0.0),
              ("explore, just after X", TUTOR + ["explore"], stepper, b"X", 0.02),
              ("explore, 0.1 s after X", TUTOR + ["explore"], stepper, b"X", 0.1),
              ("explore, X loading torch", TUTOR + ["explore"], stepper, b"X", 0.3),
              ("explore, X checking", TUTOR + ["explore"], stepper, b"X", 1.5),
              ("training view, training", TUTOR + ["train", "--ui", "--steps", "100000"],
               lambda text: "loss" in text, b"", 1.5))
    for name, argv, shows, setup, wait in states:
        times = [quit_time(argv, env, shows, setup, wait) for _ in range(count)]
        exited = [t for t in times if t is not None]
        text = (f"{statistics.median(exited):6.1f} ms" if exited else "")
        if len(exited) < len(times):
            text += f"  ({len(times) - len(exited)} did not exit)"
        print(f"  {name:<26} {text}")



def keys_while_checking(count: int, env) -> None:
    """`n` → the next step shown, 0.3 s after `X` (torch loading) and 1.5 s after (checking)."""
    print(f"\n`n` → screen while X works, 120×40, median of {count} (target ≤ 16 ms)")
    for name, wait in (("X loading torch", 0.3), ("X checking", 1.5)):
        times = []
        for _ in range(count):
            terminal = open_terminal(TUTOR + ["explore"], (120, 40), env,
                                     lambda text: counter(text) is not None)
            try:
                terminal.press(b"X")
                end = time.perf_counter() + wait
                while time.perf_counter() < end:
                    terminal.pump(0.01)
                before = counter(terminal.text())
                moved = terminal.key_to_screen(
                    b"n", shows=lambda text: counter(text) not in (None, before))
                if moved is not None:
                    times.append(moved[0] * 1e3)
            finally:
                terminal.close()
        print(f"  {name:<26} {statistics.median(times):6.1f} ms" if times else
              f"  {name:<26} (never shown)")

if __name__ == "__main__":
    main()
