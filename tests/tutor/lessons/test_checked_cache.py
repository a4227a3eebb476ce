"""The cache of checked lesson tables: the same lessons as a fresh read, read back only
while file and checker are unchanged, never for a broken file, and never in the way."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tutor.lessons import checked_cache
from tutor.lessons.catalog import default_lessons_dir, load_lessons


@pytest.fixture
def lessons_dir(tmp_path):
    folder = tmp_path / "lessons"
    folder.mkdir()
    for name in ("01-derivative.toml", "02-gradient-descent.toml"):
        shutil.copy(default_lessons_dir() / name, folder / name)
    return folder


def stored_tables(cache) -> dict:
    return json.loads(cache.read_text())["tables"]


def test_the_shipped_lessons_read_back_equal_a_fresh_read(tmp_path):
    cache = tmp_path / "cache" / "lessons.json"
    fresh, problems = load_lessons()
    first, _ = load_lessons(cache=cache)
    assert cache.is_file() and len(stored_tables(cache)) == len(fresh)
    second, second_problems = load_lessons(cache=cache)
    assert first == fresh and second == fresh
    assert second_problems == problems == []


def test_a_kept_table_is_what_the_next_start_reads(lessons_dir, tmp_path):
    """Proof that the cache is read: a table changed inside it shows; a changed
    checker (another fingerprint) ignores it."""
    cache = tmp_path / "lessons.json"
    load_lessons(lessons_dir, cache=cache)
    data = json.loads(cache.read_text())
    for table in data["tables"].values():
        table["title"] = "from the cache"
    cache.write_text(json.dumps(data))
    lessons, _ = load_lessons(lessons_dir, cache=cache)
    assert {lesson.title for lesson in lessons} == {"from the cache"}

    checked_cache._fingerprint = b"another checker"
    try:
        lessons, _ = load_lessons(lessons_dir, cache=cache)
    finally:
        checked_cache._fingerprint = None
    assert "from the cache" not in {lesson.title for lesson in lessons}


def test_an_edited_lesson_is_read_and_checked_again(lessons_dir, tmp_path):
    cache = tmp_path / "lessons.json"
    load_lessons(lessons_dir, cache=cache)
    file = lessons_dir / "01-derivative.toml"
    file.write_text(file.read_text().replace('title = "', 'title = "Edited: ', 1))
    lessons, problems = load_lessons(lessons_dir, cache=cache)
    assert lessons[0].title.startswith("Edited: ") and not problems
    assert len(stored_tables(cache)) == 2  # the old version's entry dropped out

    file.write_text(file.read_text().replace('id = "01-derivative"', 'id = "01-other"'))
    lessons, problems = load_lessons(lessons_dir, cache=cache)
    assert [lesson.number for lesson in lessons] == [2]
    assert any("id" in p.field for p in problems)
    assert len(stored_tables(cache)) == 1  # a broken file is never kept


def test_a_renamed_file_is_checked_under_its_new_name(lessons_dir, tmp_path):
    cache = tmp_path / "lessons.json"
    load_lessons(lessons_dir, cache=cache)
    os.rename(lessons_dir / "01-derivative.toml", lessons_dir / "03-derivative.toml")
    lessons, problems = load_lessons(lessons_dir, cache=cache)
    assert any("03-derivative" in p.message for p in problems)  # the id no longer matches
    assert [lesson.number for lesson in lessons] == [2]


@pytest.mark.parametrize("content", [b"", b"{not json", b"[]", b'{"tables": 3}',
                                     b'{"tables": {"abc": 1}}', b"\xff\xfe"])
def test_a_corrupt_cache_is_read_as_empty_and_written_anew(lessons_dir, tmp_path, content):
    cache = tmp_path / "lessons.json"
    cache.write_bytes(content)
    lessons, problems = load_lessons(lessons_dir, cache=cache)
    assert [lesson.number for lesson in lessons] == [1, 2] and not problems
    assert len(stored_tables(cache)) == 2


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs a folder this user cannot write")
def test_a_cache_that_cannot_be_written_is_left_alone(lessons_dir, tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        lessons, problems = load_lessons(lessons_dir, cache=folder / "lessons.json")
    finally:
        folder.chmod(0o700)
    assert [lesson.number for lesson in lessons] == [1, 2] and not problems


def test_a_cache_path_that_is_a_folder_is_left_alone(lessons_dir, tmp_path):
    """Works as root too: writing over a folder fails for everyone."""
    cache = tmp_path / "lessons.json"
    cache.mkdir()
    lessons, problems = load_lessons(lessons_dir, cache=cache)
    assert [lesson.number for lesson in lessons] == [1, 2] and not problems


def test_nothing_is_cached_when_the_checker_source_cannot_be_read(lessons_dir, tmp_path):
    cache = tmp_path / "lessons.json"
    checked_cache._fingerprint = b""  # what an unreadable checker source gives
    try:
        lessons, problems = load_lessons(lessons_dir, cache=cache)
    finally:
        checked_cache._fingerprint = None
    assert [lesson.number for lesson in lessons] == [1, 2] and not problems
    assert not cache.exists()
