"""q does not wait for a worker thread: the executor of thread workers is let go of when
the app ends (asyncio.run would otherwise join a thread busy importing torch)."""

from __future__ import annotations

import threading

from tutor.ui.app import LeavingExecutor, TutorApp, run_app


def test_shutdown_returns_while_a_job_still_runs():
    release, started = threading.Event(), threading.Event()

    def job():
        started.set()
        release.wait(30)
        return "done"

    executor = LeavingExecutor(max_workers=1)
    future = executor.submit(job)
    queued = executor.submit(job)  # not started yet: cancelled, never run
    assert started.wait(30)
    executor.shutdown(wait=True)  # what asyncio.run asks for when the app ends
    assert future.running() and queued.cancelled()
    release.set()
    assert future.result(30) == "done"


def test_run_app_lets_workers_go_and_the_loop_uses_that_executor(monkeypatch):
    seen = {}

    def fake_run(app):
        seen["leave"] = app.leave_workers_behind

    monkeypatch.setattr(TutorApp, "run", fake_run)
    assert run_app(TutorApp(lambda: None)) == 0
    assert seen["leave"] is True


def test_the_event_loop_gets_the_leaving_executor():
    import asyncio

    from textual.screen import Screen

    app = TutorApp(Screen)
    app.leave_workers_behind = True
    found = {}

    async def main():
        async with app.run_test() as pilot:
            await pilot.pause()
            loop = asyncio.get_running_loop()
            found["executor"] = loop._default_executor  # noqa: SLF001 (asyncio keeps it here)

    asyncio.run(main())
    assert isinstance(found["executor"], LeavingExecutor)
