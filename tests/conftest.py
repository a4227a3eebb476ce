"""The suite runs on every core (``-n auto --dist loadgroup`` in pyproject.toml).

A file's tests stay on one worker (its module fixtures are built once, and the snapshot
tests share a data directory whose path is on the screen); the files listed in SPREAD
hold long, independent tests, each on whichever worker is free, so the slowest file does
not keep one worker busy while the other waits.
"""

from __future__ import annotations

import pytest

SPREAD = {"test_monkey.py", "test_lessons_complete.py"}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if item.path.name not in SPREAD:
            item.add_marker(pytest.mark.xdist_group(str(item.path)))
