"""Descent: step every weight against its gradient and watch the loss fall (or not).

One step of gradient descent on the recorded run:

    w ← w − lr · ∂L/∂w      for every parameter at once

then the forward pass runs again with the new weights for the loss after. To first
order the loss changes by ∂L/∂w · Δw = −lr · Σ g², so a small enough step always
lowers it; a large one overshoots. ``d`` takes another step from there (a second
step needs the gradient at the new weights, so the run is re-recorded — forward and
backward — on a lean tape); ``<``/``>`` halve or double lr and start again from the
recorded weights. The recorded run never changes.

``L`` opens the learning-rate lab: the same start, a few dozen steps at each of a
ladder of learning rates, labelled by ``engine.probes.classify_curve`` as crawls /
converges / oscillates / diverges, and Adam beside them.

This module is what the stepper imports when it opens (``attach``, the key actions);
the numbers live in ``descent_run``, imported on the first ``d`` or ``L``.
"""

from __future__ import annotations

import weakref

TOOL = "descent"
DEFAULT_LR = 0.1

_lr: "weakref.WeakKeyDictionary[object, float]" = weakref.WeakKeyDictionary()
_trail: "weakref.WeakKeyDictionary[object, object]" = weakref.WeakKeyDictionary()


def learning_rate(screen) -> float:
    """The learner's lr (< >), else the run's own SGD update lr, else the session's."""
    if screen in _lr:
        return _lr[screen]
    timeline = screen.session.timeline
    for step in timeline.steps[timeline.update_start:]:
        if step.update.optimizer == "sgd":
            return float(step.update.lr)
    return float(getattr(screen.session, "lr", None) or DEFAULT_LR)


def descent_step(screen) -> None:
    """``d``: one (more) step of gradient descent on every weight; show what it did."""
    from engine.probes import DescentTrail
    from tutor.views.descent import no_descent_reason

    tape = screen.session.timeline.tape
    reason = no_descent_reason(tape)
    if reason is not None:
        _show_message(screen, reason)
        return
    trail = _trail.get(screen) if shown_pane(screen) is not None else None
    if trail is None or trail.lr != learning_rate(screen):
        trail = DescentTrail.start(tape, learning_rate(screen))
    trail.step()
    _trail[screen] = trail
    _show(screen, trail)


def scale_lr(screen, factor: float) -> None:
    """``<``/``>``: halve or double lr (a decoding run: its sampling temperature)."""
    from engine.probes import DescentTrail
    from tutor.views.descent import no_descent_reason

    tape = screen.session.timeline.tape
    if tape.loss is None:
        from tutor.ui.tools import decode

        if decode.decoding_of(screen) is not None:
            decode.scale_temperature(screen, factor)
            return
    _lr[screen] = learning_rate(screen) * float(factor)
    if no_descent_reason(tape) is None and shown_pane(screen) is not None:
        trail = DescentTrail.start(tape, learning_rate(screen))
        trail.step()
        _trail[screen] = trail
        _show(screen, trail)
    else:
        screen.notify(f"learning rate {learning_rate(screen):g}: d takes a step with it",
                      timeout=3)


def lr_lab(screen) -> None:
    """``L``: open the learning-rate lab on this run."""
    from tutor.views.descent import no_descent_reason

    tape = screen.session.timeline.tape
    reason = no_descent_reason(tape)
    if reason is not None:
        _show_message(screen, reason)
        return
    from tutor.ui.screens.lr_lab import LrLabScreen

    screen.app.push_screen(LrLabScreen(tape, learning_rate(screen), screen.session.title))


def attach(screen) -> None:
    """In the update phase the pane follows the cursor (one step at the run's own lr);
    elsewhere a move closes it."""

    def follow() -> None:
        timeline = screen.session.timeline
        step = timeline.step
        in_update = step.phase == "update" and step.update.optimizer == "sgd"
        pane = shown_pane(screen)
        if not in_update:
            if pane is not None:
                screen.show_tool(None)
            return
        trail = _trail.get(screen) if pane is not None else None
        if trail is None:
            from engine.probes import DescentTrail
            from tutor.views.descent import no_descent_reason

            _lr.setdefault(screen, step.update.lr)
            if no_descent_reason(timeline.tape) is not None:
                return
            trail = DescentTrail.start(timeline.tape, learning_rate(screen))
            trail.step()
            _trail[screen] = trail
        _show(screen, trail)

    screen.on_step_hooks.append(follow)


def shown_pane(screen):
    for child in screen.query_one("#tools").children:
        if getattr(child, "tool", None) == TOOL:
            return child
    return None


def _show(screen, trail) -> None:
    from tutor.ui.widgets.descent_pane import DescentPane
    from tutor.views.descent import element_step, focus_parameter
    from tutor.ui.tools.nudge import tool_width

    tensor, index, note = focus_parameter(screen)
    focus = element_step(trail, tensor, index, note)
    screen.show_tool(DescentPane(trail, focus, compact=screen.has_class("compact"),
                                 width=tool_width(screen)))


def _show_message(screen, text: str) -> None:
    from tutor.ui.widgets.tool_pane import message_pane

    pane = message_pane(TOOL, "descent", text)
    screen.show_tool(pane)
