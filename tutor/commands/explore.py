"""``tutor explore``: the stepper on the default tiny model (no lesson)."""

from __future__ import annotations

import sys

from tutor.views.session import Session, SessionError, explore_session


def run_stepper(timeline, title: str, **extras) -> int:
    """Open the stepper on any timeline (used by `tutor torch` and the training view)."""
    return run_session(Session(timeline, title, extras=extras))


def run_session(session: Session, notes_path=None) -> int:
    from engine.memory import reuse_freed_memory

    from tutor.ui.app import TutorApp
    from tutor.ui.screens.stepper import StepperScreen

    reuse_freed_memory()
    TutorApp(lambda: StepperScreen(session), notes_path=notes_path).run()
    return 0


def run_explore(args) -> int:
    try:
        session = explore_session(args)
    except SessionError as error:
        print(f"tutor explore: {error}", file=sys.stderr)
        return 2
    return run_session(session, getattr(args, "notes", None))
