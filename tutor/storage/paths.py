"""Where the learner's files live: ``$TUTOR_HOME`` if set, else the platform's per-user
data directory (``platformdirs``)."""

from __future__ import annotations

import os
from pathlib import Path

NOTES_NAME = "notes.md"
EXERCISES_FOLDER = "exercises"


def data_dir() -> Path:
    """``$TUTOR_HOME``, else the platform's per-user data directory."""
    home = os.environ.get("TUTOR_HOME")
    if home:
        return Path(home).expanduser()
    from platformdirs import user_data_dir
    return Path(user_data_dir("transformer-tutor", appauthor=False))


def cache_dir() -> Path:
    """What the tutor can rebuild at will: ``$TUTOR_HOME/cache``, else the platform's
    per-user cache directory."""
    home = os.environ.get("TUTOR_HOME")
    if home:
        return Path(home).expanduser() / "cache"
    from platformdirs import user_cache_dir
    return Path(user_cache_dir("transformer-tutor", appauthor=False))


def lesson_cache() -> Path:
    """The shipped lessons' checked tables (``tutor.lessons.checked_cache``)."""
    return cache_dir() / "lessons.json"


def notes_path() -> Path:
    return data_dir() / NOTES_NAME


def trained_weights(task: str) -> Path:
    """Where ``tutor train --task TASK`` saves (and lessons look for) a task's weights."""
    from engine.weights import weights_path

    return weights_path(task, data_dir())


def exercises_dir() -> Path:
    """The learner's workspace for code exercises: one file each, ``NN-name.py``."""
    return data_dir() / EXERCISES_FOLDER


def exercise_file(file_name: str) -> Path:
    """The learner's copy of one exercise (``03-softmax-backward.py``)."""
    return exercises_dir() / file_name
