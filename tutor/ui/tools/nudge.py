"""Nudge: move the selected number by ±ε, run the forward pass again, and set the change
in the loss beside what the gradient promised.

    measured   ΔL = L(x ± ε) − L(x)          (a re-run of the forward pass, ``engine.replay``)
    predicted  ΔL ≈ ±ε · ∂L/∂x               (∂L/∂x from the recorded backward pass)

The table repeats the experiment for ε = 1e-1 … 1e-4, one-sided and central
(½[L(x + ε) − L(x − ε)], whose error shrinks as ε² instead of ε), so the ratio
measured / predicted visibly walks to 1. Nothing in the recorded run changes: a
replay computes new values beside the record, so the number is "restored" at once.

x is any real value with a gradient: a weight, or an activation (then ∂L/∂x is that
tensor's total gradient, summed over every op that reads it). A gradient panel
stands for the value it is the gradient of.

This module is what the stepper imports when it opens (``attach``, the key actions);
the measuring lives in ``nudge_measure``, imported on the first nudge.
"""

from __future__ import annotations

import weakref

EPSILONS = (1e-1, 1e-2, 1e-3, 1e-4)
DEFAULT_EPSILON = 1e-3
TOOL = "nudge"

_epsilon: "weakref.WeakKeyDictionary[object, float]" = weakref.WeakKeyDictionary()


# actions ----------------------------------------------------------------------------
def epsilon(screen) -> float:
    return _epsilon.get(screen, DEFAULT_EPSILON)


def nudge(screen, sign: int = 1) -> None:
    """``+``/``-``: nudge the selected element and show the measurement."""
    from tutor.ui.widgets.nudge_pane import NudgePane
    from tutor.ui.widgets.tool_pane import message_pane
    from tutor.views.nudge import find_target, measure, no_loss_reason

    tape = screen.session.timeline.tape
    reason = no_loss_reason(tape)
    target = find_target(screen.session.timeline, *screen.selected_element()) \
        if reason is None else reason
    if isinstance(target, str):
        screen.show_tool(message_pane(TOOL, "nudge", target))
        return
    report = measure(tape, target, epsilon(screen), sign)
    screen.show_tool(NudgePane(report, compact=screen.has_class("compact"),
                               width=tool_width(screen)))


def cycle_epsilon(screen) -> None:
    """``e``: the next ε of 1e-1 → 1e-2 → 1e-3 → 1e-4 → 1e-1; re-measure if a nudge is shown."""
    current = epsilon(screen)
    position = EPSILONS.index(current) if current in EPSILONS else -1
    _epsilon[screen] = EPSILONS[(position + 1) % len(EPSILONS)]
    pane = shown_pane(screen)
    if pane is not None and getattr(pane, "report", None) is not None:
        nudge(screen, pane.report.sign)
    else:
        screen.notify(f"ε = {epsilon(screen):g}: press + or − to nudge the selected number.",
                      timeout=3)


def tool_width(screen) -> int:
    """Columns a pane has: the centre column's width, less the pane's padding."""
    return max(screen.query_one("#center").size.width - 2, 40)


def shown_pane(screen):
    """The nudge pane in the tool area, if one is there."""
    for child in screen.query_one("#tools").children:
        if getattr(child, "tool", None) == TOOL:
            return child
    return None


def attach(screen) -> None:
    """A nudge describes one element of one step: moving the cursor closes it."""

    def close_on_move() -> None:
        if shown_pane(screen) is not None:
            screen.show_tool(None)

    screen.on_step_hooks.append(close_on_move)


