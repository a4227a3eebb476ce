"""Lesson files: loading, checking (structure and against the real run), placements, lookup."""

from __future__ import annotations

from pathlib import Path

import pytest

from tutor.lessons.scenarios import build_scenario
from tutor.lessons.catalog import (Lesson, LessonNotFound, Problem, Selector, default_lessons_dir,
                                   find_lesson, load_lessons)
from tutor.lessons.lesson_check import check_lessons, validate
from tutor.lessons.quiz import Quiz

from tests.paths import FIXTURES as ALL_FIXTURES

FIXTURES = ALL_FIXTURES / "lessons"
GOOD, BROKEN = FIXTURES / "good", FIXTURES / "broken"

MINIMAL = '''id = "{id}"
title = "A title"
summary = "A summary."

[scenario]
{scenario}

[[section]]
at = "forward:*"
text = "Hello."
'''


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_problem_prints_file_field_message():
    problem = Problem("lessons/03-chain-rule.toml", "quiz[2].answer",
                      "unknown name 'gard' (did you mean 'grad'?)")
    assert str(problem) == ("lessons/03-chain-rule.toml: quiz[2].answer: unknown name 'gard' "
                            "(did you mean 'grad'?)")
    assert str(Problem("lessons/x.toml", "", "no")) == "lessons/x.toml: no"


def test_good_lessons_load_and_validate():
    lessons, problems = load_lessons(GOOD)
    assert problems == []
    assert [(item.number, item.id, item.slug) for item in lessons] == [
        (1, "01-derivative", "derivative"), (2, "02-relu-layer", "relu-layer")]
    first = lessons[0]
    assert first.title == "What a derivative is" and first.tools == ("nudge",)
    assert first.scenario["kind"] == "expression" and first.scenario["lr"] == 0.1
    assert [s.title for s in first.sections] == ["The forward pass", "The backward pass",
                                                 "The update"]
    quiz = first.quiz("sign")
    assert isinstance(quiz, Quiz) and quiz.kind == "choice" and quiz.answer == 1
    assert quiz.choices == ("up", "down", "it should stay")
    assert first.quiz("dloss-dw").tolerance == 1e-6
    assert first.quiz("new-w").rel_tolerance == 0.001
    assert validate(GOOD) == []
    report = check_lessons(GOOD)
    assert (len(report.lessons), report.quiz_count, report.notes) == (2, 6, [])


def test_placements_put_quizzes_and_sections_on_steps():
    lesson = load_lessons(GOOD)[0][0]
    timeline = lesson.build().timeline()
    placed = lesson.placements(timeline)
    names = {quiz_id: (timeline.steps[p].phase, timeline.steps[p].name)
             for quiz_id, p in placed.quiz_steps.items()}
    assert names == {"dloss-dw": ("backward", "pred"), "new-w": ("update", "w"),
                     "sign": ("backward", "loss")}
    for step in timeline.steps:
        expected = {"forward": "The forward pass", "backward": "The backward pass",
                    "update": "The update"}[step.phase]
        assert placed.section_at(step.index).title == expected
    assert [q.id for q in placed.quizzes_at[placed.quiz_steps["sign"]]] == ["sign"]


# the broken fixtures: every problem, each with its file and field ----------------------------

