"""The progress store: round trips, damaged files, failed and killed saves, two tutors."""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tutor.storage import progress as progress_module
from tutor.storage.paths import data_dir
from tutor.storage.progress import ProgressStore, step_key
from tutor.lessons.quiz import QuizResult

from tests.paths import ROOT as REPO


def saved(directory: Path) -> dict:
    return json.loads((directory / "progress.json").read_text(encoding="utf-8"))


def test_location_is_tutor_home_else_the_platform_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("TUTOR_HOME", str(tmp_path / "home"))
    assert data_dir() == tmp_path / "home"
    assert ProgressStore().path == tmp_path / "home" / "progress.json"
    monkeypatch.delenv("TUTOR_HOME")
    from platformdirs import user_data_dir
    assert data_dir() == Path(user_data_dir("transformer-tutor", appauthor=False))


def test_round_trip(tmp_path):
    store = ProgressStore(tmp_path)
    assert store.warnings == [] and store.last_lesson is None
    assert store.open_lesson("01-derivative") is None
    assert store.record_quiz("01-derivative", "q1", QuizResult("correct", 1, 0, 4.5)) is None
    assert store.record_quiz("01-derivative", "q2", {"result": "wrong", "attempts": 3,
                                                     "hints": 2, "seconds": 9}) is None
    assert store.set_position("02-relu-layer", 7, "backward:relu") is None
    assert store.mark_done("01-derivative") is None
    again = ProgressStore(tmp_path)
    assert again.data == store.data
    data = saved(tmp_path)
    assert data["version"] == 1 and data["last_lesson"] == "02-relu-layer"
    lesson = data["lessons"]["01-derivative"]
    assert lesson["done"] is True and "done_at" in lesson
    q1 = lesson["quizzes"]["q1"]
    assert (q1["result"], q1["attempts"], q1["hints"], q1["seconds"]) == ("correct", 1, 0, 4.5)
    assert again.is_done("01-derivative") and not again.is_done("02-relu-layer")
    assert again.lesson("02-relu-layer")["position"] == {"index": 7, "name": "backward:relu"}


def test_the_best_result_is_kept_beside_the_latest(tmp_path):
    store = ProgressStore(tmp_path)
    store.record_quiz("L", "q", QuizResult("correct", 1, 0, 1.0))
    store.record_quiz("L", "q", QuizResult("skipped", 0, 0, 1.0))
    entry = ProgressStore(tmp_path).quiz_results("L")["q"]
    assert entry["result"] == "skipped" and entry["best"] == "correct"
    with pytest.raises(ValueError, match="unknown quiz result"):
        store.record_quiz("L", "q", {"result": "great"})


def test_restore_position_by_index_then_by_name(tmp_path):
    store = ProgressStore(tmp_path)
    steps = [SimpleNamespace(index=i, phase=p, name=n) for i, (p, n) in
             enumerate([("forward", "a"), ("forward", "b"), ("backward", "b")])]
    store.set_position("L", 2, step_key(steps[2]))
    assert store.restore_position("L", steps) == 2
    changed = [SimpleNamespace(index=i, phase=p, name=n) for i, (p, n) in
               enumerate([("forward", "a"), ("forward", "new"), ("forward", "b"),
                          ("backward", "b")])]
    assert store.restore_position("L", changed) == 3  # found by name at its new index
    assert store.restore_position("L", changed[:3]) is None  # the step is gone
    assert store.restore_position("never-opened", steps) is None


VALID = {"version": 1, "last_lesson": "a", "lessons": {"a": {"done": True, "quizzes": {}}}}


