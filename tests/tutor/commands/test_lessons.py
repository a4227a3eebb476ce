"""`tutor lessons [--check [DIR]]` and `tutor progress [--reset] [--yes]`, through tutor.cli."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import tutor.lessons.catalog
from tutor.cli import main
from tutor.storage.progress import ProgressStore
from tutor.lessons.quiz import QuizResult

from tests.paths import FIXTURES as ALL_FIXTURES

FIXTURES = ALL_FIXTURES / "lessons"
GOOD, BROKEN = FIXTURES / "good", FIXTURES / "broken"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("TUTOR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setattr(tutor.lessons.catalog, "default_lessons_dir", lambda: GOOD)
    return tmp_path / "home"


def test_check_good_lessons(home, capsys):
    assert main(["lessons", "--check", str(GOOD)]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines() == ["2 lessons, 6 quizzes"]


def test_check_without_dir_uses_the_shipped_lessons(home, capsys):
    assert main(["lessons", "--check"]) == 0
    assert capsys.readouterr().out.strip() == "2 lessons, 6 quizzes"


def test_check_broken_lessons_prints_each_problem_and_exits_1(home, capsys):
    assert main(["lessons", "--check", str(BROKEN)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    summary, problems = lines[-1], lines[:-1]
    assert summary == f"2 lessons, 4 quizzes, {len(problems)} problems"
    assert len(problems) > 20
    assert all(line.startswith("broken/") for line in problems)
    assert ("broken/01-typos.toml: quiz[0].answer: unknown name 'gard' (did you mean 'grad'?)"
            in problems)
    assert "broken/02-bad-toml.toml: TOML: syntax error: Illegal character '\\n' (at line 3, " \
           "column 33)" in problems


def test_check_a_missing_folder(home, capsys, tmp_path):
    assert main(["lessons", "--check", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "nope: no such folder" in err and len(err.strip().splitlines()) == 1


def test_list_shows_lessons_and_progress(home, capsys):
    store = ProgressStore(home)
    store.mark_done("01-derivative")
    store.record_quiz("02-relu-layer", "dead-units", QuizResult("correct", 1, 0, 2.0))
    assert main(["lessons"]) == 0
    out = capsys.readouterr().out
    assert "What a derivative is" in out and "A ReLU layer, forward and back" in out
    row1 = next(line for line in out.splitlines() if "What a derivative is" in line)
    row2 = next(line for line in out.splitlines() if "A ReLU layer" in line)
    assert "01" in row1 and "done" in row1 and " 3 " in row1
    assert "02" in row2 and "1/3 quizzes" in row2
    assert "Resume with: tutor 02-relu-layer" in out


def test_list_says_what_is_next(home, capsys):
    assert main(["lessons"]) == 0
    assert "Start with: tutor 1" in capsys.readouterr().out
    store = ProgressStore(home)
    store.open_lesson("01-derivative")
    store.mark_done("01-derivative")
    assert main(["lessons"]) == 0
    assert "Next: tutor 02-relu-layer" in capsys.readouterr().out
    store.mark_done("02-relu-layer")
    assert main(["lessons"]) == 0
    assert "All lessons done." in capsys.readouterr().out


def test_progress_shows_the_file_and_results(home, capsys):
    assert main(["progress"]) == 0
    out = capsys.readouterr().out
    assert f"Progress file: {home / 'progress.json'}" in out and "No progress yet." in out
    store = ProgressStore(home)
    store.record_quiz("01-derivative", "sign", QuizResult("correct_after_hints", 2, 1, 5.0))
    store.record_quiz("01-derivative", "new-w", QuizResult("skipped", 0, 0, 1.0))
    assert main(["progress"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "01-derivative" in line)
    assert "What a derivative is" in row and "in progress" in row and "1/3 right" in row


def test_damaged_progress_is_one_warning_line(home, capsys):
    home.mkdir(parents=True)
    (home / "progress.json").write_text("{oops")
    assert main(["progress"]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "not valid JSON" in warnings[0]
    assert list(home.glob("progress.json.corrupt-*"))


@pytest.mark.parametrize("reply, kept", [("n\n", True), ("\n", True), ("", True),
                                         ("yes please\n", True), ("y\n", False),
                                         ("YES\n", False)])
def test_reset_asks_first(home, capsys, monkeypatch, reply, kept):
    ProgressStore(home).mark_done("01-derivative")
    before = (home / "progress.json").read_bytes()
    monkeypatch.setattr("sys.stdin", io.StringIO(reply))
    assert main(["progress", "--reset"]) == 0
    out = capsys.readouterr().out
    assert f"Forget all progress in {home / 'progress.json'}? [y/N]" in out
    data = json.loads((home / "progress.json").read_text())
    backups = list(home.glob("progress.json.bak-*"))
    if kept:
        assert "Kept your progress." in out and "01-derivative" in data["lessons"]
        assert backups == []
    else:
        assert "Progress reset." in out and data["lessons"] == {}
        assert len(backups) == 1 and backups[0].read_bytes() == before
        assert str(backups[0]) in out.replace("\n", "")


def test_reset_yes_does_not_ask(home, capsys, monkeypatch):
    ProgressStore(home).mark_done("01-derivative")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["progress", "--reset", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "[y/N]" not in out and "Progress reset." in out
    assert json.loads((home / "progress.json").read_text())["lessons"] == {}


def test_reset_with_nothing_saved(home, capsys):
    assert main(["progress", "--reset", "--yes"]) == 0
    assert "nothing to reset" in capsys.readouterr().out


def test_check_prints_names_and_values_literally_never_as_emoji_or_markup(home, capsys,
                                                                          tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "01-odd.toml").write_text((GOOD / "01-derivative.toml").read_text().replace(
        'id = "01-derivative"', 'id = "01-odd"\n":b:" = 1\n"[bold]x[/]" = 2\n":smile:" = 3'),
        encoding="utf-8")
    assert main(["lessons", "--check", str(folder)]) == 1
    out = capsys.readouterr().out
    for literal in ("01-odd.toml: :b:: unknown field", "[bold]x[/]: unknown", ":smile:: unknown"):
        assert literal in out, out
    assert "😄" not in out and "🅱" not in out