EXPECTED_BROKEN = [
    ("01-typos.toml", "titel", "unknown field (did you mean 'title'?)"),
    ("01-typos.toml", "id", "is '01-typo' but the file is 01-typos.toml"),
    ("01-typos.toml", "title", "missing"),
    ("01-typos.toml", "tools[1]", "unknown tool 'nudg' (did you mean 'nudge'?)"),
    ("01-typos.toml", "section[0].colour", "unknown field"),
    ("01-typos.toml", "section[0].at", "unknown phase 'backwards' (did you mean 'backward'?)"),
    ("01-typos.toml", "section[0].text", "never closed"),
    ("01-typos.toml", "quiz[0].kind", "unknown kind 'numbr' (did you mean 'number'?)"),
    ("01-typos.toml", "quiz[0].answer", "unknown name 'gard' (did you mean 'grad'?)"),
    ("01-typos.toml", "quiz[0].answer", "unknown name 'x' (a tensor name goes inside value"),
    ("01-typos.toml", "quiz[0].hints", "at least one hint"),
    ("01-typos.toml", "quiz[1].at", "write PHASE:PATTERN"),
    ("01-typos.toml", "quiz[1].prompt", "{value(x) +}: the expression ends too early"),
    ("01-typos.toml", "quiz[1].choices", "at least two"),
    ("01-typos.toml", "quiz[1].hints[0]", "non-empty"),
    ("01-typos.toml", "quiz[1].explain", "missing"),
    ("01-typos.toml", "quiz[1].id", "'q1' is also the id of quiz[0]"),
    ("01-typos.toml", "quiz[2].choices", "only a choice quiz has choices"),
    ("01-typos.toml", "quiz[2].tolerance", "only a number quiz has a tolerance"),
    ("01-typos.toml", "quiz[2].explain", "{answr}: unknown name 'answr' (did you mean 'answer'?)"),
    ("02-bad-toml.toml", "TOML", "(at line 3"),
    ("03-live.toml", "section[0].at", "never shown"),
    ("03-live.toml", "section[1].at", "no step matches 'backward:rleu' (did you mean "
                                      "'backward:relu'?)"),
    ("03-live.toml", "section[2].text", "at step forward:layer2: {value(relu)[5, 0]}: index 5 is "
                                        "out of range for axis 0 of size 2"),
    ("03-live.toml", "section", "no section covers the first step (forward:layer1)"),
    ("03-live.toml", "quiz[0].at", "this run has no update phase (set lr in [scenario]"),
    ("03-live.toml", "quiz[1].answer", "at step backward:relu: a number quiz needs one number, "
                                       "but the answer is an array of shape (2, 4)"),
    ("03-live.toml", "quiz[2].answer", "at step forward:layer1: relu is not computed yet"),
    ("03-live.toml", "quiz[2].prompt", "∂L/∂layer1.weight is not computed yet at this step"),
    ("03-live.toml", "quiz[2].hints[0]", "{upstream}: upstream exists only at a backward step"),
    ("03-live.toml", "quiz[3].answer", "an elements quiz needs a set of positions"),
    ("04-bad-scenario.toml", "scenario.sizez", "unknown option for kind 'mlp' (did you mean "
                                               "'sizes'?)"),
    ("notalesson.toml", "", "the file name must be NN-slug.toml"),
]


def test_every_problem_of_the_broken_fixtures_is_reported():
    problems = validate(BROKEN)
    found = [(p.file, p.field, p.message) for p in problems]
    for file, field, message in EXPECTED_BROKEN:
        hits = [f for f in found if f[0] == f"broken/{file}" and f[1] == field and message in f[2]]
        assert hits, f"missing: broken/{file}: {field}: {message}\nfound:\n" + "\n".join(
            map(str, problems))
    assert len(problems) == len(EXPECTED_BROKEN), "\n".join(map(str, problems))
    files = [p.file for p in problems]
    assert files == sorted(files)  # grouped by file


def test_load_lessons_keeps_the_structurally_sound_ones():
    lessons, problems = load_lessons(BROKEN)
    # the live problems of these two need a run to be found
    assert [item.id for item in lessons] == ["03-live", "04-bad-scenario"]
    assert {p.file for p in problems} == {"broken/01-typos.toml", "broken/02-bad-toml.toml",
                                          "broken/notalesson.toml"}


def test_missing_folder_and_empty_folder(tmp_path):
    assert [str(p) for p in validate(tmp_path / "nope")] == [f"{tmp_path / 'nope'}: no such folder"]
    assert [p.message for p in validate(tmp_path)] == ["no lesson files (NN-slug.toml) in this "
                                                       "folder"]