@pytest.mark.parametrize("content, reason", [
    (b"", "empty"),
    (b"  \n", "empty"),
    (b"{not json", "not valid JSON"),
    (json.dumps(VALID).encode()[:-7], "not valid JSON"),  # truncated
    (b"\xff\xfe\x00garbage", "not UTF-8"),
    (b"[1, 2]", "not a JSON object"),
    (json.dumps(dict(VALID, version=2)).encode(), "version 2"),
    (json.dumps({"lessons": {}}).encode(), "version None"),
    (json.dumps(dict(VALID, lessons=[])).encode(), "lessons is not an object"),
    (json.dumps(dict(VALID, lessons={"a": {"done": "yes"}})).encode(), "done is not true/false"),
    (json.dumps(dict(VALID, lessons={"a": {"quizzes": {"q": {"result": "meh"}}}})).encode(),
     "is not a quiz result"),
    (json.dumps(dict(VALID, extra=1)).encode(), "unknown field 'extra'"),
])
def test_damaged_files_are_moved_aside_reported_once_and_replaced(tmp_path, content, reason):
    (tmp_path / "progress.json").write_bytes(content)
    store = ProgressStore(tmp_path)
    assert store.data["lessons"] == {}
    assert len(store.warnings) == 1
    warning = store.warnings[0]
    assert "\n" not in warning and reason in warning and "progress.corrupt" not in warning
    aside = list(tmp_path.glob("progress.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].name in warning
    assert aside[0].read_bytes() == content  # kept, byte for byte
    assert len(aside[0].name) == len("progress.json.corrupt-YYYYmmdd-HHMMSS")
    assert store.record_quiz("b", "q", QuizResult("correct", 1, 0, 1.0)) is None
    assert set(saved(tmp_path)["lessons"]) == {"b"}


def test_a_file_that_cannot_be_read_is_moved_aside(tmp_path, monkeypatch):
    (tmp_path / "progress.json").write_text(json.dumps(VALID))
    original = os.open

    def deny(path, *args, **kwargs):
        if Path(path).name == "progress.json":
            raise PermissionError(13, "Permission denied")
        return original(path, *args, **kwargs)
    monkeypatch.setattr(os, "open", deny)
    store = ProgressStore(tmp_path)
    assert "cannot be read (Permission denied)" in store.warnings[0]
    assert len(list(tmp_path.glob("progress.json.corrupt-*"))) == 1


def test_a_damaged_file_that_cannot_be_moved_is_never_overwritten(tmp_path, monkeypatch):
    (tmp_path / "progress.json").write_bytes(b"{damaged")
    real_replace = os.replace

    def refuse_corrupt(src, dst):
        if "corrupt" in str(dst):
            raise PermissionError(13, "Permission denied")
        return real_replace(src, dst)
    monkeypatch.setattr(os, "replace", refuse_corrupt)
    store = ProgressStore(tmp_path)
    assert "could not be moved aside" in store.warnings[0]
    warning = store.record_quiz("a", "q", QuizResult("correct", 1, 0, 1.0))
    assert warning and "kept in memory" in warning
    assert (tmp_path / "progress.json").read_bytes() == b"{damaged"
    assert store.quiz_results("a")["q"]["result"] == "correct"  # the app keeps going


def test_an_unwritable_place_keeps_progress_in_memory(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    store = ProgressStore(blocker / "tutor")  # mkdir fails even for root
    assert len(store.warnings) == 1 and "cannot use" in store.warnings[0]
    warning = store.mark_done("01-derivative")
    assert warning is not None and "\n" not in warning and "kept in memory" in warning
    assert store.is_done("01-derivative")
    assert len(store.warnings) == 1  # the same warning is not piled up


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_a_failed_save_leaves_the_previous_file_and_retries_later(tmp_path, monkeypatch,
                                                                  failing):
    store = ProgressStore(tmp_path)
    store.record_quiz("a", "q1", QuizResult("correct", 1, 0, 1.0))
    before = (tmp_path / "progress.json").read_bytes()
    real = getattr(os, failing)

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, failing, broken)
    warning = store.record_quiz("a", "q2", QuizResult("wrong", 2, 1, 3.0))
    assert warning and "No space left on device" in warning and "kept in memory" in warning
    assert (tmp_path / "progress.json").read_bytes() == before
    assert not list(tmp_path.glob(".progress-*"))  # the temp file is cleaned up
    assert set(store.quiz_results("a")) == {"q1", "q2"}  # nothing lost in memory
    monkeypatch.setattr(os, failing, real)
    assert store.record_quiz("b", "q", QuizResult("skipped", 0, 0, 0.5)) is None
    data = saved(tmp_path)
    assert set(data["lessons"]["a"]["quizzes"]) == {"q1", "q2"} and "b" in data["lessons"]


KILLED_SAVE = """
import os, sys, time
from pathlib import Path
from tutor.storage.progress import ProgressStore
directory = Path(sys.argv[1])
store = ProgressStore(directory)
real_replace = os.replace
def stall(src, dst):
    (directory / "writing.part").write_text(str(src))
    real_replace(directory / "writing.part", directory / "writing")  # seen whole or not at all
    time.sleep(60)
os.replace = stall
store.mark_done("lesson-from-the-killed-tutor")
"""


def test_a_save_killed_mid_write_leaves_the_previous_file(tmp_path):
    store = ProgressStore(tmp_path)
    store.mark_done("kept")
    before = (tmp_path / "progress.json").read_bytes()
    child = subprocess.Popen([sys.executable, "-c", KILLED_SAVE, str(tmp_path)], cwd=REPO,
                             env=dict(os.environ, PYTHONPATH=str(REPO)))
    deadline = time.monotonic() + 20
    while not (tmp_path / "writing").exists():
        assert child.poll() is None, "the child finished before stalling"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    temp = Path((tmp_path / "writing").read_text())
    assert temp.exists() and temp.read_text().startswith("{")  # the half-done save
    assert (tmp_path / "progress.json").read_bytes() == before
    again = ProgressStore(tmp_path)
    assert again.warnings == [] and again.is_done("kept")
    assert again.mark_done("next") is None
    assert not temp.exists()  # stale temp files are removed under the lock


def test_two_stores_in_one_process_merge_under_the_lock(tmp_path):
    first, second = ProgressStore(tmp_path), ProgressStore(tmp_path)
    first.mark_done("one")
    second.mark_done("two")  # second read the file before first saved; it re-reads
    assert set(saved(tmp_path)["lessons"]) == {"one", "two"}


def test_a_held_lock_times_out_with_a_clear_message(tmp_path):
    store = ProgressStore(tmp_path, lock_timeout=0.1)
    with open(tmp_path / "progress.lock", "a+") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        warning = store.mark_done("waiting")
        assert warning and "another tutor" in warning and "progress.lock" in warning
    assert store.mark_done("after") is None
    assert set(saved(tmp_path)["lessons"]) == {"waiting", "after"}


def _save_many(directory: str, lesson: str, count: int) -> None:
    store = ProgressStore(directory, lock_timeout=30)
    for i in range(count):
        assert store.record_quiz(lesson, f"q{i}", QuizResult("correct", 1, 0, 0.1)) is None
    assert store.mark_done(lesson) is None


def test_two_processes_saving_different_lessons_keep_both(tmp_path):
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_save_many, args=(str(tmp_path), f"lesson-{n}", 15))
               for n in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    data = saved(tmp_path)
    assert set(data["lessons"]) == {"lesson-0", "lesson-1", "lesson-2"}
    for entry in data["lessons"].values():
        assert entry["done"] and len(entry["quizzes"]) == 15


def test_reset_keeps_a_backup(tmp_path):
    store = ProgressStore(tmp_path)
    assert store.reset() is None  # nothing saved yet
    store.mark_done("a")
    before = (tmp_path / "progress.json").read_bytes()
    backup = store.reset()
    assert backup.parent == tmp_path and backup.name.startswith("progress.json.bak-")
    assert backup.read_bytes() == before
    assert saved(tmp_path)["lessons"] == {} and store.data["lessons"] == {}


def test_progress_module_never_deletes_the_file():
    source = Path(progress_module.__file__).read_text()
    assert "self.path.unlink" not in source and "os.remove(self.path" not in source


# hostile files: each is "damaged" — backed up, reported, and the tutor starts -------------

HOSTILE = {
    "best-is-a-number": {"version": 1, "last_lesson": "a", "lessons": {"a": {"quizzes": {
        "q": {"result": "correct", "attempts": 1, "hints": 0, "best": 3}}}}},
    "best-is-a-list": {"version": 1, "last_lesson": "a", "lessons": {"a": {"quizzes": {
        "q": {"result": "correct", "attempts": 1, "hints": 0, "best": ["correct"]}}}}},
    "position-negative": {"version": 1, "last_lesson": "a", "lessons": {"a": {
        "position": {"index": -4, "name": "forward:x"}}}},
    "seconds-infinite": {"version": 1, "last_lesson": "a", "lessons": {"a": {"quizzes": {
        "q": {"result": "wrong", "attempts": 1, "hints": 0, "seconds": 1e400}}}}},
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_record_of_the_wrong_types_is_damaged_not_a_crash_later(tmp_path, name):
    (tmp_path / "progress.json").write_text(json.dumps(HOSTILE[name]).replace("Infinity", "1e400"))
    store = ProgressStore(tmp_path)
    assert store.warnings and "moved it to progress.json.corrupt-" in store.warnings[0]
    assert store.data["lessons"] == {}
    store.record_quiz("a", "q", QuizResult("correct", 1, 0, 0.5))  # no crash: it is fresh
    assert saved(tmp_path)["lessons"]["a"]["quizzes"]["q"]["best"] == "correct"


def test_deeply_nested_json_is_damaged_not_a_recursion_error(tmp_path):
    (tmp_path / "progress.json").write_text("[" * 100_000)
    store = ProgressStore(tmp_path)
    assert "nests lists or objects far too deeply" in store.warnings[0]


def test_a_fifo_in_its_place_does_not_hang(tmp_path):
    os.mkfifo(tmp_path / "progress.json")
    started = time.monotonic()
    store = ProgressStore(tmp_path)
    assert time.monotonic() - started < 5
    assert "not a regular file" in store.warnings[0]


def test_a_link_to_dev_zero_is_not_read_forever(tmp_path):
    (tmp_path / "progress.json").symlink_to("/dev/zero")
    store = ProgressStore(tmp_path)
    assert "not a regular file" in store.warnings[0]
    assert Path("/dev/zero").exists()  # the link was moved aside, not its target


def test_a_symlinked_progress_file_stays_a_symlink(tmp_path):
    real = tmp_path / "elsewhere" / "mine.json"
    real.parent.mkdir()
    real.write_text(json.dumps(VALID))
    (tmp_path / "home").mkdir()
    link = tmp_path / "home" / "progress.json"
    link.symlink_to(real)
    store = ProgressStore(tmp_path / "home")
    assert store.mark_done("new-lesson") is None
    assert link.is_symlink() and "new-lesson" in json.loads(real.read_text())["lessons"]


def test_a_huge_file_is_damaged_without_reading_it_all(tmp_path):
    with open(tmp_path / "progress.json", "wb") as handle:
        handle.truncate(64 << 20)  # sparse: 64 MB of zeros on paper
    store = ProgressStore(tmp_path)
    assert "far more than progress needs" in store.warnings[0]
