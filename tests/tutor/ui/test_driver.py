"""The terminal driver of a `tutor` run: on exit its input thread is not waited for;
when the app only suspends (for $EDITOR) it is, so it cannot read the editor's keys."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the terminal driver is POSIX's")


class FakeApp:
    def __init__(self, exiting: bool) -> None:
        self._exit = exiting


def driver_with_input_thread(exiting: bool):
    """A PromptExitDriver whose input thread, like Textual's, sees the exit event only
    after a wait (its `select`), and then takes a while more to finish."""
    from tutor.ui.driver import PromptExitDriver

    async def make():  # a driver belongs to an event loop
        return PromptExitDriver(FakeApp(exiting), debug=False, mouse=False, size=(80, 24))

    driver = asyncio.run(make())
    driver.fileno = os.open(os.devnull, os.O_RDONLY)  # tcflush fails on it: Textual ignores that
    release = threading.Event()

    def input_thread():
        while not driver.exit_event.wait(0.01):
            pass
        release.wait(10)  # its last select: held until the test lets it go

    driver._key_thread = threading.Thread(target=input_thread, daemon=True)
    driver._key_thread.start()
    return driver, release


def test_on_exit_the_input_thread_is_told_to_stop_and_not_waited_for():
    driver, release = driver_with_input_thread(exiting=True)
    thread = driver._key_thread
    driver.disable_input()  # would block until release if it joined
    assert thread.is_alive() and driver.exit_event.is_set()
    release.set()
    thread.join(5)
    assert not thread.is_alive()  # it saw the event and ended on its own
    driver.disable_input()  # Textual calls it again while shutting down: nothing to do
    os.close(driver.fileno)


def test_when_suspending_the_input_thread_is_joined():
    driver, release = driver_with_input_thread(exiting=False)
    thread = driver._key_thread
    threading.Timer(0.2, release.set).start()
    driver.disable_input()
    assert not thread.is_alive()  # joined: the editor alone reads the terminal
    assert not driver.exit_event.is_set()  # ready for the input thread of the resume
    os.close(driver.fileno)


def test_only_the_terminal_driver_is_replaced():
    from textual.drivers.headless_driver import HeadlessDriver
    from textual.drivers.linux_driver import LinuxDriver

    from tutor.ui.driver import PromptExitDriver, prompt_exit

    assert prompt_exit(LinuxDriver) is PromptExitDriver
    assert prompt_exit(HeadlessDriver) is HeadlessDriver
