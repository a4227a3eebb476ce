"""The lesson list: progress per lesson, resume, explore."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.content import Content
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tutor.lessons.catalog import Lesson
from tutor.storage.progress import ProgressStore
from tutor.ui.screens.closing import close_once
from tutor.ui.widgets.key_bar import KeyBar
from tutor.ui.styles import StyledOnMount, screen_styles


class HomeScreen(StyledOnMount, Screen):
    DEFAULT_CSS = screen_styles("home.tcss")  # parsed when the screen first opens
    SCOPED_CSS = False

    BINDINGS = [
        Binding("enter", "open", "open lesson"),
        Binding("r", "resume", "resume"),
        Binding("e", "explore", "explore the model"),
        Binding("v", "review", "review"),
        Binding("question_mark", "help", "help", key_display="?"),
        Binding("q", "quit", "quit"),
    ]

    def __init__(self, lessons: list[Lesson], store: ProgressStore, problems: list | None = None):
        super().__init__()
        self.lessons = lessons
        self.store = store
        self.problems = problems or []
        self._rows_width = -1

    def compose(self) -> ComposeResult:
        yield Static("transformer-tutor: step through a transformer, forward and backward, one "
                     "operation at a time", id="home-title")
        yield Static(id="lessons-header")
        yield OptionList(id="lessons")
        yield Static(id="home-info")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one("#lessons", OptionList)
        self.refresh_rows()
        table.focus()
        last = self.store.last_lesson
        for i, lesson in enumerate(self.lessons):
            if lesson.id == last:
                table.highlighted = i
        self.show_info()
        for warning in self.store.warnings:
            self.notify(warning, severity="warning", timeout=10)

    def show_info(self) -> None:
        last = self.store.last_lesson
        due = len(self.store.due_reviews())
        info = [f"{due} review{'s' if due != 1 else ''} due (v)" if due else "no reviews due"]
        if last:
            info.append(f"r resumes {last}")
        if self.problems:
            info.append(f"{len(self.problems)} lesson file problem(s): run `tutor lessons --check`")
        info.append(f"progress: {self.store.path}")
        self.query_one("#home-info", Static).update(Content("   ".join(info)))  # a path: no markup

    def on_screen_resume(self) -> None:
        self.refresh_rows()
        self.show_info()

    def on_resize(self) -> None:
        if self.size.width != self._rows_width:
            self.refresh_rows()

    def refresh_rows(self) -> None:
        """One option per lesson, in columns: number, progress, quizzes, title (cut to fit).

        An ``OptionList`` of ``Content`` lines, not a ``DataTable``: it draws the list
        in a fraction of the time, and the lesson list is the first screen."""
        table = self.query_one("#lessons", OptionList)
        self._rows_width = self.size.width
        row = table.highlighted
        rows = [(str(lesson.number), *reversed(self._progress(lesson))) for lesson in self.lessons]
        headers = ("#", "progress", "quizzes")
        widths = [max([len(headers[i])] + [len(r[i]) for r in rows]) for i in range(3)]
        # the list's margins, border and padding take 6 columns, a scrollbar 2 more (when
        # the lessons overflow the rows left by the title, header, info and keys); gaps 6
        scrollbar = 2 if len(rows) > self.size.height - 9 else 0
        room = max(self.size.width - 7 - scrollbar - sum(widths) - 3 * 2, 12)

        def line(cells, title: str) -> str:
            number, status, quizzes = cells
            return (f"{number:>{widths[0]}}  {status:<{widths[1]}}  "
                    f"{quizzes:<{widths[2]}}  {title}")

        self.query_one("#lessons-header", Static).update(
            Content.styled(line(headers, "lesson"), "bold"))
        # Content, not markup: a title is the lesson file's own text
        table.clear_options()
        table.add_options(Option(Content(line(cells, elide(lesson.title, room))), id=lesson.id)
                          for cells, lesson in zip(rows, self.lessons))
        if self.lessons:
            table.highlighted = min(max(row or 0, 0), len(self.lessons) - 1)

    def _progress(self, lesson: Lesson) -> tuple[str, str]:
        results = self.store.quiz_results(lesson.id)
        answered = sum(1 for q in lesson.quizzes if results.get(q.id, {}).get("result"))
        right = sum(1 for q in lesson.quizzes
                    if results.get(q.id, {}).get("best", "").startswith("correct"))
        quizzes = f"{answered}/{len(lesson.quizzes)}" + (f" ({right} right)" if answered else "")
        if self.store.is_done(lesson.id):
            status = "✓ done"
        elif self.store.lesson(lesson.id).get("position"):
            status = f"in progress (step {self.store.lesson(lesson.id)['position']['index'] + 1})"
        else:
            status = "not started"
        return quizzes, status

    # actions -----------------------------------------------------------------------
    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.open_lesson(self.lessons[event.option_index])

    def action_open(self) -> None:
        table = self.query_one("#lessons", OptionList)
        if self.lessons and table.highlighted is not None:
            self.open_lesson(self.lessons[table.highlighted])

    def action_resume(self) -> None:
        last = self.store.last_lesson
        lesson = next((x for x in self.lessons if x.id == last), None)
        if lesson is None:
            self.notify("Nothing to resume yet: open a lesson with Enter.", timeout=4)
            return
        self.open_lesson(lesson)

    def open_lesson(self, lesson: Lesson) -> None:
        from tutor.lessons.run import start
        from tutor.ui.screens.lesson import LessonScreen

        try:
            run = start(lesson)
        except ValueError as error:
            self.notify(f"Lesson {lesson.id} could not start: {error}", severity="error",
                        timeout=10)
            return
        self.app.push_screen(LessonScreen(run, self.store, opened_from_home=True))

    def action_review(self) -> None:
        """The quizzes got wrong or skipped, on fresh numbers."""
        from tutor.lessons.review import due_queue
        from tutor.ui.screens.review import ReviewScreen

        queue = due_queue(self.store.due_reviews())
        item = queue.next_item() if len(queue) else None
        if item is None:
            self.notify("Nothing to review: a quiz answered wrong or skipped comes back here "
                        "on fresh numbers.", timeout=5)
            return
        self.app.push_screen(ReviewScreen(queue, item, self.store, opened_from_home=True))

    def action_explore(self) -> None:
        from argparse import Namespace

        from tutor.views.session import explore_session

        session = explore_session(Namespace(src=None, tgt=None, seed=0, config=None,
                                            weights=None, lr=0.1))
        self.app.push_screen(ExploreFromHome(session))

    def action_help(self) -> None:
        from tutor.ui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen(self))

    def action_quit(self) -> None:
        self.app.exit()


def elide(text: str, width: int) -> str:
    """``text`` cut at a word to fit ``width`` columns, with … where it was cut."""
    if len(text) <= width:
        return text
    cut = text[:max(width - 1, 1)]
    if " " in cut:
        cut = cut[:cut.rfind(" ")].rstrip(" ,:;·—-")
    return cut + "…"


def _explore_screen_class():
    from tutor.ui.screens.stepper import StepperScreen

    class ExploreFromHome(StepperScreen):
        BINDINGS = StepperScreen.BINDINGS + [Binding("escape", "lessons", "lesson list",
                                                     show=False)]

        def action_lessons(self) -> None:
            close_once(self)

    return ExploreFromHome


def ExploreFromHome(session):  # noqa: N802 - a factory standing in for the class
    return _explore_screen_class()(session)
