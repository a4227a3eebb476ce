"""``tutor lessons [--check [DIR]]`` and ``tutor progress [--reset] [--yes]``.

Plain terminal output (Rich, no Textual): the lesson list with your progress, the
lesson checker (one problem per line, then ``N lessons, M quizzes``; exit 1 if any
problem), and where progress is kept, with a reset that asks first and keeps a copy.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tutor.lessons.catalog import check_lessons, default_lessons_dir, load_lessons
from tutor.storage.progress import ProgressError, ProgressStore


def _console() -> Console:
    return Console(highlight=False)


def _err_console() -> Console:
    return Console(stderr=True, highlight=False)


def run_lessons(args) -> int:
    check = getattr(args, "check", None)
    if check is not None:
        return check_command(Path(check) if check else None)
    return list_command()


def check_command(directory: Path | None) -> int:
    """Every problem on its own line, then the summary; 1 when anything is wrong."""
    console = _console()
    if directory is not None and not directory.is_dir():
        console.print(f"{directory}: no such folder (give the folder that holds the "
                      "NN-slug.toml files)", markup=False)
        console.print("0 lessons, 0 quizzes, 1 problem", markup=False)
        return 1
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


def _open_store(console: Console) -> ProgressStore | None:
    try:
        store = ProgressStore()
    except OSError as error:  # pragma: no cover - ProgressStore reports, not raises
        console.print(f"progress unavailable: {error}", markup=False)
        return None
    for warning in store.warnings:
        _err_console().print(f"warning: {warning}", markup=False, soft_wrap=True)
    return store


def _what_next(lessons, store: ProgressStore | None) -> str:
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
    console = _console()
    lessons, problems = load_lessons()
    store = _open_store(console)
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
        console.print(_what_next(lessons, store), markup=False)
    for problem in problems:
        _err_console().print(f"skipped: {problem}", markup=False, soft_wrap=True)
    return 0


def run_progress(args) -> int:
    console = _console()
    store = _open_store(console)
    if getattr(args, "reset", False):
        return _reset(store, console, assume_yes=getattr(args, "yes", False))
    console.print(f"Progress file: {store.path}", markup=False, soft_wrap=True)
    lessons, _ = load_lessons()
    titles = {lesson.id: lesson for lesson in lessons}
    entries = store.data["lessons"]
    if not entries:
        console.print("No progress yet.", markup=False)
        return 0
    table = Table(title="Your progress", title_justify="left")
    table.add_column("Lesson")
    table.add_column("Status")
    table.add_column("Quizzes")
    for lesson_id in sorted(entries):
        lesson = titles.get(lesson_id)
        results = store.quiz_results(lesson_id)
        right = sum(1 for r in results.values()
                    if r.get("best", r["result"]) in ("correct", "correct_after_hints"))
        total = len(lesson.quizzes) if lesson else len(results)
        status = "done" if store.is_done(lesson_id) else "in progress"
        name = f"{lesson_id}" + (f" — {lesson.title}" if lesson else "")
        table.add_row(escape(name), status, f"{right}/{total} right" if total else "—")
    console.print(table)
    if lessons:
        console.print(_what_next(lessons, store), markup=False)
    return 0


def _reset(store: ProgressStore, console: Console, assume_yes: bool) -> int:
    if not store.path.exists():
        console.print(f"No progress saved in {store.path}; nothing to reset.", markup=False)
        return 0
    if not assume_yes:
        console.print(f"Forget all progress in {store.path}? [y/N] ", markup=False, end="")
        try:
            reply = sys.stdin.readline()
        except (OSError, ValueError):
            reply = ""
        if reply.strip().lower() not in ("y", "yes"):
            console.print("Kept your progress.", markup=False)
            return 0
    try:
        backup = store.reset()
    except ProgressError as error:
        console.print(f"Could not reset: {error}", markup=False)
        return 1
    console.print("Progress reset." + (f" The old file is kept as {backup}." if backup else ""),
                  markup=False, soft_wrap=True)
    return 0
