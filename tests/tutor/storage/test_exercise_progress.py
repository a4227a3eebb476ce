"""Exercise progress in progress.json: each check counted, done stays done, hints seen
kept, other tutors' changes merged, and an entry of the wrong shape is damage (moved
aside and reported), never a crash later."""

from __future__ import annotations

import json

import pytest

from tutor.storage.progress import ProgressStore


def saved(folder) -> dict:
    return json.loads((folder / "progress.json").read_text())


def test_checks_are_counted_and_done_stays_done(tmp_path):
    store = ProgressStore(tmp_path)
    assert store.exercise("relu-backward") == {}
    assert store.record_exercise("relu-backward", "todo") is None
    assert store.record_exercise("relu-backward", "wrong", hints=2) is None
    entry = saved(tmp_path)["exercises"]["relu-backward"]
    assert entry == {"checks": 2, "hints": 2, "last": "wrong"}
    store.record_exercise("relu-backward", "correct", hints=1)
    store.record_exercise("relu-backward", "timeout")
    entry = ProgressStore(tmp_path).exercise("relu-backward")
    assert entry["done"] is True and entry["last"] == "timeout"
    assert entry["checks"] == 4 and entry["hints"] == 2 and entry["done_at"]
    with pytest.raises(ValueError):
        store.record_exercise("relu-backward", "maybe")


def test_a_file_without_exercises_stays_as_it_was(tmp_path):
    store = ProgressStore(tmp_path)
    store.open_lesson("01-derivative")
    assert "exercises" not in saved(tmp_path)


def test_two_tutors_keep_each_others_exercises(tmp_path):
    a, b = ProgressStore(tmp_path), ProgressStore(tmp_path)
    a.record_exercise("relu-backward", "correct")
    b.record_exercise("sgd-step", "wrong")
    exercises = saved(tmp_path)["exercises"]
    assert exercises["relu-backward"]["done"] and exercises["sgd-step"]["last"] == "wrong"


HOSTILE = {
    "not-an-object": {"exercises": []},
    "entry-a-list": {"exercises": {"relu-backward": []}},
    "unknown-field": {"exercises": {"relu-backward": {"score": 3}}},
    "done-a-string": {"exercises": {"relu-backward": {"done": "yes"}}},
    "checks-negative": {"exercises": {"relu-backward": {"checks": -1}}},
    "checks-a-bool": {"exercises": {"relu-backward": {"checks": True}}},
    "last-unknown": {"exercises": {"relu-backward": {"last": "great"}}},
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_an_exercise_entry_of_the_wrong_shape_is_damage(tmp_path, name):
    record = {"version": 1, "last_lesson": None, "lessons": {}, **HOSTILE[name]}
    (tmp_path / "progress.json").write_text(json.dumps(record))
    store = ProgressStore(tmp_path)
    assert store.warnings and "moved it to progress.json.corrupt-" in store.warnings[0]
    assert store.exercise("relu-backward") == {}
    store.record_exercise("relu-backward", "correct")
    assert saved(tmp_path)["exercises"]["relu-backward"]["done"] is True
