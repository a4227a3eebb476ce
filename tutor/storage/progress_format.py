"""The shape of ``progress.json``, checked field by field.

A file that passes ``checked`` can never crash the tutor later: every field has its
type, every count is a count, every result a known result. Anything else is
``Damaged`` (the store moves the file aside and starts fresh).

    {"version": 1, "last_lesson": "03-chain-rule",
     "lessons": {"03-chain-rule": {"done": false, "done_at": "…",
                                   "position": {"index": 5, "name": "backward:c"},
                                   "quizzes": {"dloss-dc": {"result": "wrong", "attempts": 2,
                                               "hints": 1, "seconds": 31.5, "at": "…",
                                               "best": "wrong"}}}},
     "exercises": {"softmax-backward": {"done": true, "checks": 3, "hints": 0,
                                        "last": "correct", "done_at": "…"}},
     "review": {"03-chain-rule": {"dloss-dc": {"streak": 1, "since": "…"}}}}
"""

from __future__ import annotations

VERSION = 1
RESULT_RANK = {"skipped": 0, "wrong": 1, "correct_after_hints": 2, "correct": 3}
EXERCISE_RESULTS = ("correct", "wrong", "todo", "error", "timeout", "torch_missing")
EXERCISE_FIELDS = {"done": bool, "done_at": str, "checks": int, "hints": int, "last": str}


def empty() -> dict:
    return {"version": VERSION, "last_lesson": None, "lessons": {}}

REVIEW_STREAK = 2  # right this many times in a row on fresh numbers: no longer due


class Damaged(ValueError):
    """The file's content is not a progress record (the message says why)."""


def checked(data) -> dict:
    """``data`` if it is a version-1 progress record with every field of its type, else
    ``Damaged`` with the reason (so a file that passes can never crash the tutor later)."""
    if not isinstance(data, dict):
        raise Damaged("it is not a JSON object")
    if data.get("version") != VERSION:
        raise Damaged(f"it has version {data.get('version')!r}, expected {VERSION}")
    unknown = set(data) - {"version", "last_lesson", "lessons", "exercises", "review"}
    if unknown:
        raise Damaged(f"unknown field {sorted(unknown)[0]!r}")
    if not isinstance(data.get("last_lesson"), (str, type(None))):
        raise Damaged("last_lesson is not a lesson id")
    lessons = data.get("lessons", {})
    if not isinstance(lessons, dict):
        raise Damaged("lessons is not an object")
    for lesson_id, entry in lessons.items():
        _check_lesson(entry, f"lessons[{lesson_id!r}]")
    exercises = data.get("exercises", {})
    if not isinstance(exercises, dict):
        raise Damaged("exercises is not an object")
    for name, entry in exercises.items():
        _check_exercise(entry, f"exercises[{name!r}]")
    review = data.get("review", {})
    _check_review(review)
    record = {"version": VERSION, "last_lesson": data.get("last_lesson"), "lessons": lessons}
    for optional in ("exercises", "review"):
        if optional in data:
            record[optional] = data[optional]
    return record


def _check_review(review) -> None:
    """``{lesson id: {quiz id: {"streak": n, "since": time}}}``: quizzes due for review."""
    if not isinstance(review, dict):
        raise Damaged("review is not an object")
    for lesson_id, quizzes in review.items():
        if not isinstance(quizzes, dict):
            raise Damaged(f"review[{lesson_id!r}] is not an object")
        for quiz_id, entry in quizzes.items():
            where = f"review[{lesson_id!r}][{quiz_id!r}]"
            if not isinstance(entry, dict) or set(entry) - {"streak", "since"}:
                raise Damaged(f"{where} is not {{streak, since}}")
            streak = entry.get("streak", 0)
            if not _is_int(streak) or not 0 <= streak < REVIEW_STREAK:
                raise Damaged(f"{where}.streak is not a count below {REVIEW_STREAK}")
            if not isinstance(entry.get("since", ""), str):
                raise Damaged(f"{where}.since is not a time")


def _check_exercise(entry, where: str) -> None:
    """``{done, done_at, checks, hints, last}``: every field optional, each of its type."""
    if not isinstance(entry, dict):
        raise Damaged(f"{where} is not an object")
    for key, value in entry.items():
        kind = EXERCISE_FIELDS.get(key)
        if kind is None:
            raise Damaged(f"{where} has an unknown field {key!r}")
        if not isinstance(value, kind) or (kind is int and (isinstance(value, bool)
                                                             or value < 0)):
            raise Damaged(f"{where}.{key} is not {kind.__name__}")
    if entry.get("last", "correct") not in EXERCISE_RESULTS:
        raise Damaged(f"{where}.last is an unknown result")


def _check_lesson(entry, where: str) -> None:
    if not isinstance(entry, dict):
        raise Damaged(f"{where} is not an object")
    unknown = set(entry) - {"done", "done_at", "position", "quizzes"}
    if unknown:
        raise Damaged(f"{where} has an unknown field {sorted(unknown)[0]!r}")
    if not isinstance(entry.get("done", False), bool):
        raise Damaged(f"{where}.done is not true/false")
    if not isinstance(entry.get("done_at", ""), str):
        raise Damaged(f"{where}.done_at is not a time")
    position = entry.get("position")
    if position is not None and not (
            isinstance(position, dict) and _is_int(position.get("index"))
            and position["index"] >= 0 and isinstance(position.get("name"), str)):
        raise Damaged(f"{where}.position is not {{index, name}}")
    quizzes = entry.get("quizzes", {})
    if not isinstance(quizzes, dict):
        raise Damaged(f"{where}.quizzes is not an object")
    for quiz_id, result in quizzes.items():
        _check_result(result, f"{where}.quizzes[{quiz_id!r}]")


def _check_result(result, where: str) -> None:
    fields = {"result", "attempts", "hints", "seconds", "at", "best"}
    if not isinstance(result, dict):
        raise Damaged(f"{where} is not a quiz result")
    why = None
    if set(result) - fields:
        why = f"unknown field {sorted(set(result) - fields)[0]!r}"
    elif not all(isinstance(r, str) and r in RESULT_RANK
                 for r in (result.get("result"), result.get("best", "skipped"))):
        why = "an unknown result"
    elif not (_is_int(result.get("attempts")) and _is_int(result.get("hints"))
              and result["attempts"] >= 0 and result["hints"] >= 0):
        why = "attempts or hints that are not counts"
    else:
        seconds = result.get("seconds", 0)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or \
                not 0 <= seconds < float("inf"):
            why = "seconds that are not a duration"
        elif not isinstance(result.get("at", ""), str):
            why = "a time that is not text"
    if why:
        raise Damaged(f"{where} is not a quiz result ({why})")


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def lesson_entry(data: dict, lesson_id: str) -> dict:
    entry = data["lessons"].setdefault(lesson_id, {})
    entry.setdefault("done", False)
    entry.setdefault("quizzes", {})
    return entry