def test_more_structure_checks(tmp_path):
    write(tmp_path, "01-a.toml", MINIMAL.format(id="01-a", scenario='kind = "mlp"') + '''
[[quiz]]
id = "bad id!"
at = "forward:relu"
kind = "choice"
prompt = "p"
choices = ["one", "two {value(relu)[9]}"]
answer = 2
hints = ["h"]
explain = "e"

[[quiz]]
id = "num"
at = "forward:relu"
kind = "number"
prompt = "p"
answer = 0.5
tolerance = -1
hints = "not a list"
explain = ""
''')
    write(tmp_path, "01-b.toml", MINIMAL.format(id="01-b", scenario='kind = "mlp"'))
    (tmp_path / "03-d.toml").write_bytes(b'id = "03-d"\ntitle = "\xff"\n')
    problems = [str(p) for p in validate(tmp_path)]
    name = tmp_path.name
    for expected in [
        f"{name}/01-a.toml: quiz[0].id: 'bad id!' must be letters, digits, - and _",
        f"{name}/01-a.toml: quiz[0].answer: is 2 but the choices are numbered 0..1 (0-based)",
        f"{name}/01-a.toml: quiz[1].tolerance: must be a number ≥ 0, got -1",
        f"{name}/01-a.toml: quiz[1].hints: needs at least one hint",
        f"{name}/01-a.toml: quiz[1].explain: must be non-empty text",
        f"{name}/01-b.toml: lesson number 01 is also used by 01-a.toml",
        f"{name}/03-d.toml: TOML: not UTF-8 text (line 2)",
    ]:
        assert any(p.startswith(expected) for p in problems), "\n".join([expected] + problems)


def test_live_checks_of_choices_and_a_numeric_answer(tmp_path):
    write(tmp_path, "01-a.toml", MINIMAL.format(id="01-a", scenario='kind = "mlp"') + '''
[[quiz]]
id = "c"
at = "forward:relu"
kind = "choice"
prompt = "p"
choices = ["one", "two {value(relu)[9]}"]
answer = 1
hints = ["h"]
explain = "e {answer}"

[[quiz]]
id = "n"
at = "forward:rleu"
kind = "number"
prompt = "p"
answer = 0.5
hints = ["h"]
explain = "e {answer}"
''')
    problems = [str(p) for p in validate(tmp_path)]
    assert any("quiz[0].choices[1]: at step forward:relu: {value(relu)[9]}: index 9 is out of "
               "range" in p for p in problems), problems
    assert any("quiz[1].at: no step matches 'forward:rleu' (did you mean 'forward:relu'" in p
               for p in problems), problems
    assert len(problems) == 2, problems
    lesson = load_lessons(tmp_path)[0][0]
    assert lesson.quiz("n").answer == "0.5"  # a plain number is a constant expression


def test_trained_weights_that_are_missing_are_checked_with_random_ones(tmp_path):
    write(tmp_path, "01-t.toml", MINIMAL.format(
        id="01-t", scenario='kind = "transformer"\nweights = "trained:reverse"\nsrc = [1, 2, 3]'))
    report = check_lessons(tmp_path, weights_resolver=lambda task: None)
    assert report.problems == []
    assert len(report.notes) == 1 and "no trained weights for 'reverse'" in report.notes[0]


def test_selector_parsing():
    assert Selector.parse("backward:encoder.layers.*.self_attn.*") == Selector(
        "backward", "encoder.layers.*.self_attn.*")
    for bad, message in [("relu", "PHASE:PATTERN"), ("upd:relu", "unknown phase"),
                         ("forward:", "must be a step name"), ("forward:a b", "must be a step")]:
        with pytest.raises(ValueError, match=message):
            Selector.parse(bad)


def lesson(id_):
    return Lesson(id_, int(id_[:2]), id_, "", (), {}, (), (), None)


LESSONS = [lesson("01-derivative"), lesson("02-relu-layer"), lesson("03-chain-rule"),
           lesson("04-chain-of-layers")]


@pytest.mark.parametrize("query, found", [
    ("3", "03-chain-rule"), ("03", "03-chain-rule"), ("03-chain-rule", "03-chain-rule"),
    ("chain-rule", "03-chain-rule"), ("Chain-Rule", "03-chain-rule"),
    ("03-chain-rule.toml", "03-chain-rule"), ("deriv", "01-derivative"), ("relu", "02-relu-layer"),
])
def test_find_lesson(query, found):
    assert find_lesson(query, LESSONS).id == found


@pytest.mark.parametrize("query, message", [
    ("9", "no lesson '9'. Lessons: 01-derivative, 02-relu-layer"),
    ("chain", "'chain' could be any of: 03-chain-rule, 04-chain-of-layers"),
    ("", "which lesson?"),
])
def test_find_lesson_errors_list_the_choices(query, message):
    with pytest.raises(LessonNotFound) as error:
        find_lesson(query, LESSONS)
    assert message in str(error.value)


