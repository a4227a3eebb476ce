"""Reading and grading learner answers: every documented form, every odd input."""

from __future__ import annotations

import math
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tutor.lessons.answers import KINDS, grade

CHOICES = ["It doubles", "It halves", "Nothing changes"]


# number ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("0.37", 0.37), ("-1/4", -0.25), ("3e-2", 0.03), (".5", 0.5), ("0.37*0", 0.0),
    ("1 − 0.2×3", 0.4), ("2 · 0.5", 1.0), ("1 ÷ 4", 0.25), ("= 0.25", 0.25), ("(1+1)**-1", 0.5),
    ("  -0.0", 0.0), ("2^3", 8.0), ("-2^2", -4.0), ("2^-1", 0.5), ("ln(12)", math.log(12)),
    ("log(12)", math.log(12)), ("exp(1)", math.e), ("e", math.e), ("sqrt(2)/2", 2 ** -0.5),
    ("π/4", math.atan(1)), ("pi", math.acos(-1)), ("2e-1*e", 0.2 * math.e), ("ln 12", None),
])
def test_number_forms(text, value):
    if value is None:  # a function needs its parentheses
        assert not grade("number", text, 1.0).readable
        return
    result = grade("number", text, value, tolerance=1e-12)
    assert result.correct and result.readable
    assert result.parsed == pytest.approx(value, abs=1e-15)


def test_number_tolerances():
    assert grade("number", "0.371", 0.37, tolerance=1e-3).correct
    assert not grade("number", "0.372", 0.37, tolerance=1e-3).correct
    assert grade("number", "101", 100.0, rel_tolerance=0.01).correct
    assert not grade("number", "102", 100.0, rel_tolerance=0.01).correct
    # either tolerance admits the answer when both are given
    assert grade("number", "0.0105", 0.01, tolerance=1e-3, rel_tolerance=1e-6).correct
    # default: 4 significant digits worked through a product are accepted …
    assert grade("number", "0.1235", 0.123456789).correct
    assert grade("number", "0", 0.0).correct
    # … but a different number is not
    assert not grade("number", "0.13", 0.123456789).correct


@pytest.mark.parametrize("text, message", [
    ("x", "Use numbers, not names"),
    ("grad(w)", "Use numbers, not names"),
    ("__import__('os').system('echo hacked')", "couldn't read"),
    ("().__class__", "couldn't read"),
    ("1/0", "division by zero"),
    ("10**10**10", "too large"),
    ("1e999", "too large"),
    ("(" * 60 + "1" + ")" * 60, "nested too deeply"),
    ("", "Write a number"),
    ("   ", "Write a number"),
    ("1,5", "decimals with a dot"),
    ("inf", "not names"),
    ("nan", "not names"),
    ("x" * 600, "too long"),
])
def test_unreadable_numbers_say_how_to_write_them(text, message):
    result = grade("number", text, 1.0)
    assert not result.correct and not result.readable and result.parsed is None
    assert message in result.message


def test_nothing_is_executed(tmp_path):
    marker = tmp_path / "hacked"
    for kind in KINDS:
        for text in (f"__import__('os').system('touch {marker}')",
                     f"open('{marker}', 'w')", "exec('1')", "eval('1')"):
            result = grade(kind, text, 1 if kind == "choice" else (1,) if kind == "shape"
                           else frozenset() if kind == "elements" else 1.0, choices=CHOICES)
            assert not result.correct
    assert not marker.exists() and not os.path.exists("hacked")


# shape -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, shape", [
    ("(3, 4)", (3, 4)), ("3x4", (3, 4)), ("3×4", (3, 4)), ("3 x 4", (3, 4)), ("[3,4]", (3, 4)),
    ("3 4", (3, 4)), ("3,4", (3, 4)), ("(5,)", (5,)), ("5", (5,)), ("[5]", (5,)), ("()", ()),
    ("(2, 3, 4)", (2, 3, 4)), ("2x3x4", (2, 3, 4)), (" ( 1 , 1 ) ", (1, 1)), ("3X4", (3, 4)),
])
def test_shape_forms(text, shape):
    result = grade("shape", text, shape)
    assert result.correct and result.parsed == shape


def test_shape_wrong_and_unreadable():
    wrong = grade("shape", "(4, 3)", (3, 4))
    assert wrong.readable and not wrong.correct and wrong.parsed == (4, 3)
    for text in ("(3, 4", "three by four", "3.5 x 4", "-3 4", "3,,4", "", "torch.Size([3])"):
        result = grade("shape", text, (3, 4))
        assert not result.readable, text
        assert "(3, 4)" in result.message


