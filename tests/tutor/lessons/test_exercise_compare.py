"""Comparing a learner's answer with the engine's: shape first, then values at a relative
error of 1e-9, the first wrong element with both values and its worked line, which part
of a tuple is wrong, NaN and ±inf named, and every way of not answering said plainly."""

from __future__ import annotations

import numpy as np

from tests.exercise_solutions import run_of
from tutor.lessons.exercise_compare import CheckResult, Expected, compare
from tutor.lessons.exercise_runner import ChildOutcome
from tutor.views.step import PanelKey, Role, worked_element

TOLERANCE = 1e-9


def ok(*parts) -> ChildOutcome:
    return ChildOutcome("ok", parts=list(parts))


def test_a_shape_mismatch_is_reported_before_any_value():
    want = Expected("dW", np.arange(6.0).reshape(2, 3))
    result = compare([want], ok(("dW", np.arange(6.0).reshape(3, 2))), TOLERANCE)
    assert result.status == "wrong" and result.mismatch is None
    assert result.headline == ("wrong: dW has shape (3, 2), but the engine's has (2, 3) "
                               "(transposed?)")
    summed = compare([want], ok(("dW", np.arange(3.0))), TOLERANCE)
    assert "summed over an axis" in summed.headline


def test_values_agree_to_a_relative_error_of_1e_9_of_the_parts_size():
    rng = np.random.default_rng(0)
    want = rng.normal(size=(3, 4))
    scale = np.abs(want).max()
    close = want + 0.5e-9 * scale * rng.choice([-1.0, 1.0], size=want.shape)
    assert compare([Expected("dx", want)], ok(("dx", close)), TOLERANCE).correct
    off = want.copy()
    off[1, 2] += 3e-9 * scale
    result = compare([Expected("dx", want)], ok(("dx", off)), TOLERANCE)
    assert result.status == "wrong"
    assert result.mismatch.index == (1, 2) and result.mismatch.position == "[1, 2]"
    assert result.mismatch.got == off[1, 2] and result.mismatch.expected == want[1, 2]
    assert result.headline.startswith("wrong: dx[1, 2] is ")
    assert f"{off[1, 2]:.12g}" in result.headline and f"{want[1, 2]:.12g}" in result.headline


def test_rounding_noise_of_an_exact_zero_is_not_an_error():
    """A masked softmax gradient is exactly 0 in the engine; a learner's formula may give
    1e-17 there. Judged against the part's size, that is agreement."""
    want = np.array([[0.0, 0.25, -0.5]])
    mine = np.array([[1e-17, 0.25, -0.5]])
    assert compare([Expected("dx", want)], ok(("dx", mine)), TOLERANCE).correct


def test_the_first_wrong_element_comes_with_the_op_cards_worked_line():
    run = run_of("softmax-backward")
    expected = run.expected()
    mine = expected[0].value.copy()
    mine[0, 0, 2, 1] += 0.1
    result = compare(expected, ok(("dx", mine)), TOLERANCE)
    engine = worked_element(run.timeline, run.position, PanelKey(Role.DOWNSTREAM, 0),
                            (0, 0, 2, 1))
    assert result.mismatch.worked == str(engine)
    assert f"engine: {engine}" in result.lines()
    assert "1 of 9 elements of dx differ" in "\n".join(result.lines())


def test_a_tuple_says_which_part_is_wrong():
    parts = [Expected(n, np.full(2, float(i))) for i, n in enumerate(("dx", "dW", "db"))]
    result = compare(parts, ok(("dx", np.zeros(2)), ("dW", np.ones(2)), ("db", np.zeros(2))),
                     TOLERANCE)
    assert result.parts == (("dx", True), ("dW", True), ("db", False))
    assert result.headline.startswith("wrong: db[0] is 0 but the engine has 2")
    assert result.details[0] == "dx ✓  dW ✓  db ✗"


def test_nan_and_inf_are_named():
    want = np.array([0.5, -np.inf, 1.0])
    assert compare([Expected("s", want)], ok(("s", want.copy())), TOLERANCE).correct
    nan = compare([Expected("s", want)], ok(("s", np.array([np.nan, -np.inf, 1.0]))), TOLERANCE)
    assert nan.headline == "wrong: s[0] is nan but the engine has 0.5"
    inf = compare([Expected("s", want)], ok(("s", np.array([0.5, np.inf, 1.0]))), TOLERANCE)
    assert inf.headline == "wrong: s[1] is inf but the engine has -inf"


def test_every_way_of_not_answering_is_one_clear_line():
    want = [Expected("dx", np.zeros(2))]
    todo = compare(want, ChildOutcome("todo", "x"), TOLERANCE, "softmax_backward(…)")
    assert todo.status == "todo"
    assert todo.headline == "not written yet: softmax_backward(…) still raises NotImplementedError"
    memory = compare(want, ChildOutcome("memory", "softmax_backward(…) ran out of memory"),
                     TOLERANCE)
    assert memory.status == "error" and "the limit is 1024 MiB" in memory.headline
    shape = compare(want, ChildOutcome("bad_return", "dx is a list, not a NumPy array"),
                    TOLERANCE)
    assert shape.headline == "wrong kind of answer: dx is a list, not a NumPy array"
    timeout = compare(want, ChildOutcome("timeout", "stopped after 10 s: …"), TOLERANCE)
    assert timeout.status == "timeout" and not timeout.correct


def test_printed_output_is_shown_bounded():
    printed = "".join(f"line {i}\n" for i in range(100)) + "x" * 500
    result = CheckResult("correct", "correct: …", output=printed[:1000], output_hidden=7000)
    lines = result.lines()
    assert lines[1] == "your code printed:"
    assert lines[2:4] == ["  line 0", "  line 1"]
    assert len(lines) == 2 + 12 + 1
    assert lines[-1].startswith("  … (") and lines[-1].endswith(" more characters not shown)")
