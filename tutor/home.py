"""`tutor` (the lesson list) and `tutor LESSON` (one lesson)."""

from __future__ import annotations

import sys


def _store():
    from .progress import ProgressStore

    return ProgressStore()


def open_home(args) -> int:
    from engine.memory import reuse_freed_memory

    from .app import TutorApp
    from .lessons import load_lessons
    from .screens.home import HomeScreen

    lessons, problems = load_lessons()
    store = _store()
    reuse_freed_memory()
    TutorApp(lambda: HomeScreen(lessons, store, problems),
             notes_path=getattr(args, "notes", None)).run()
    return 0


def open_lesson(query: str, args) -> int:
    from engine.memory import reuse_freed_memory

    from .app import TutorApp
    from .lesson_session import lesson_by_query, start
    from .lessons import LessonNotFound
    from .screens.lesson import LessonScreen

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
    TutorApp(lambda: LessonScreen(run, store), notes_path=getattr(args, "notes", None)).run()
    return 0