# choice ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["b", "B", "2", " b ", "b)", "(b)", "2.", "It halves",
                                  "it  HALVES"])
def test_choice_forms(text):
    result = grade("choice", text, 1, choices=CHOICES)
    assert result.correct and result.parsed == 1


def test_choice_wrong_and_unreadable():
    assert grade("choice", "a", 1, choices=CHOICES).readable
    assert not grade("choice", "a", 1, choices=CHOICES).correct
    for text in ("d", "4", "0", "halves", "", "bb"):
        result = grade("choice", text, 1, choices=CHOICES)
        assert not result.readable, text
        assert "a–c" in result.message and "1–3" in result.message


def test_choice_text_equal_to_a_letter_outside_the_range():
    assert grade("choice", "Y", 1, choices=["x", "y", "z"]).parsed == 1


# elements ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["(0,1) (0,2)", "(0,1), (0,2)", "[0,1];[0,2]", "(0, 2) (0, 1)",
                                  "{(0,1), (0,2)}", "[0 1] [0 2]", "(0,1)(0,2)",
                                  "(0,1) (0,2) (0,1)"])
def test_elements_forms(text):
    result = grade("elements", text, {(0, 1), (0, 2)})
    assert result.correct and result.parsed == frozenset({(0, 1), (0, 2)})


@pytest.mark.parametrize("text", ["1, 3", "1 3", "3,1", "(1) (3)", "[1];[3]", "{1, 3}"])
def test_elements_one_axis(text):
    assert grade("elements", text, {(1,), (3,)}).correct


@pytest.mark.parametrize("text", ["none", "None", "{}", "∅", "empty", "nothing", "no elements"])
def test_elements_none(text):
    assert grade("elements", text, frozenset()).correct
    assert not grade("elements", text, {(1,)}).correct


def test_elements_wrong_and_unreadable():
    wrong = grade("elements", "(0,1)", {(0, 1), (0, 2)})
    assert wrong.readable and not wrong.correct
    for text in ("(0,1", "(0,1) x", "(0,a)", "(0,1) (2)", "1, 3", ""):
        result = grade("elements", text, {(0, 1), (0, 2)})
        assert not result.readable, text
        assert "(0,1) (0,2)" in result.message


# properties --------------------------------------------------------------------------------

EXPECTED = {"number": 0.5, "shape": (3, 4), "choice": 1, "elements": frozenset({(0, 1)})}


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(KINDS), st.text(max_size=120))
def test_any_text_is_graded_without_raising(kind, text):
    result = grade(kind, text, EXPECTED[kind], choices=CHOICES, tolerance=1e-9)
    assert isinstance(result.correct, bool)
    assert result.readable == (result.parsed is not None)
    if not result.readable:
        assert result.message and not result.correct


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(KINDS),
       st.text(alphabet="()[]{},;:xX×*·−-+/.0123456789eE _'\"abn\u00a0", max_size=80))
def test_punctuation_soup_is_graded_without_raising(kind, text):
    grade(kind, text, EXPECTED[kind], choices=CHOICES)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 999), min_size=0, max_size=5),
       st.sampled_from(["({})", "[{}]", "{}"]), st.sampled_from([", ", ",", " ", "x", " × "]))
def test_every_written_shape_reads_back(dims, brackets, separator):
    shape = tuple(dims)
    inner = separator.join(str(d) for d in shape)
    if len(shape) == 1 and brackets == "({})":
        inner += ","
    if not shape and brackets == "{}":
        return
    text = brackets.format(inner)
    assert grade("shape", text, shape).correct, text


@settings(max_examples=200, deadline=None)
@given(st.sets(st.tuples(st.integers(0, 99), st.integers(0, 99)), max_size=6),
       st.sampled_from([" ", ", ", ";", ""]), st.sampled_from(["({}, {})", "[{},{}]"]))
def test_every_written_set_of_positions_reads_back(positions, separator, form):
    text = separator.join(form.format(*p) for p in sorted(positions)) or "none"
    result = grade("elements", text, positions)
    assert result.correct, text


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_every_printed_number_reads_back(value):
    for text in (repr(value), f"{value:.6e}", f"{value:.4g}"):
        result = grade("number", text.replace("-", "−"), value, rel_tolerance=1e-3,
                       tolerance=1e-9)
        assert result.readable and result.correct, text


def test_expected_positions_may_be_plain_indices_for_one_axis():
    assert grade("elements", "1, 3", {1, 3}).correct
    assert grade("elements", "(0, 1)", [[0, 1]]).correct
