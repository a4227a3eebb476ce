"""The environment of a Python process the tutor starts: a learner's exercise run in a
child (``tutor.lessons.exercise_runner``), the twin's PyTorch helper
(``tutor.views.twin_checks``). Light on purpose: the helper starts just after ``X``."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])  # the folder that holds tutor/


def child_environment(extra: dict | None = None) -> dict:
    """The tutor's own package importable, one BLAS thread, no bytecode left behind."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH", ""))
                                        if p)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra or {})
    return env
