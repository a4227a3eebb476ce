"""Review: the quizzes a learner got wrong or skipped, asked again on fresh numbers.

Each review is its lesson's step on a new run of the lesson's scenario (other inputs,
another seed), with the lesson's text and the same question; only that quiz asks.
Right twice in a row (over reviews) and the quiz is no longer due. Enter after a review
goes on to the next; Esc stops (what was answered is saved).
"""

from __future__ import annotations

from rich.text import Text

from tutor.lessons.quiz import QuizSession
from tutor.lessons.review import ReviewItem, ReviewQueue
from tutor.storage.progress import ProgressStore
from tutor.storage.progress_format import REVIEW_STREAK
from tutor.ui.screens.lesson import LessonScreen
from tutor.ui.screens.closing import close_once


class ReviewScreen(LessonScreen):
    """The lesson's keys; Enter also goes on to the next review, Esc stops reviewing."""

    keeps_position = False  # a review's run is not the lesson's: nothing to resume

    def __init__(self, queue: ReviewQueue, item: ReviewItem, store: ProgressStore,
                 opened_from_home: bool = False) -> None:
        super().__init__(item.run, store, opened_from_home)
        self.queue = queue
        self.item = item
        self.reviewed = False
        # only the quiz under review asks; the lesson's others count as answered here
        self.results = {q.id: "review" for q in self.lesson.quizzes if q.id != item.quiz.id}

    def start(self) -> None:
        """At the quiz's step; nothing of the lesson's own progress is touched."""
        self.run.timeline.jump(self.item.position)
        numbers = "on fresh numbers" if self.item.fresh else "on the lesson's own numbers"
        self.notify(f"Review {self.queue.index + 1} of {len(self.queue)}: lesson "
                    f"{self.lesson.number}, {numbers}.", timeout=4)

    def status_extra(self) -> str:
        return (f"review {self.queue.index + 1}/{len(self.queue)} · L{self.lesson.number}"
                + (" · Enter: next" if self.reviewed else ""))

    def record_result(self, session: QuizSession) -> str | None:
        right = session.result.result in ("correct", "correct_after_hints")
        streak = self.queue.streak + 1 if right else 0
        self.reviewed = True
        if right and streak >= REVIEW_STREAK:
            self.notify("Right again: this quiz is no longer due.", timeout=5)
        elif right:
            self.notify(f"Right ({streak} of {REVIEW_STREAK} in a row): it comes back once "
                        "more.", timeout=5)
        else:
            self.notify("It stays due: it comes back on other numbers.", timeout=5)
        return self.store.record_review(self.lesson.id, session.quiz.id, right)

    def all_answered(self) -> None:
        """Nothing to mark: the lesson's own progress is not a review's."""

    def action_quiz(self) -> None:
        """Enter: the quiz, or once it is answered, the next review."""
        if self.reviewed and self.is_current:
            self.next_review()
        else:
            super().action_quiz()

    def next_review(self) -> None:
        item = self.queue.next_item()
        if item is None:
            self.finish()
            return
        self.app.switch_screen(ReviewScreen(self.queue, item, self.store,
                                            self.opened_from_home))

    def finish(self) -> None:
        skipped = f" ({len(self.queue.skipped)} could not be set here)" if self.queue.skipped \
            else ""
        left = len(self.store.due_reviews())
        message = (f"Reviews done{skipped}. " + (f"{left} still due: they come back next time."
                                                  if left else "Nothing is due."))
        if self.opened_from_home:
            if close_once(self):
                self.app.notify(message, timeout=8)
        else:
            self.app.exit(message=Text(message))

    def action_stop(self) -> None:
        if self.is_current:
            self.finish()

    def action_lessons(self) -> None:
        self.action_stop()
