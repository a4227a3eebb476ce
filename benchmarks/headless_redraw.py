"""The stepper inside Textual, headless: launch and key → compositor refresh (for profiling).

    python benchmarks/headless_redraw.py [--presses N] [--launches N]

Prints:
- launch → first stepper frame for `tutor explore` (a fresh process each time, headless),
  beside a bare Textual app's launch → first frame. Target: ≤ 1.5× the bare app.
  Also confirms torch was not imported at startup.
- key → redraw for `n` over a whole pass, for the tutor-scale model and for the bigger
  configuration (d_model 256, 8 heads, d_ff 1024, 4 + 4 layers, batch 4, S = T = 32),
  beside a bare app that updates a label on the same key. Key → redraw is the time from
  the key event entering the app to the end of the first screen update after it.
  Targets: median ≤ 1.5× the bare app, under 16 ms at tutor scale, under 50 ms bigger.

No assertions: it prints figures for the closing note and for regressions.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = textwrap.dedent("""
    import os, sys, time
    from textual.screen import Screen
    from textual.app import App
    launched = float(os.environ["BENCH_LAUNCHED"])
    which = sys.argv[1]
    original = Screen._compositor_refresh
    def first_frame(self):
        original(self)
        if which == "bare" or type(self).__name__ == "StepperScreen":
            print(f"FIRST_FRAME {time.time() - launched:.6f} torch={'torch' in sys.modules}",
                  flush=True)
            os._exit(0)
    Screen._compositor_refresh = first_frame
    run = App.run
    App.run = lambda self, *a, **k: run(self, headless=True, size=(120, 40))
    if which == "bare":
        from textual.widgets import Static, Footer
        class Bare(App):
            def compose(self):
                yield Static("hello"); yield Footer()
        Bare().run()
    else:
        from tutor.cli import main
        main(["explore"])
""")


def launch_times(which: str, count: int) -> tuple[list[float], bool]:
    times, torch_loaded = [], False
    for _ in range(count):
        env = dict(os.environ, BENCH_LAUNCHED=repr(time.time()), PYTHONPATH=str(ROOT))
        out = subprocess.run([sys.executable, "-c", CHILD, which], capture_output=True,
                             text=True, env=env, timeout=120).stdout
        line = next(line for line in out.splitlines() if line.startswith("FIRST_FRAME"))
        times.append(float(line.split()[1]) * 1e3)
        torch_loaded |= line.endswith("torch=True")
    return times, torch_loaded


async def key_to_redraw(make_app, presses: int) -> list[float]:
    """Milliseconds from each `n` key event to the end of the next screen update."""
    from textual import events
    from textual.screen import Screen

    frames: list[float] = []
    original = Screen._compositor_refresh

    def timed(self):
        original(self)
        frames.append(time.perf_counter())

    Screen._compositor_refresh = timed
    latencies = []
    try:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.3)
            for _ in range(presses):
                frames.clear()
                event = events.Key("n", "n")
                event.set_sender(app)
                start = time.perf_counter()
                app._driver.send_message(event)
                for _ in range(200):
                    await asyncio.sleep(0.001)
                    if any(f > start for f in frames):
                        break
                after = [f for f in frames if f > start]
                if after:
                    latencies.append((after[0] - start) * 1e3)
                await pilot.pause(0.02)
    finally:
        Screen._compositor_refresh = original
    return latencies


def bare_app():
    from textual.app import App
    from textual.binding import Binding
    from textual.widgets import Footer, Static

    class Bare(App):
        BINDINGS = [Binding("n", "next", "next")]
        count = 0

        def compose(self):
            yield Static("0", id="label")
            yield Footer()

        def action_next(self):
            self.count += 1
            self.query_one("#label", Static).update(str(self.count))

    return Bare()


def tutor_app(config: str | None, src: str | None, batch: int = 1):
    from argparse import Namespace

    import numpy as np

    from engine.optim import sgd_updates
    from engine.timeline import Timeline
    from tutor.ui.app import TutorApp
    from tutor.ui.screens.stepper import StepperScreen
    from tutor.views.session import Session, explore_session, load_model, parse_config

    if batch == 1:
        session = explore_session(Namespace(src=src, tgt=None, seed=0, config=config,
                                            weights=None, lr=0.1))
    else:
        model = load_model(Namespace(weights=None, config=config, seed=0))
        rng = np.random.default_rng(0)
        v, length = model.config.vocab_size, 32
        src_ids, tgt = rng.integers(0, v, (batch, length)), rng.integers(0, v, (batch, length))
        run = model.run(src_ids, tgt, tgt)
        session = Session(Timeline(run.tape, sgd_updates(model.params, run.grads, 0.1)),
                          "bigger configuration", model, run)
    return lambda: TutorApp(lambda: StepperScreen(session))


def summary(values: list[float]) -> str:
    values = sorted(values)
    p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
    return f"median {statistics.median(values):7.2f} ms   p90 {p90:7.2f} ms   (n={len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presses", type=int, default=150)
    parser.add_argument("--launches", type=int, default=5)
    args = parser.parse_args()

    from engine.memory import reuse_freed_memory
    reuse_freed_memory()
    print("launch → first frame (fresh process, headless 120×40)")
    bare, _ = launch_times("bare", args.launches)
    ours, torch_loaded = launch_times("tutor", args.launches)
    ratio = statistics.median(ours) / statistics.median(bare)
    print(f"  bare Textual app   {summary(bare)}")
    print(f"  tutor explore      {summary(ours)}")
    print(f"  ratio {ratio:.2f}×  (target ≤ 1.5×)   torch imported at startup: {torch_loaded}")

    print(f"\nkey → redraw, `n` × {args.presses} (headless 120×40)")
    bare_keys = asyncio.run(key_to_redraw(bare_app, args.presses))
    print(f"  bare Textual app   {summary(bare_keys)}")
    small = asyncio.run(key_to_redraw(tutor_app(None, None), args.presses))
    print(f"  tutor scale        {summary(small)}   "
          f"ratio {statistics.median(small) / statistics.median(bare_keys):.2f}× "
          "(targets ≤ 1.5× bare, < 16 ms)")
    big_config = "d_model=256,n_heads=8,d_ff=1024,n_encoder_layers=4,n_decoder_layers=4,max_len=32"
    big = asyncio.run(key_to_redraw(tutor_app(big_config, None, batch=4), args.presses))
    print(f"  bigger config      {summary(big)}   "
          f"ratio {statistics.median(big) / statistics.median(bare_keys):.2f}× (target < 50 ms)")


if __name__ == "__main__":
    main()
