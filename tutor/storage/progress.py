"""The progress store: a small JSON file that is never lost or half-written.

Where: ``$TUTOR_HOME`` if set, else ``platformdirs.user_data_dir("transformer-tutor")``;
the file is ``progress.json`` (with a ``version``) and ``progress.lock`` beside it.

How it stays whole:

- every save is one ``atomic_write`` (``tutor.storage.files``), so a crash leaves
  either the old file or the new one;
- every save holds the exclusive lock on ``progress.lock`` and re-reads the file
  under it, then replays this session's changes on what it read: two tutors that
  finish different lessons both keep their results;
- a file that cannot be read (damaged, truncated, empty, another version, wrong
  shape) is moved aside as ``progress.json.corrupt-YYYYmmdd-HHMMSS`` — never
  deleted — and reported in one line; the tutor starts fresh;
- when nothing can be written (read-only directory, lock held too long) the
  changes stay in memory, a one-line warning says so, and the app keeps running.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Callable

from tutor.storage.files import LockTimeout, atomic_write, locked, remove_stale_temporaries
from tutor.storage.paths import data_dir
from tutor.storage.progress_format import (EXERCISE_RESULTS, REVIEW_STREAK, RESULT_RANK,
                                           VERSION, Damaged, checked, empty, lesson_entry)

FILE_NAME = "progress.json"
LOCK_NAME = "progress.lock"
LOCK_TIMEOUT = 5.0
MAX_BYTES = 4 << 20  # a learner's progress is a few kilobytes


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _stamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def step_key(step) -> str:
    """``backward:decoder.layers.0.ff.relu``: a step's name with its phase."""
    return f"{step.phase}:{step.name}"


class ProgressError(Exception):
    """A one-line reason progress could not be read or saved."""


# the store ---------------------------------------------------------------------------

