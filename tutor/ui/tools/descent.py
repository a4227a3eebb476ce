"""Descent: step every weight against its gradient and watch the loss fall (or not).

One step of gradient descent on the recorded run, w ← w − lr · ∂L/∂w for every
parameter at once, then the forward pass again with the new weights for the loss
after. To first order the loss changes by ∂L/∂w · Δw = −lr · Σ g², so a small enough
step always lowers it; a large one overshoots. ``d`` takes another step from there;
``<``/``>`` halve or double lr and start again from the recorded weights; ``L`` asks
for the learning-rate lab. In the update phase the pane follows the cursor. The
recorded run never changes; the numbers are ``engine.probes``', imported on the
first step.
"""

from __future__ import annotations

from textual.message import Message

from tutor.ui.tools.base import StepperState, Tool
from tutor.ui.tools.keys import DESCENT_KEYS
from tutor.ui.widgets.parts import Parts
from tutor.views.nudge import delta_text, index_text, value_text

DEFAULT_LR = 0.1
MAX_TRAIL = 6  # losses shown in the trail line


class DescentTool(Tool):
    BINDINGS = DESCENT_KEYS

    class LabRequested(Message):
        """The learner asked for the learning-rate lab on this run, at this lr."""

        def __init__(self, tape, lr: float) -> None:
            super().__init__()
            self.tape = tape
            self.lr = lr

    def __init__(self, session, *, id: str = "descent") -> None:
        super().__init__(session, id=id)
        self.chosen_lr: float | None = None  # the learner's lr (< >)
        self.trail = None
        self.element = None

    @property
    def learning_rate(self) -> float:
        """The learner's lr (< >), else the run's own SGD update lr, else the session's."""
        if self.chosen_lr is not None:
            return self.chosen_lr
        for step in self.timeline.steps[self.timeline.update_start:]:
            if step.update.optimizer == "sgd":
                return float(step.update.lr)
        return float(self.session.lr or DEFAULT_LR)

    def applies(self, action: str) -> bool:
        """On a run with no loss (a decoding) < > change the sampling temperature."""
        return action != "scale_lr" or self.timeline.tape.loss is not None

    def _reason(self) -> str | None:
        from tutor.views.descent import no_descent_reason

        return no_descent_reason(self.timeline.tape)

    def _start(self) -> None:
        from engine.probes import DescentTrail

        self.trail = DescentTrail.start(self.timeline.tape, self.learning_rate)

    # keys ---------------------------------------------------------------------------
    def action_step(self) -> None:
        """``d``: one (more) step of gradient descent on every weight; show what it did."""
        reason = self._reason()
        if reason is not None:
            self.show_message("descent", reason)
            return
        if not self.is_open or self.trail is None or self.trail.lr != self.learning_rate:
            self._start()
        self.trail.step()
        self._show()

    def action_scale_lr(self, factor: float) -> None:
        """``<``/``>``: halve or double lr; a shown trail starts again with it."""
        self.chosen_lr = self.learning_rate * float(factor)
        if self._reason() is None and self.is_open and self.trail is not None:
            self._start()
            self.trail.step()
            self._show()
        else:
            self.notify(f"learning rate {self.learning_rate:g}: d takes a step with it",
                        timeout=3)

    def action_lab(self) -> None:
        """``L``: ask for the learning-rate lab on this run."""
        reason = self._reason()
        if reason is not None:
            self.show_message("descent", reason)
            return
        self.post_message(self.LabRequested(self.timeline.tape, self.learning_rate))

    # following the cursor -----------------------------------------------------------
    def watch_state(self, old: StepperState | None, new: StepperState | None) -> None:
        """In the update phase the pane follows the cursor (one step at the run's own
        lr); elsewhere a move closes it."""
        if new is None:
            return
        step = self.timeline.steps[new.position]
        in_update = step.phase == "update" and step.update.optimizer == "sgd"
        if not in_update:
            if old is not None and old.position != new.position:
                self.close()
            return
        if not self.is_open or self.trail is None:
            if self.chosen_lr is None:
                self.chosen_lr = float(step.update.lr)
            if self._reason() is not None:
                return
            # the step itself (a forward and a backward pass, ~20 ms) waits for the frame
            # that shows where the key went; the pane opens now, the numbers come next
            self.trail = None
            self.show_parts(stepping_parts(self.learning_rate))
            self.call_after_refresh(self._first_step)
            return
        self._show()

    def _first_step(self) -> None:
        """The pane's first step, unless a key took one (d) or closed the pane meanwhile."""
        if self.trail is None and self.is_open:
            self._start()
            self.trail.step()
            self._show()

    def _show(self) -> None:
        from tutor.views.descent import element_step, focus_parameter

        selection = self.state.selection if self.state is not None else None
        tensor, index, note = focus_parameter(self.timeline,
                                              selection.slot if selection else None,
                                              selection.index if selection else ())
        self.element = element_step(self.trail, tensor, index, note)
        self.show_parts(descent_parts(self.trail, self.element, self.compact, self.width))


def stepping_parts(lr: float) -> Parts:
    """While the first step is taken: what it is, in the pane's own first line."""
    text = Parts().add("descent ", "bold").add(f"lr {lr:g}", "bold yellow")
    text.add(" · step 1", "bold").add("\n")
    return text.add("w ← w − lr·∂L/∂w on every weight, then the loss again …\n", "dim")


def _loss(x: float) -> str:
    return value_text(x).lstrip("+")


def descent_parts(trail, focus, compact: bool = False,
                  width: int = 80) -> Parts:
    k = trail.steps
    before, after = trail.losses[k - 1], trail.losses[k]
    predicted = trail.predicted_delta()
    text = Parts()
    text.add("descent ", "bold").add(f"lr {trail.lr:g}", "bold yellow")
    text.add(f" · step {k}", "bold")
    text.add("   (< > halve/double lr · d another step · L lab)\n" if width >= 76 else
             "   (< > lr · d step · L lab)\n", "dim")
    text.add("loss ", "dim").add(f"{_loss(before)} → ")
    text.add(_loss(after), "bold green" if after < before else "bold red")
    text.add("   ΔL ", "dim").add(delta_text(after - before)).add("\n")
    text.add("first order ΔL ≈ −lr·Σg² = ", "dim").add(delta_text(predicted))
    if not after < before:
        text.add(" — overshot: try <", "yellow")
    elif abs(after - before) < 0.5 * abs(predicted):
        text.add(" — the surface curves", "dim")
    text.add("\n")
    if k >= 2:
        shown = trail.losses[-MAX_TRAIL:]
        head = "… → " if len(trail.losses) > MAX_TRAIL else ""
        text.add("losses ", "dim").add(head + " → ".join(_loss(x) for x in shown) + "\n")
    name = focus.name if width >= len(focus.name) + 30 else ".".join(focus.name.split(".")[-2:])
    text.add(f"{name}{index_text(focus.index)}", "bold yellow")
    if focus.note and not compact:
        text.add(f"  ({focus.note})", "dim italic")
    text.add("\n")
    text.add("before ", "dim").add(value_text(focus.before))
    text.add("  gradient ", "dim").add(value_text(focus.grad))
    text.add("  after ", "dim").add("w − lr·g = ")
    text.add(value_text(focus.after), "bold")
    text.add("\n")
    return text