def test_the_shipped_lessons_are_valid():
    directory = default_lessons_dir()
    if not any(f.name.endswith(".toml") for f in directory.iterdir()):
        pytest.skip("no lessons shipped yet")
    problems = validate()
    assert problems == [], "\n".join(map(str, problems))


def test_the_fixture_scenarios_are_what_the_tests_assume():
    spec = load_lessons(GOOD)[0][1].scenario
    names = [(s.phase, s.name) for s in build_scenario(spec).timeline().steps]
    assert names[:3] == [("forward", "layer1"), ("forward", "relu"), ("forward", "layer2")]


def test_section_text_is_checked_at_every_step_it_is_shown(tmp_path):
    write(tmp_path, "01-a.toml", MINIMAL.format(id="01-a", scenario='kind = "mlp"').replace(
        'text = "Hello."', 'text = "The first output is {output[0, 0]}."'))
    problems = [str(p) for p in validate(tmp_path)]
    # fine at layer1 … squared (2-D outputs), wrong at the loss, a single number
    assert problems == [f"{tmp_path.name}/01-a.toml: section[0].text: at step forward:loss: "
                        "{output[0, 0]}: a single number cannot be indexed"]


def test_mistakes_are_checked_in_structure(tmp_path):
    write(tmp_path, "01-m.toml", MINIMAL.format(id="01-m", scenario='kind = "mlp"') + '''
[[quiz]]
id = "c"
at = "forward:relu"
kind = "choice"
prompt = "p"
choices = ["a", "b"]
answer = 1
hints = ["h"]
explain = "e"
mistakes = [{answer = 5, feedback = "out of range"}, {answer = 0, feedbak = "typo"}, "text"]
''')
    problems = [str(p) for p in validate(tmp_path)]
    for expected in ["quiz[0].mistakes: must be a list of tables"]:
        assert any(expected in p for p in problems), "\n".join([expected] + problems)
    write(tmp_path, "01-m.toml", (tmp_path / "01-m.toml").read_text().replace(', "text"]', "]"))
    problems = [str(p) for p in validate(tmp_path)]
    for expected in ["quiz[0].mistakes[0].answer: is 5 but the choices are numbered 0..1",
                     "quiz[0].mistakes[1].feedbak: unknown field (did you mean 'feedback'?)",
                     "quiz[0].mistakes[1].feedback: missing"]:
        assert any(expected in p for p in problems), "\n".join([expected] + problems)


def test_mistakes_are_checked_on_the_run_and_a_guessable_choice_is_named(tmp_path):
    write(tmp_path, "01-m.toml", MINIMAL.format(id="01-m", scenario='kind = "mlp"') + '''
[[quiz]]
id = "n"
at = "forward:relu"
kind = "number"
prompt = "p"
answer = "output[0, 0]"
hints = ["h"]
explain = "e"
mistakes = [{answer = "input(0)[0, 0] - 1", feedback = "fine {value(relu)[0, 0]}"},
            {answer = "output[0, 0]", feedback = "the answer itself"},
            {answer = "grad(relu)", feedback = "f"},
            {answer = "1", feedback = "{value(relu)[9]}"}]

[[quiz]]
id = "c"
at = "forward:relu"
kind = "choice"
prompt = "p"
choices = ["short", "the right one, written out at a length no other option has"]
answer = 1
hints = ["h"]
explain = "e"
''')
    report = check_lessons(tmp_path)
    problems = [str(p) for p in report.problems]
    for expected in [
        "quiz[0].mistakes[1].answer: at step forward:relu it is",
        "quiz[0].mistakes[2].answer: at step forward:relu: ∂L/∂relu is not computed yet",
        "quiz[0].mistakes[3].feedback: at step forward:relu: {value(relu)[9]}",
    ]:
        assert any(expected in p for p in problems), "\n".join([expected] + problems)
    assert len(problems) == 3, problems
    assert any("quiz[1] (c): the right choice is the longest" in n for n in report.notes), \
        report.notes