class ProgressStore:
    """``ProgressStore(directory=None)`` reads progress at once; each change saves.

    Each change method returns None when saved, or the one-line warning (also
    appended to ``warnings``) when it could only be kept in memory.
    """

    def __init__(self, directory: Path | str | None = None, lock_timeout: float = LOCK_TIMEOUT):
        self.directory = Path(directory) if directory is not None else data_dir()
        self.path = self.directory / FILE_NAME
        self.lock_path = self.directory / LOCK_NAME
        self.lock_timeout = lock_timeout
        self.warnings: list[str] = []
        self.data = empty()
        self._pending: list[Callable[[dict], None]] = []
        self._may_write = True  # False while a damaged file could not be moved aside
        self.load()

    # reading ----------------------------------------------------------------------
    def load(self) -> None:
        """(Re)read the file; this session's unsaved changes stay on top."""
        try:
            with self._lock():
                data = self._read(move_damaged=True)
        except ProgressError as error:
            self._warn(str(error))
            data = self._read(move_damaged=False)
        for change in self._pending:
            change(data)
        self.data = data

    def _read(self, move_damaged: bool) -> dict:
        try:
            raw = self._read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return empty()
        except Damaged as damage:
            return self._damaged(str(damage), move_damaged)
        except OSError as error:
            return self._damaged(f"it cannot be read ({error.strerror or error})", move_damaged)
        try:
            if not raw.strip():
                raise Damaged("it is empty")
            try:
                data = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise Damaged("it is not UTF-8 text") from None
            except json.JSONDecodeError as error:
                raise Damaged(f"it is not valid JSON ({error.msg} at line {error.lineno})") \
                    from None
            except RecursionError:
                raise Damaged("it nests lists or objects far too deeply") from None
            return checked(data)
        except Damaged as damage:
            return self._damaged(str(damage), move_damaged)

    def _read_bytes(self) -> bytes:
        """The file's bytes, if it is a regular file of a sane size: a FIFO, a device or a
        link to one is damaged, not something to wait on or read forever."""
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise Damaged("it is not a regular file")
            if info.st_size > MAX_BYTES:
                raise Damaged(f"it is {info.st_size:,} bytes, far more than progress needs")
            chunks, size = [], 0
            while size <= MAX_BYTES:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            if size > MAX_BYTES:
                raise Damaged("it grew past the size progress ever needs while being read")
            return b"".join(chunks)
        finally:
            os.close(fd)

    def _damaged(self, reason: str, move: bool) -> dict:
        if move:
            target = self._free_name(f"{FILE_NAME}.corrupt-{_stamp()}")
            try:
                os.replace(self.path, target)
            except OSError as error:
                self._may_write = False
                self._warn(f"{self.path} is damaged ({reason}) and could not be moved aside "
                           f"({error.strerror or error}); progress will not be saved this session")
            else:
                self._warn(f"{self.path} was damaged ({reason}); moved it to {target.name} "
                           "and started fresh")
        else:
            self._may_write = False
            self._warn(f"{self.path} looks damaged ({reason}); left it untouched, progress "
                       "will not be saved this session")
        return empty()

    def _free_name(self, name: str) -> Path:
        target = self.directory / name
        n = 2
        while target.exists():
            target = self.directory / f"{name}-{n}"
            n += 1
        return target

    def _warn(self, message: str) -> str:
        if not self.warnings or self.warnings[-1] != message:
            self.warnings.append(message)
        return message

    # locking and writing -----------------------------------------------------------
    @contextmanager
    def _lock(self):
        """The exclusive lock on ``progress.lock`` (waits up to ``lock_timeout``)."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with locked(self.lock_path, self.lock_timeout):
                yield
        except LockTimeout:
            raise ProgressError(f"another tutor has held {self.lock_path} for "
                                f"{self.lock_timeout:g} s; progress is kept in memory for now "
                                "and saved with your next change") from None
        except OSError as error:
            raise ProgressError(f"cannot use {self.directory} for progress "
                                f"({error.strerror or error}); progress is kept in memory "
                                "for this session") from None

    def _write(self, data: dict) -> None:
        """The whole record at once (``atomic_write``); we hold the lock, so temporary
        files a killed save left behind can go."""
        remove_stale_temporaries(self.directory)
        text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        # through a symlink, the file it points to is replaced and the link kept
        target = self.path.resolve() if self.path.is_symlink() else self.path
        atomic_write(target, text.encode("utf-8"))

    def save(self) -> str | None:
        """Write this session's unsaved changes (merged with what is on disk now)."""
        if not self._pending:
            return None
        if not self._may_write:
            return self._warn(f"progress is kept in memory only: {self.path} is damaged "
                              "and was left untouched")
        try:
            with self._lock():
                fresh = self._read(move_damaged=True)
                for change in self._pending:
                    change(fresh)
                self._write(fresh)
        except ProgressError as error:
            return self._warn(str(error))
        except OSError as error:
            return self._warn(f"could not save progress to {self.path} "
                              f"({error.strerror or error}); it is kept in memory for this "
                              "session")
        self._pending.clear()
        self.data = fresh
        return None

    def _change(self, change: Callable[[dict], None]) -> str | None:
        change(self.data)
        self._pending.append(change)
        return self.save()

    # changes ------------------------------------------------------------------------
    def open_lesson(self, lesson_id: str) -> str | None:
        """Remember ``lesson_id`` as the one to resume."""
        def change(data):
            lesson_entry(data, lesson_id)
            data["last_lesson"] = lesson_id
        return self._change(change)

    def set_position(self, lesson_id: str, index: int, name: str) -> str | None:
        """Where the learner stands in a lesson: step index and ``step_key`` name."""
        position = {"index": int(index), "name": str(name)}

        def change(data):
            lesson_entry(data, lesson_id)["position"] = dict(position)
            data["last_lesson"] = lesson_id
        return self._change(change)

    def record_quiz(self, lesson_id: str, quiz_id: str, result) -> str | None:
        """Store a quiz's latest result (a ``QuizResult`` or its dict); keep the best."""
        entry = result.to_dict() if hasattr(result, "to_dict") else dict(result)
        if entry.get("result") not in RESULT_RANK:
            raise ValueError(f"unknown quiz result {entry.get('result')!r}")
        record = {"result": entry["result"], "attempts": int(entry.get("attempts", 0)),
                  "hints": int(entry.get("hints", 0)),
                  "seconds": float(entry.get("seconds", 0.0)), "at": _now()}

        def change(data):
            quizzes = lesson_entry(data, lesson_id)["quizzes"]
            old = quizzes.get(quiz_id, {})
            best = max(record["result"], old.get("best", old.get("result", "skipped")),
                       key=lambda r: RESULT_RANK.get(r, -1))
            quizzes[quiz_id] = dict(record, best=best)
            data["last_lesson"] = lesson_id
            if record["result"] in ("wrong", "skipped"):  # due for practice on new numbers
                due = data.setdefault("review", {}).setdefault(lesson_id, {})
                due[quiz_id] = {"streak": 0, "since": record["at"]}
        return self._change(change)

    def record_review(self, lesson_id: str, quiz_id: str, right: bool) -> str | None:
        """A review of a due quiz: right ``REVIEW_STREAK`` times in a row and it is no
        longer due; anything else starts the count again."""
        def change(data):
            due = data.setdefault("review", {}).setdefault(lesson_id, {})
            entry = due.setdefault(quiz_id, {"streak": 0, "since": _now()})
            entry["streak"] = entry.get("streak", 0) + 1 if right else 0
            if entry["streak"] >= REVIEW_STREAK:
                del due[quiz_id]
            if not due:
                del data["review"][lesson_id]
        return self._change(change)

    def due_reviews(self) -> list[tuple[str, str, int]]:
        """``(lesson id, quiz id, right so far in a row)`` of every quiz due, oldest first."""
        items = [(entry.get("since", ""), lesson_id, quiz_id, entry.get("streak", 0))
                 for lesson_id, quizzes in self.data.get("review", {}).items()
                 for quiz_id, entry in quizzes.items()]
        return [(lesson_id, quiz_id, streak) for _, lesson_id, quiz_id, streak in sorted(items)]

    def mark_done(self, lesson_id: str) -> str | None:
        stamp = _now()

        def change(data):
            entry = lesson_entry(data, lesson_id)
            if not entry["done"]:
                entry["done"] = True
                entry["done_at"] = stamp
        return self._change(change)

    def record_exercise(self, name: str, result: str, hints: int = 0) -> str | None:
        """A check of exercise ``name`` gave ``result`` (``EXERCISE_RESULTS``); ``hints``
        is how many hints the learner has seen. Done stays done."""
        if result not in EXERCISE_RESULTS:
            raise ValueError(f"unknown exercise result {result!r}")
        stamp = _now()

        def change(data):
            entry = data.setdefault("exercises", {}).setdefault(name, {})
            entry.update(checks=entry.get("checks", 0) + 1, last=result,
                         hints=max(entry.get("hints", 0), int(hints)))
            if result == "correct" and not entry.get("done"):
                entry.update(done=True, done_at=stamp)
        return self._change(change)

    def exercise(self, name: str) -> dict:
        """The saved entry for an exercise (empty dict if none)."""
        return dict(self.data.get("exercises", {}).get(name, {}))

    def reset(self) -> Path | None:
        """Forget everything; the old file is copied to ``progress.json.bak-…`` first.

        Returns the backup's path (None when there was no file). Raises
        ``ProgressError`` when it cannot be done (nothing is lost then).
        """
        try:
            with self._lock():
                backup = None
                if self.path.exists():
                    backup = self._free_name(f"{FILE_NAME}.bak-{_stamp()}")
                    shutil.copy2(self.path, backup)
                self._write(empty())
        except OSError as error:
            raise ProgressError(f"could not reset {self.path} ({error.strerror or error}); "
                                "nothing was changed") from None
        self._pending.clear()
        self._may_write = True
        self.data = empty()
        return backup

    # questions -----------------------------------------------------------------------
    @property
    def last_lesson(self) -> str | None:
        return self.data.get("last_lesson")

    def lesson(self, lesson_id: str) -> dict:
        """The saved entry for a lesson (empty dict if none)."""
        return self.data["lessons"].get(lesson_id, {})

    def is_done(self, lesson_id: str) -> bool:
        return bool(self.lesson(lesson_id).get("done"))

    def quiz_results(self, lesson_id: str) -> dict[str, dict]:
        return dict(self.lesson(lesson_id).get("quizzes", {}))

    def restore_position(self, lesson_id: str, steps) -> int | None:
        """The saved step of a lesson in ``steps`` (a timeline's steps): by index when
        that step still has the saved name, else by name; None if it is gone."""
        position = self.lesson(lesson_id).get("position")
        if not position:
            return None
        index, name = position["index"], position["name"]
        if 0 <= index < len(steps) and step_key(steps[index]) == name:
            return index
        for step in steps:
            if step_key(step) == name:
                return step.index
        return None
