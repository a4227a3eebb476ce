"""Quizzes due for review: a wrong or skipped answer makes a quiz due; two right answers in
a row on fresh numbers make it no longer due; the record of it is checked like the rest."""

from __future__ import annotations

import json

import pytest

from tutor.lessons.quiz import QuizResult
from tutor.storage.progress import ProgressStore


def result(name: str) -> QuizResult:
    return QuizResult(name, attempts=1, hints=0, seconds=2.0)


def test_a_wrong_or_skipped_quiz_becomes_due_and_two_right_reviews_clear_it(tmp_path):
    store = ProgressStore(tmp_path)
    store.record_quiz("03-chain-rule", "dloss-dc", result("wrong"))
    store.record_quiz("03-chain-rule", "dloss-db", result("correct"))
    store.record_quiz("01-derivative", "which-way", result("skipped"))
    assert {(lesson, quiz) for lesson, quiz, _ in store.due_reviews()} == {
        ("03-chain-rule", "dloss-dc"), ("01-derivative", "which-way")}
    store.record_review("03-chain-rule", "dloss-dc", right=True)
    assert ("03-chain-rule", "dloss-dc", 1) in ProgressStore(tmp_path).due_reviews()
    store.record_review("03-chain-rule", "dloss-dc", right=False)  # the count starts again
    store.record_review("03-chain-rule", "dloss-dc", right=True)
    assert ("03-chain-rule", "dloss-dc", 1) in ProgressStore(tmp_path).due_reviews()
    store.record_review("03-chain-rule", "dloss-dc", right=True)
    again = ProgressStore(tmp_path)
    assert again.due_reviews() == [("01-derivative", "which-way", 0)]
    assert "03-chain-rule" not in json.loads((tmp_path / "progress.json").read_text())["review"]


def test_answering_wrong_again_in_the_lesson_restarts_the_count(tmp_path):
    store = ProgressStore(tmp_path)
    store.record_quiz("03-chain-rule", "dloss-dc", result("wrong"))
    store.record_review("03-chain-rule", "dloss-dc", right=True)
    store.record_quiz("03-chain-rule", "dloss-dc", result("wrong"))
    assert store.due_reviews() == [("03-chain-rule", "dloss-dc", 0)]


@pytest.mark.parametrize("review", [
    [], {"l": []}, {"l": {"q": 3}}, {"l": {"q": {"streak": 2}}}, {"l": {"q": {"streak": -1}}},
    {"l": {"q": {"streak": True}}}, {"l": {"q": {"streak": 0, "since": 5}}},
    {"l": {"q": {"streak": 0, "extra": 1}}},
])
def test_a_review_record_of_the_wrong_shape_is_damaged_and_moved_aside(tmp_path, review):
    (tmp_path / "progress.json").write_text(json.dumps(
        {"version": 1, "last_lesson": None, "lessons": {}, "review": review}))
    store = ProgressStore(tmp_path)
    assert store.due_reviews() == []
    assert any("review" in warning for warning in store.warnings), store.warnings
    assert list(tmp_path.glob("progress.json.corrupt-*"))
