"""A quiz about the step in front of the learner: answer, hint, retry, skip."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from tutor.lessons.quiz import QuizSession
from tutor.ui.screens.closing import close_once
from tutor.ui.styles import screen_styles


def reflow(text: str) -> str:
    """Join the single line breaks of a TOML string into spaces; keep blank lines."""
    return "\n\n".join(" ".join(part.split()) for part in text.split("\n\n"))

HOW_TO_ANSWER = {
    "number": "a number: 0.37, -1/4, 3e-2, or arithmetic like 0.37*0",
    "shape": "a shape: (3, 4), 3x4 or [3,4]",
    "choice": "the letter of a choice: a, b, …",
    "elements": "positions: (0,1) (0,2), or 1, 3 for one axis; none if there are none",
}


class QuizScreen(ModalScreen[str]):
    """Dismissed with the quiz's state: ``correct``, ``wrong``, ``skipped`` or ``open``
    (closed without finishing; the quiz will ask again before the cursor moves on)."""

    DEFAULT_CSS = screen_styles("quiz.tcss")  # parsed when the screen first opens
    SCOPED_CSS = False

    BINDINGS = [
        Binding("escape", "close", "close (answer later)"),
        Binding("f2", "hint", "hint"),
        Binding("f3", "skip", "skip"),
        Binding("pagedown", "scroll_text(1)", "lesson text ↓", show=False),
        Binding("pageup", "scroll_text(-1)", "lesson text ↑", show=False),
    ]
    TYPING_DELAY = 0.3  # seconds: keys pressed as the quiz opens were meant for the stepper

    def __init__(self, session: QuizSession, title: str, scroll_text=None,
                 on_finished=None) -> None:
        """``on_finished(session)`` is called the moment the quiz ends (right, or given up),
        so its result is saved even if the app is closed before the quiz is."""
        super().__init__()
        self.session = session
        self._on_finished = on_finished
        self.quiz_title = title
        self._hints: list[str] = []
        self._scroll_text = scroll_text
        self._dismissed = False
        self._taking_keys = False  # the answer box opens a moment after the quiz (_ready)

    def compose(self) -> ComposeResult:
        s = self.session
        with Vertical(id="quiz"):
            yield Static(self.quiz_title, id="quiz-title")
            with VerticalScroll(id="quiz-body"):
                yield Static(reflow(s.prompt_text()), id="prompt", markup=False)
                if s.quiz.kind == "choice":
                    yield Static("\n".join(s.choice_lines()), id="choices", markup=False)
                yield Static(id="hints", markup=False)
                yield Static(id="feedback", markup=False)
                yield Static(id="explanation", markup=False)
            yield Input(placeholder=HOW_TO_ANSWER[s.quiz.kind], id="answer")
            with Horizontal(id="buttons"):
                yield Button("Check ⏎", id="check", variant="primary")
                yield Button("Hint F2", id="hint")
                yield Button("Skip F3", id="skip")
                yield Button("Later Esc", id="later")

    def on_mount(self) -> None:
        self.query_one("#hint", Button).disabled = self.session.hints_left == 0
        self.set_class(self.app.size.width < 110 or self.app.size.height < 34, "compact")
        answer = self.query_one(Input)
        answer.disabled = True  # a burst of n presses must not become "nnnn" in the answer
        self._typing_timer = None
        self.call_after_refresh(self._start_typing_timer)  # counted from the first paint

    def _start_typing_timer(self) -> None:
        self._typing_timer = self.set_timer(self.TYPING_DELAY, self._ready)

    def on_key(self, event) -> None:
        """Keys still arriving from the stepper (a held-down n): the answer box opens only
        once they stop for ``TYPING_DELAY``."""
        if not self._dismissed and not self.ready and self._typing_timer is not None:
            self._typing_timer.reset()

    def _ready(self) -> None:
        if self._dismissed:
            return
        answer = self.query_one(Input)
        answer.value = ""
        answer.disabled = False
        answer.focus()
        self._taking_keys = True

    @property
    def inert(self) -> bool:
        """Closed, or not yet built: keys of the burst that opened it do nothing."""
        return self._dismissed or not self.is_mounted

    @property
    def ready(self) -> bool:
        """Is the answer box taking keys (a moment after the quiz opens)?"""
        return self._taking_keys  # not the box's own state: it is enabled before on_mount

    def _close(self) -> None:
        """Dismiss once: keys still arriving in the same burst do nothing."""
        if not self._dismissed and close_once(self, self.session.state):
            self._dismissed = True

    def action_scroll_text(self, direction: int) -> None:
        if self._scroll_text is not None:
            self._scroll_text(direction)

    # actions ------------------------------------------------------------------------
    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if self.inert:
            return
        if self.session.finished:
            self._close()
            return
        text = event.value.strip()
        if text.lower() in ("hint", "?"):
            self.action_hint()
        elif text.lower() == "skip":
            self.action_skip()
        else:
            self._check(text)
        event.input.value = ""

    def _check(self, text: str) -> None:
        if self.inert or self.session.finished:
            return
        feedback = self.session.submit(text)
        box = self.query_one("#feedback", Static)
        box.set_classes(feedback.status)
        box.update(feedback.message)
        if feedback.finished:
            self._finish()

    def action_hint(self) -> None:
        if self.inert or self.session.finished:
            return
        hint = self.session.hint()
        if hint is None:
            self.notify("No more hints: try an answer, or skip (F3).")
            return
        self._hints.append(f"hint {self.session.hints_used}: {reflow(hint)}")
        self.query_one("#hints", Static).update("\n".join(self._hints))
        self.query_one("#hint", Button).disabled = self.session.hints_left == 0

    def action_skip(self) -> None:
        if not self.inert and not self.session.finished:
            self.session.skip()
            self.query_one("#feedback", Static).update(
                f"Skipped. The answer is {self.session.expected_text()}.")
            self._finish()

    def _finish(self) -> None:
        if self._on_finished is not None:
            self._on_finished(self.session)
        self.query_one("#explanation", Static).update("Why: " + reflow(self.session.explanation()))
        for button in ("#check", "#hint", "#skip", "#later"):
            self.query_one(button, Button).display = False
        answer = self.query_one(Input)
        answer.placeholder = "press Enter to continue"
        answer.disabled = False
        answer.focus()
        self._taking_keys = True

    def action_close(self) -> None:
        self._close()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if self.inert:
            return
        if event.button.id == "check":
            answer = self.query_one(Input)
            self._check(answer.value.strip())
            answer.value = ""
        elif event.button.id == "hint":
            self.action_hint()
        elif event.button.id == "skip":
            self.action_skip()
        else:
            self.action_close()
