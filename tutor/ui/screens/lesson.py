"""A lesson: the stepper plus the lesson's prose beside each step, quizzes that wait at
their steps like breakpoints, and progress saved as the learner goes."""

from __future__ import annotations

import time

from textual.binding import Binding

from engine.expr import ExpressionError
from tutor.lessons.run import LessonRun
from tutor.lessons.live import StepContext, render
from tutor.storage.progress import ProgressStore, step_key
from tutor.lessons.quiz import QuizSession, secret_of
from tutor.views.recent import Recent
from tutor.views.secret import Concealment
from tutor.views.session import Session
from tutor.ui.screens.quiz import QuizScreen
from tutor.ui.screens.stepper import StepperScreen
from tutor.lessons.exercises import exercises_at
from tutor.ui.tools.exercise import open_exercise_here
from tutor.ui.widgets.lesson_prose import LessonProse
from tutor.storage.notes import QuizNote, without_instructions
from tutor.ui.screens.closing import close_once

SAVE_DELAY = 1.0  # seconds after the last move before the position is written
PROSE_PAUSE = 0.06  # steps closer together than this are a held key: the prose waits


class LessonScreen(StepperScreen):
    BINDINGS = StepperScreen.BINDINGS + [
        Binding("enter", "quiz", "quiz here", show=False),
        Binding("l", "toggle_prose", "lesson text", show=False),
        Binding("pagedown", "scroll_prose(1)", "lesson text ↓", show=False),
        Binding("pageup", "scroll_prose(-1)", "lesson text ↑", show=False),
        Binding("escape", "lessons", "lesson list", show=False),
    ]

    def __init__(self, run: LessonRun, store: ProgressStore,
                 opened_from_home: bool = False) -> None:
        super().__init__(Session(run.timeline, run.title, model=run.scenario.model,
                                 decoding=run.scenario.decoding))
        self.run = run
        self.store = store
        self.opened_from_home = opened_from_home
        self.lesson = run.lesson
        self.placements = run.placements
        saved = store.quiz_results(self.lesson.id)
        self.results: dict[str, str] = {q: r.get("result", "") for q, r in saved.items()}
        self._section_shown: str | None = None
        self._save_timer = None
        self._prose_timer = None
        self._last_step = 0.0  # time.monotonic() of the last step
        self._quiz_open = False
        self._quiz_due = False  # a quiz should open as soon as the lesson is in front again
        self._asked_at: int | None = None
        self._open_quiz: str | None = None  # the id of the quiz on screen
        self._finished: dict[str, QuizSession] = {}  # answered in this sitting (for notes)
        # (position, quiz ids) → their secrets: the step shown and those drawn ahead
        self._concealed = Recent(4)
        self.exercise_steps = exercises_at(self.lesson.id, run.timeline)  # step → exercises
        run.timeline.bookmarks |= set(self.exercise_steps)  # c stops at them too

    # lifecycle ----------------------------------------------------------------------
    def compose_side(self):
        yield LessonProse(id="prose")

    def on_mount(self) -> None:
        """Before the stepper draws (Textual calls StepperScreen.on_mount next)."""
        self.add_class("lesson")
        self.show_side(True)  # at 80×24 the prose, unless l hides it
        self.start()

    def start(self) -> None:
        """Where the lesson opens: where the learner left it."""
        warning = self.store.open_lesson(self.lesson.id)
        position = self.store.restore_position(self.lesson.id, self.run.timeline.steps)
        if position:
            self.run.timeline.jump(position)
        for message in self.store.warnings:  # a damaged progress file moved aside, say
            self.notify(message, severity="warning", timeout=10)
        if warning and warning not in self.store.warnings:
            self.notify(warning, severity="warning", timeout=8)
        if position:
            self.notify(f"Resumed at step {position + 1}.", timeout=3)

    def on_unmount(self) -> None:
        if self.keeps_position:
            self._save_position()

    keeps_position = True  # the lesson remembers where the learner stood

    # quizzes as breakpoints ---------------------------------------------------------
    def waiting_quizzes(self, position: int) -> list:
        return [q for q in self.placements.quizzes_at.get(position, []) if not self.results.get(q.id)]

    def may_leave_step_at(self, position: int) -> bool:
        if self.waiting_quizzes(position):
            self.call_after_refresh(self.action_quiz)
            return False
        return True

    def stop_between(self, old: int, new: int) -> int | None:
        waiting = [p for p in sorted(self.placements.quizzes_at) if old < p < new
                   and self.waiting_quizzes(p)]
        return waiting[0] if waiting else None

    def concealment(self) -> Concealment:
        """Predict, then reveal: the answers of the quizzes waiting at this step (and of the
        one on screen) are hidden until each is answered or skipped."""
        position = self.session.timeline.position
        asked = tuple(q for q in self.placements.quizzes_at.get(position, [])
                      if not self.results.get(q.id) or q.id == self._open_quiz)
        key = (position, tuple(q.id for q in asked))
        found = self._concealed.get(key)
        if found is None:
            secrets = []
            for quiz in asked:
                try:
                    session = QuizSession(quiz, StepContext(self.session.timeline, position))
                except ExpressionError:
                    continue  # a quiz that cannot be set is skipped when it opens
                secrets.append(secret_of(session))
            found = Concealment(tuple(secrets))
            self._concealed.put(key, found)
        return found

    def after_step(self) -> None:
        # the step's numbers first, the prose in the frame after (~2 ms to fill in its
        # numbers, more to render a new section; the tree likewise follows a moment
        # later). While steps come faster than PROSE_PAUSE (a held key) the prose waits
        # for them to pause: drawn at every step it would put each next step behind.
        now = time.monotonic()
        streaming, self._last_step = now - self._last_step < PROSE_PAUSE, now
        if self._prose_timer is not None:
            self._prose_timer.stop()
            self._prose_timer = None
        if streaming:
            self._prose_timer = self.set_timer(PROSE_PAUSE, self._show_section)
        else:
            self.call_after_refresh(self._show_section)
        self._schedule_save()
        position = self.session.timeline.position
        if self.waiting_quizzes(position) and self._asked_at != position:
            self._asked_at = position
            self._quiz_due = True
            self.call_after_refresh(self.action_quiz)

    def action_quiz(self) -> None:
        """Open the (next) quiz at this step; answered ones can be taken again. Only over
        the lesson itself: never on top of the step finder, help or another quiz."""
        if self._quiz_open or not self.is_current:
            return
        if not self.tools_mounted:  # an exercise here opens in its tool's pane
            self.with_tools(self.action_quiz)
            return
        self._quiz_due = False
        position = self.session.timeline.position
        # an exercise here opens once no quiz waits (its pane would show the quiz's answer)
        if not self.waiting_quizzes(position) and open_exercise_here(self, self.lesson.id,
                                                                     self.store):
            return
        quizzes = self.placements.quizzes_at.get(position, [])
        if not quizzes:
            self.notify("No quiz at this step. c runs to the next one.", timeout=3)
            return
        waiting = self.waiting_quizzes(position)
        quiz = waiting[0] if waiting else quizzes[0]
        try:
            session = QuizSession(quiz, StepContext(self.session.timeline, position))
        except ExpressionError as error:  # a broken lesson must not strand the learner
            self.results[quiz.id] = "skipped"
            self.notify(f"This quiz could not be set ({error}); it is skipped.",
                        severity="error", timeout=8)
            return
        number = self.lesson.quizzes.index(quiz) + 1
        title = f"Quiz {number}/{len(self.lesson.quizzes)} · step {position + 1} · {quiz.kind}"
        self._quiz_open = True
        if quiz.id != self._open_quiz and self.results.get(quiz.id):  # taken again: hide it
            self._open_quiz = quiz.id
            self.refresh_step()
        self._open_quiz = quiz.id
        prose = self.query_one(LessonProse)
        self.app.push_screen(QuizScreen(session, title, scroll_text=prose.page,
                                        on_finished=self._quiz_finished),
                             lambda state: self._quiz_closed(session))

    def _quiz_finished(self, session: QuizSession) -> None:
        """The quiz ended (its screen still shows the explanation): save the result now."""
        self.results[session.quiz.id] = session.result.result
        self._finished[session.quiz.id] = session
        warning = self.record_result(session)
        if warning:
            self.notify(warning, severity="warning", timeout=8)
        if all(self.results.get(q.id) for q in self.lesson.quizzes):
            self.all_answered()

    def _quiz_closed(self, session: QuizSession) -> None:
        self._quiz_open = False
        self._open_quiz = None
        if session.result is not None and self.waiting_quizzes(self.session.timeline.position):
            self.call_after_refresh(self.action_quiz)
        self.refresh_step()  # reveal what an answered quiz asked ("later": still hidden)

    def record_result(self, session: QuizSession) -> str | None:
        """Save how a quiz ended; a warning when it could only be kept in memory."""
        return self.store.record_quiz(self.lesson.id, session.quiz.id, session.result)

    def all_answered(self) -> None:
        if not self.store.is_done(self.lesson.id):
            warning = self.store.mark_done(self.lesson.id)
            self.notify(f"Lesson {self.lesson.number} done: every quiz answered. "
                        "Esc returns to the lesson list.", timeout=8)
            if warning:
                self.notify(warning, severity="warning", timeout=8)

    def on_screen_resume(self) -> None:
        """Back from the step finder or help: a quiz that could not open then opens now."""
        if self._quiz_due:
            self.call_after_refresh(self.action_quiz)

    def action_scroll_prose(self, direction: int) -> None:
        self.query_one(LessonProse).page(direction)

    def refresh_status(self) -> None:
        if self.view is not None:
            from tutor.ui.widgets.status_bar import StatusBar
            self.query_one(StatusBar).show(self.view, self.session.title, self.status_extra())

    def status_extra(self) -> str:
        """``L3 · quizzes 2/6`` and what Enter does here: a waiting quiz first, then an
        exercise, then a quiz to take again."""
        position = self.session.timeline.position
        done = sum(1 for q in self.lesson.quizzes if self.results.get(q.id))
        text = f"L{self.lesson.number} · quizzes {done}/{len(self.lesson.quizzes)}"
        if self.waiting_quizzes(position):
            text += " · quiz here (Enter)"
        elif position in self.exercise_steps:
            text += " · exercise here (Enter)"
        elif self.placements.quizzes_at.get(position):
            text += " · quiz again (Enter)"
        return text

    # prose -----------------------------------------------------------------------------
    @property
    def settled(self) -> bool:
        return super().settled and self._prose_timer is None

    def _show_section(self) -> None:
        """The section for this step, its numbers filled in at this step (the Markdown
        is rendered again only when the text changes)."""
        self._prose_timer = None
        if not self.is_attached:  # the lesson closed before the frame after its last step
            return
        text = self._section_markdown(self.placements.section_of[self.session.timeline.position])
        if text != self._section_shown:
            self._section_shown = text
            self.query_one(LessonProse).show(text)

    def _section_markdown(self, index: int | None) -> str:
        if index is None:
            return f"# {self.lesson.title}\n\n{self.lesson.summary}"
        section = self.placements.sections[index]
        try:
            text = render(section.text, StepContext(self.session.timeline),
                          hide=self.concealment().value)
        except ExpressionError as error:
            text = f"{section.text}\n\n*(a number here could not be filled in: {error})*"
        title = f"## {section.title}\n\n" if section.title else ""
        return title + text

    def card_sentence(self) -> str | None:
        return None

    def note_lesson(self) -> str:
        return f"lesson {self.lesson.number}: {self.lesson.title}"

    def note_sentence(self) -> str:
        """What the lesson says at this step, without its instructions about keys."""
        index = self.placements.section_of[self.session.timeline.position]
        return without_instructions(self._section_markdown(index)) if index is not None else ""

    def note_quizzes(self) -> list[QuizNote]:
        position = self.session.timeline.position
        notes = []
        for quiz in self.placements.quizzes_at.get(position, []):
            session = self._finished.get(quiz.id)
            if session is not None and session.result is not None:
                notes.append(QuizNote(session.prompt_text(), session.answers,
                                      session.result.result, session.expected_text(),
                                      session.explanation()))
        return notes

    def action_toggle_prose(self) -> None:
        self.show_side(not self.side_shown())

    def map_in_view(self) -> bool:
        return not self.has_class("compact")  # at 80×24 the prose has the map's place

    def action_lessons(self) -> None:
        """Esc: back to the lesson list when the lesson was opened from it."""
        if not self.is_current:
            return
        self._save_position()
        if self.opened_from_home:
            close_once(self)
        else:
            self.notify("This lesson was opened directly: q quits (your place is saved), "
                        "and `tutor` shows the lesson list.", timeout=5)

    # progress --------------------------------------------------------------------------
    def _schedule_save(self) -> None:
        if not self.keeps_position:
            return
        if self._save_timer is not None:
            self._save_timer.stop()
        self._save_timer = self.set_timer(SAVE_DELAY, self._save_position)

    def _save_position(self) -> None:
        self._save_timer = None
        step = self.session.timeline.step
        warning = self.store.set_position(self.lesson.id, step.index, step_key(step))
        if warning:
            self.notify(warning, severity="warning", timeout=8)
