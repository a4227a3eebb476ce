"""``tutor explore``: the stepper on the default tiny model (no lesson)."""

from __future__ import annotations

import sys

from tutor.views.session import Session, SessionError, explore_session


def run_stepper(timeline, title: str, notes: list[str] | None = None) -> int:
    """Open the stepper on any timeline (``tutor torch``), with notes to say once."""
    return run_session(Session(timeline, title, notes=notes))


def run_session(session: Session, notes_path=None) -> int:
    from engine.memory import reuse_freed_memory

    from tutor.ui.app import TutorApp, run_app
    from tutor.ui.screens.stepper import StepperScreen

    reuse_freed_memory()
    return run_app(TutorApp(lambda: StepperScreen(session), notes_path=notes_path))


def run_explore(args) -> int:
    try:
        session = explore_session(args)
    except SessionError as error:
        print(f"tutor explore: {error}", file=sys.stderr)
        return 2
    return run_session(session, getattr(args, "notes", None))
