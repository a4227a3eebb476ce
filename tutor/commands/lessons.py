"""``tutor lessons [--check [DIR]]``: the lesson list with your progress, or the lesson
checker (one problem per line, then ``N lessons, M quizzes``; exit 1 if any problem).
Plain terminal output (Rich, no Textual)."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tutor.lessons.catalog import default_lessons_dir, load_lessons
from tutor.lessons.lesson_check import check_lessons
from tutor.storage.progress import ProgressStore


def plain_console() -> Console:
    return Console(highlight=False, emoji=False)


def error_console() -> Console:
    return Console(stderr=True, highlight=False, emoji=False)


def run_lessons(args) -> int:
    check = getattr(args, "check", None)
    if check is not None:
        return check_command(Path(check) if check else None)
    return list_command()


def check_command(directory: Path | None) -> int:
    """Every problem on its own line, then the summary; 1 when anything is wrong."""
    console = plain_console()
    if directory is not None and not directory.is_dir():
        print(f"tutor lessons: --check {directory}: no such folder (give the folder that holds "
              "the NN-slug.toml files)", file=sys.stderr)
        return 2
    from tutor.lessons.run import weights_resolver  # trained weights, when `tutor train` made them
    report = check_lessons(directory, weights_resolver)
    for problem in report.problems:
        console.print(str(problem), markup=False, soft_wrap=True)
    for note in report.notes:
        console.print(f"note: {note}", markup=False, soft_wrap=True)
    summary = f"{len(report.lessons)} lessons, {report.quiz_count} quizzes"
    if report.problems:
        n = len(report.problems)
        console.print(f"{summary}, {n} problem{'s' if n != 1 else ''}", markup=False)
        return 1
    console.print(summary, markup=False)
    return 0


def _progress_text(lesson, store: ProgressStore | None) -> str:
    if store is None:
        return ""
    if store.is_done(lesson.id):
        return "done"
    results = store.quiz_results(lesson.id)
    answered = sum(1 for q in lesson.quizzes if q.id in results)
    if answered:
        return f"{answered}/{len(lesson.quizzes)} quizzes"
    if store.lesson(lesson.id):
        return "started"
    return ""


def open_store(console: Console) -> ProgressStore | None:
    try:
        store = ProgressStore()
    except OSError as error:  # pragma: no cover - ProgressStore reports, not raises
        console.print(f"progress unavailable: {error}", markup=False)
        return None
    for warning in store.warnings:
        error_console().print(f"warning: {warning}", markup=False, soft_wrap=True)
    return store


def what_next(lessons, store: ProgressStore | None) -> str:
    """Resume the lesson last worked on, else the first one not done yet."""
    last = store.last_lesson if store else None
    if last and not store.is_done(last) and any(item.id == last for item in lessons):
        return f"Resume with: tutor {last}"
    todo = [item for item in lessons if not (store and store.is_done(item.id))]
    if not todo:
        return "All lessons done."
    if store is None or not store.data["lessons"]:
        return f"Start with: tutor {todo[0].number}"
    return f"Next: tutor {todo[0].id}"


def list_command() -> int:
    console = plain_console()
    lessons, problems = load_lessons()
    store = open_store(console)
    if not lessons:
        console.print(f"No lessons found in {default_lessons_dir()}.", markup=False)
    else:
        table = Table(title="Lessons", title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("Lesson")
        table.add_column("Quizzes", justify="right")
        table.add_column("Your progress")
        for lesson in lessons:
            title = f"{escape(lesson.title)}\n[dim]{lesson.id}[/dim]"
            table.add_row(f"{lesson.number:02d}", title, str(len(lesson.quizzes)),
                          _progress_text(lesson, store))
        console.print(table)
        console.print(what_next(lessons, store), markup=False)
    for problem in problems:
        error_console().print(f"skipped: {problem}", markup=False, soft_wrap=True)
    return 0
