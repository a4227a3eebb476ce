"""Launch → first frame in instructions: a count that does not drift with the machine.

    python benchmarks/launch_instructions.py [--targets bare,explore,lessons] [--tree PATH]

Wall-clock launches (stepper_speed.py --parts launch) move by ±10 % from one run to the
next on a shared machine, more than most changes to the launch are worth. This counts
the instructions each program runs from its start to its first full frame (Textual
headless at 120×40, so no terminal is involved), under valgrind's cachegrind, the bare
Textual app (bare_app.py) among them: the same code gives the same count on every run,
so an A/B of a change is one run of each tree (`--tree` another checkout). Run one count at
a time on a quiet machine: two run at once on two cores once gave a count 5 % off (the
threads' timing changes what runs before the first frame). Instructions are not time
(loading a shared library costs more time per instruction than Python code does): the
targets stay those of stepper_speed.py, measured in a terminal.

Needs valgrind on PATH. No assertions: it prints figures for the notes.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TARGETS = ("bare", "explore", "lessons")


# Run headless and leave the process at the first full frame of the first screen (not
# Textual's blank one). Passed to `python -c`: the count then holds no compiling of this file.
RUNNER = """
import os, sys
from textual.app import App
target = sys.argv[1]
show, run = App._display, App.run
def display(app, screen, update):
    show(app, screen, update)
    if update is not None and (target == "bare" or type(screen).__name__ != "Screen"):
        os._exit(0)
App._display = display
App.run = lambda app, *a, **k: run(app, *a, **{**k, "headless": True, "size": (120, 40)})
if target == "bare":
    import bare_app
    bare_app.Bare().run()
else:
    from tutor.cli import main
    main(["explore"] if target == "explore" else [])
sys.exit(target + " ended before its first frame")
"""


def instructions(target: str, env: dict[str, str]) -> float:
    """Millions of instructions ``target`` runs up to its first frame."""
    out = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         sys.executable, "-c", RUNNER, target],
        env=env, capture_output=True, text=True, timeout=600)
    found = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
    if out.returncode != 0 or found is None:
        raise SystemExit(f"{target}: no count (exit {out.returncode})\n{out.stderr[-2000:]}")
    return int(found.group(1).replace(",", "")) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--tree", type=Path, default=ROOT,
                        help="the code to count (a checkout of another commit, for an A/B)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt install valgrind)")
    home = Path(tempfile.mkdtemp()) / "home"
    # one BLAS thread and fixed string hashes: nothing in the count depends on timing
    env = dict(os.environ, TUTOR_HOME=str(home), PYTHONPATH=f"{args.tree}{os.pathsep}{HERE}",
               PYTHONHASHSEED="0",
               OPENBLAS_NUM_THREADS="1")
    names = args.targets.split(",")
    for name in names:  # untimed: the lesson cache is written, files are read once
        instructions(name, env)
    counts = {name: instructions(name, env) for name in names}
    print(f"launch → first frame, headless 120×40, instructions (valgrind cachegrind), "
          f"{args.tree}")
    bare = counts.get("bare")
    for name, count in counts.items():
        ratio = f"   {count / bare:.3f}× bare" if bare and name != "bare" else ""
        print(f"  {name:10} {count:9.1f} M{ratio}")


if __name__ == "__main__":
    main()
