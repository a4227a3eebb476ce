"""The terminal driver of a ``tutor`` run that ends the process when the app ends.

Textual's driver, on exit, joins its input thread; that thread wakes from a 0.1 s
``select`` to see it should stop, then waits another 0.1 s for input that may still
arrive: 100–200 ms between q and the shell prompt, for a process that ``tutor.cli.run``
ends with ``os._exit`` a moment later anyway. So on exit the thread is told to stop and
not waited for. When the app only suspends (``e`` opens ``$EDITOR``), the thread is
joined as before: it must not read the editor's keys.
"""

from __future__ import annotations

from textual.drivers.linux_driver import LinuxDriver


class PromptExitDriver(LinuxDriver):
    """LinuxDriver whose input thread is not waited for when the app exits."""

    def disable_input(self) -> None:
        if not getattr(self._app, "_exit", False) or self._key_thread is None:
            super().disable_input()  # suspending (or already stopped): as Textual does
            return
        self._key_thread = None  # not joined: the process ends right after the app
        super().disable_input()  # mouse off, SIGWINCH back to default, input flushed
        self.exit_event.set()  # (Textual clears it after a join) the thread ends at its next wake


def prompt_exit(driver_class: type) -> type:
    """The driver to run with: this one in place of Textual's terminal driver, any other
    (a browser tab's, a headless test's) unchanged."""
    return PromptExitDriver if driver_class is LinuxDriver else driver_class
