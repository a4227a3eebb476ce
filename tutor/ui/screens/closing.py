"""Closing a screen once, and only the screen meant.

Textual's ``dismiss`` and ``pop_screen`` pop whatever screen is on top. Two close keys in
one burst, or a close that arrives while another screen is being pushed, would pop a
screen nobody meant to close (a quiz, the lesson under it, the last screen of the app).
A screen is not closed before it has mounted either: its own ``on_mount`` would then run
on a screen whose widgets are already gone.
"""

from __future__ import annotations

from weakref import WeakSet

from textual.screen import Screen

_closing: "WeakSet[Screen]" = WeakSet()


def claim_close(screen: Screen) -> bool:
    """True (once) when ``screen`` is the mounted screen in front and may close now."""
    if screen in _closing or not screen.is_attached or screen.app.screen is not screen:
        return False
    if not screen.is_mounted:  # a close key in the burst that opened it
        return False
    _closing.add(screen)
    return True


def close_once(screen: Screen, result=None) -> bool:
    """Dismiss ``screen`` with ``result`` if it is the screen in front and is not already
    closing; True when it was closed."""
    if not claim_close(screen):
        return False
    screen.dismiss(result)
    return True
