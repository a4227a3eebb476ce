"""``tutor progress [--reset] [--yes]``: your progress and where it is kept, with a reset
that asks first and keeps a copy."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tutor.commands.lessons import plain_console, open_store, what_next
from tutor.lessons.catalog import load_lessons
from tutor.storage.progress import ProgressError, ProgressStore


def run_progress(args) -> int:
    console = plain_console()
    store = open_store(console)
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
        console.print(what_next(lessons, store), markup=False)
    return 0


def _reset(store: ProgressStore, console: Console, assume_yes: bool) -> int:
    if not store.path.exists():
        console.print(f"No progress saved in {store.path}; nothing to reset.", markup=False,
                      soft_wrap=True)  # a path is never broken across lines
        return 0
    if not assume_yes:
        console.print(f"Forget all progress in {store.path}? [y/N] ", markup=False, end="",
                      soft_wrap=True)
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
        console.print(f"Could not reset: {error}", markup=False, soft_wrap=True)
        return 1
    console.print("Progress reset." + (f" The old file is kept as {backup}." if backup else ""),
                  markup=False, soft_wrap=True)
    return 0
