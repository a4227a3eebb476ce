"""A lesson made ready to step through: its scenario built, its quizzes and prose placed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.timeline import Timeline

from tutor.lessons.catalog import Lesson, Placements, find_lesson, load_lessons


def weights_resolver(task: str) -> Path | None:
    """Where `tutor train --task TASK` saved its weights, if it has."""
    from tutor.storage.paths import trained_weights

    try:
        path = trained_weights(task)
    except ValueError:
        return None
    return path if path.is_file() else None


def lesson_by_query(query: str) -> Lesson:
    """The shipped lesson the learner named (`3`, `03-chain-rule`, `chain-rule`)."""
    from tutor.storage.paths import lesson_cache

    lessons, _problems = load_lessons(cache=lesson_cache())
    return find_lesson(query, lessons)


@dataclass
class LessonRun:
    lesson: Lesson
    scenario: object
    timeline: Timeline
    placements: Placements

    @property
    def title(self) -> str:
        return f"lesson {self.lesson.number}: {self.lesson.title}"


def start(lesson: Lesson) -> LessonRun:
    scenario = lesson.build(weights_resolver)
    timeline = scenario.timeline()
    placements = lesson.placements(timeline)
    timeline.bookmarks = set(placements.quiz_steps.values())
    return LessonRun(lesson, scenario, timeline, placements)


def lesson_timeline(query: str) -> tuple[Timeline, str]:
    """For `tutor trace --lesson`: the lesson's timeline and a title."""
    run = start(lesson_by_query(query))
    return run.timeline, run.title
