"""The Textual app: one class, opening whichever screen the command asked for, and the
one way a command runs it (``run_app``: a crash exits non-zero and says where its log is).
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from textual import work
from textual.app import App
from textual.await_complete import AwaitComplete
from textual.css.query import NoMatches
from textual.command import CommandPalette
from textual.screen import ModalScreen, Screen

from tutor.ui.screens.closing import claim_close


class StepFinder(CommandPalette):
    """``g`` and ``ctrl+p``: go to a step by name (the only commands the tutor offers)."""

    def _action_command_list(self, action: str) -> None:
        # PageDown with no matches (or before the list is laid out) raises inside
        # Textual's OptionList; a key must never take the tutor down.
        try:
            super()._action_command_list(action)
        except (KeyError, IndexError, NoMatches):
            pass

    def dismiss(self, result=None) -> AwaitComplete:
        """Textual closes the palette from several places (Enter, Escape, a click); two in
        one burst must not pop the screen under it."""
        if not claim_close(self):
            return AwaitComplete()
        return super().dismiss(result)

    @work(exclusive=True, group=CommandPalette._GATHER_COMMANDS_GROUP)
    async def _gather_commands(self, search_value: str) -> None:
        """Textual's search, which may still run after Escape took the list away."""
        try:
            await CommandPalette._gather_commands.__wrapped__(self, search_value)
        except NoMatches:
            pass


SERVED_BY = "TUTOR_SERVED_BY"  # set by `tutor serve` for its tabs: the server's process id
SERVER_CHECK = 1.0  # seconds between checks that the server of a browser tab still runs
SWITCH_INTERVAL = 0.0001  # seconds: see run_app


def process_alive(pid: int) -> bool:
    """Does process ``pid`` still run (POSIX; elsewhere it is taken as running)?"""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        return True
    return True


def collect_from_now_on() -> None:
    """After the first frame: what the launch made lives as long as the app, so it is
    left out of collections (frozen), and collection resumes (``tutor.cli`` holds it
    while a screen is built)."""
    gc.freeze()
    gc.enable()


class LeavingExecutor(ThreadPoolExecutor):
    """The threads of the tutor's thread workers (a PyTorch check, the training view).

    When the app ends, ``asyncio.run`` waits for the event loop's executor; a thread busy
    importing torch or checking a step would hold q for up to a second. What it computes
    is only for a screen that is gone, so it is not waited for (``tutor.cli.run`` then
    leaves the process at once)."""

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait=False, cancel_futures=True)


class TutorApp(App):
    """``TutorApp(make_screen)``: the tutor with ``make_screen()`` as its first screen."""

    TITLE = "transformer-tutor"
    # No CSS_PATH: each screen's styles come with it (ui/styles.py)
    COMMANDS = set()  # no Quit/Theme/Screenshot: the palette finds steps (StepperScreen's)

    def __init__(self, make_screen: Callable[[], Screen], notice: str | None = None,
                 notes_path=None, replaceable: bool = False) -> None:
        super().__init__()
        self._make_screen = make_screen
        self._replaceable = replaceable  # the first screen switches itself for another
        self._notice = notice
        self.notes_path = notes_path  # None: the default notes file in the data directory
        self.crash: str | None = None  # the traceback, when something failed
        self.leave_workers_behind = False  # set by run_app: q does not wait for workers

    def on_mount(self) -> None:
        if self.leave_workers_behind:
            asyncio.get_running_loop().set_default_executor(
                LeavingExecutor(thread_name_prefix="tutor-worker"))
        server = os.environ.get(SERVED_BY, "")
        if self.is_web and server.isdigit():
            self.set_interval(SERVER_CHECK, lambda: self._quit_without(int(server)))
        if self._replaceable:
            self.push_screen(self._make_screen())
        self.call_after_refresh(collect_from_now_on)
        if self._notice:
            self.notify(self._notice, severity="warning", timeout=8)

    def get_default_screen(self) -> Screen:
        """The first screen is the app's base screen, not pushed over Textual's blank one:
        composing, styling and drawing that one first cost 33 M instructions of a launch
        (2.4 %, benchmarks/launch_instructions.py). A screen that replaces itself
        (``switch_screen``: review's next item) is pushed over it still: Textual cannot
        switch the base screen."""
        return super().get_default_screen() if self._replaceable else self._make_screen()

    def on_unmount(self) -> None:
        gc.unfreeze()  # what is frozen is collected again (a test runs many apps)

    def _quit_without(self, server: int) -> None:
        """A browser tab's tutor ends with its server: killed outright, the server cannot
        stop its tabs, and nothing would be left to talk to."""
        if not process_alive(server):
            self.exit()

    def notify(self, message: str, *, title: str = "", severity="information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Never markup: messages carry paths, lesson text and what the learner typed."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def action_command_palette(self) -> None:
        """The step finder, over a stepper only and never on top of another modal."""
        screen = self.screen
        if CommandPalette.is_open(self) or isinstance(screen, ModalScreen):
            return
        if not getattr(screen, "COMMANDS", None):
            return
        self.push_screen(StepFinder())  # no id: one closed a key ago may still be in the DOM

    def _handle_exception(self, error: Exception) -> None:
        self.crash = "".join(traceback.format_exception(error))
        super()._handle_exception(error)


def run_app(app: TutorApp) -> int:
    """Run the app; 0 when it ended normally. A crash is written to a log in the data
    directory and named in one line on stderr, with exit status 1."""
    app.leave_workers_behind = True
    if os.name == "posix":  # the driver module needs termios
        from tutor.ui.driver import prompt_exit

        app.driver_class = prompt_exit(app.driver_class)
    switch = sys.getswitchinterval()
    # Textual writes each frame from a thread, and reads keys in another: with Python's
    # 5 ms between thread switches, a frame written just before the main thread goes on
    # working (a lesson's prose, the tree) reached the terminal up to 5 ms late
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        app.run()
    finally:
        sys.setswitchinterval(switch)
    if app.crash is None:
        return app.return_code or 0
    from tutor.storage.paths import data_dir

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        folder = data_dir()
        folder.mkdir(parents=True, exist_ok=True)
        log = folder / f"crash-{stamp}.log"
        log.write_text(app.crash, encoding="utf-8")
        where = f"the details are in {log}"
    except OSError:
        where = "the details are above"
    last = app.crash.strip().splitlines()[-1] if app.crash.strip() else "an error"
    print(f"tutor stopped because of an error ({last}); {where}. Please report it.",
          file=sys.stderr)
    return 1
