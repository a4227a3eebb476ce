"""`tutor` (the lesson list) and `tutor LESSON` (one lesson)."""

from __future__ import annotations

import sys


def _store():
    from tutor.storage.progress import ProgressStore

    return ProgressStore()


def open_home(args) -> int:
    from engine.memory import reuse_freed_memory

    from tutor.ui.app import TutorApp, run_app
    from tutor.lessons.catalog import load_lessons
    from tutor.storage.paths import lesson_cache
    from tutor.ui.screens.home import HomeScreen

    lessons, problems = load_lessons(cache=lesson_cache())
    store = _store()
    reuse_freed_memory()
    return run_app(TutorApp(lambda: HomeScreen(lessons, store, problems),
                            notes_path=getattr(args, "notes", None)))


def open_lesson(query: str, args) -> int:
    from engine.memory import reuse_freed_memory

    from tutor.ui.app import TutorApp, run_app
    from tutor.lessons.run import lesson_by_query, start
    from tutor.lessons.catalog import LessonNotFound
    from tutor.ui.screens.lesson import LessonScreen

    try:
        lesson = lesson_by_query(query)
        run = start(lesson)
    except LessonNotFound as error:
        print(f"tutor: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"tutor: lesson {query!r} could not start: {error}", file=sys.stderr)
        return 2
    store = _store()
    reuse_freed_memory()
    return run_app(TutorApp(lambda: LessonScreen(run, store),
                            notes_path=getattr(args, "notes", None)))
