"""`tutor review`: the quizzes got wrong or skipped, asked again on fresh numbers."""

from __future__ import annotations


def run_review(args) -> int:
    from tutor.lessons.review import due_queue
    from tutor.storage.progress import ProgressStore

    store = ProgressStore()
    for warning in store.warnings:
        print(f"tutor: {warning}")
    queue = due_queue(store.due_reviews(), args.seed)
    if not len(queue):
        print("Nothing to review: a quiz answered wrong or skipped in a lesson comes back "
              "here on fresh numbers until you get it right twice in a row.")
        return 0
    item = queue.next_item()
    if item is None:
        print("tutor: no due quiz could be set here: " + "; ".join(queue.skipped))
        return 1

    from engine.memory import reuse_freed_memory
    from tutor.ui.app import TutorApp, run_app
    from tutor.ui.screens.review import ReviewScreen

    reuse_freed_memory()
    return run_app(TutorApp(lambda: ReviewScreen(queue, item, store),
                            notes_path=getattr(args, "notes", None), replaceable=True))
