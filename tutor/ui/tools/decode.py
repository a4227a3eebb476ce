"""Decode: the model writing its answer one token at a time, read off the recorded run.

``Transformer.generate`` records one scope per new token, ``token_k``: the decoder
runs on the prefix so far (k tokens, so its causal mask is k × k), the generator
turns the last position into logits, softmax into probabilities, argmax picks the
next token, and the token is appended for pass k + 1. This tool finds those scopes
in any recorded tape (``tutor decode``, lesson 13) and, at a ``probs`` or
``argmax`` step, shows the top-k probabilities as bars, the tokens generated so far,
and beside the argmax pick what sampling at temperature T would pick from
softmax(logits / T) — T < 1 sharpens the distribution towards the argmax, T > 1
flattens it. ``k`` shows or hides the bars; ``<``/``>`` halve or double T.

This module is what the stepper imports when it opens; reading the passes off the
tape and the numbers on the bars live in ``decoding``, imported only for a decoding run.
"""

from __future__ import annotations

import re
import weakref

TOOL = "decode"
DEFAULT_TEMPERATURE = 1.0

_runs: "weakref.WeakKeyDictionary[object, object]" = weakref.WeakKeyDictionary()
_mode: "weakref.WeakKeyDictionary[object, str]" = weakref.WeakKeyDictionary()
_temperature: "weakref.WeakKeyDictionary[object, float]" = weakref.WeakKeyDictionary()


def decoding_of(screen):
    """The run's ``decoding.DecodeRun``, or None when it holds no decoding passes."""
    if screen not in _runs:
        if not any(node.name.endswith(".probs") for node in screen.session.timeline.tape.nodes):
            _runs[screen] = None
            return None
        from tutor.views.decoding import find_decoding

        extras = getattr(screen.session, "extras", {}) or {}
        _runs[screen] = find_decoding(screen.session.timeline, extras.get("decoding"),
                                      int(extras.get("seed", 0) or 0))
    return _runs[screen]


def temperature(screen) -> float:
    if screen in _temperature:
        return _temperature[screen]
    extras = getattr(screen.session, "extras", {}) or {}
    run = decoding_of(screen)
    recorded = run.passes[0].temperature if run is not None else None
    return float(extras.get("temperature") or recorded or DEFAULT_TEMPERATURE)


def on_decision_step(screen) -> bool:
    """Is the cursor on a pass's ``probs`` or ``argmax`` (or ``temperature``) step?"""
    name = screen.session.timeline.step.name
    return bool(re.search(r"token_\d+\.(probs|argmax|temperature)$", name))


def wants_bars(screen) -> bool:
    mode = _mode.get(screen, "auto")
    return mode == "on" or (mode == "auto" and on_decision_step(screen))


def refresh(screen) -> None:
    """Show, update or remove the bars as the mode and the cursor say."""
    from tutor.ui.widgets.prob_bars import ProbBars

    run = decoding_of(screen)
    if run is None:
        return
    pane = shown_pane(screen)
    if not wants_bars(screen):
        if pane is not None:
            screen.show_tool(None)
        return
    position = screen.session.timeline.position
    from tutor.ui.tools.nudge import tool_width

    screen.show_tool(ProbBars(run, run.at(position), position, temperature(screen),
                              compact=screen.has_class("compact"), width=tool_width(screen)))


def toggle(screen) -> None:
    """``k``: hide the bars if they are shown, else show them at every step."""
    if decoding_of(screen) is None:
        screen.notify("The probability bars are for decoding runs: try `tutor decode` or "
                      "lesson 13.", timeout=4)
        return
    _mode[screen] = "off" if shown_pane(screen) is not None else "on"
    refresh(screen)


def scale_temperature(screen, factor: float) -> None:
    """``<``/``>`` in a decoding run: halve or double the sampling temperature."""
    _temperature[screen] = min(max(temperature(screen) * float(factor), 1.0 / 64), 64.0)
    if shown_pane(screen) is None:
        _mode[screen] = "on"
    refresh(screen)


def attach(screen) -> None:
    if decoding_of(screen) is None:
        return
    screen.on_step_hooks.append(lambda: refresh(screen))
    screen.notify("A decoding run: at each token's softmax and argmax steps the bars show "
                  "p(next token); k shows or hides them anywhere.", timeout=6)


def shown_pane(screen):
    for child in screen.query_one("#tools").children:
        if getattr(child, "tool", None) == TOOL:
            return child
    return None
