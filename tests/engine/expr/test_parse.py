"""The expression language: what it reads, what it computes, and what it refuses.

Expected values are written out by hand or computed with Python/NumPy on the same
numbers (never with the code under test); property tests build random expressions
together with their value.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import numpy as np
import pytest

from tests.paths import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.expr import MAX_DEPTH, MAX_LENGTH, ExpressionError, evaluate, parse

X = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])


# numbers and arithmetic ----------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("0.37", 0.37), (".5", 0.5), ("5.", 5.0), ("3e-2", 0.03), ("2E3", 2000.0), ("1e+2", 100.0),
    ("-1/4", -0.25), ("0.37*0", 0.0), ("  7  ", 7.0), ("+3", 3.0), ("--2", 2.0),
    ("1 + 2 * 3", 7.0), ("(1 + 2) * 3", 9.0), ("1 - 2 - 3", -4.0), ("8 / 4 / 2", 1.0),
    ("2 ** 3 ** 2", 512.0), ("-2 ** 2", -4.0), ("(-2) ** 2", 4.0), ("2 ** -1", 0.5),
    ("2 * -3", -6.0), ("4 ** 0.5", 2.0), ("1 × 2", 2.0), ("3 · 4", 12.0), ("5 − 7", -2.0),
    ("1 ÷ 8", 0.125), ("2∗3", 6.0), ("6 – 1", 5.0),
])
def test_numbers_and_arithmetic(text, value):
    result = evaluate(text)
    assert isinstance(result, float)
    assert result == pytest.approx(value, abs=1e-15)


@pytest.mark.parametrize("text, value", [
    ("1 < 2", 1.0), ("2 < 1", 0.0), ("2 > 1", 1.0), ("1 >= 1", 1.0), ("1 <= 0.5", 0.0),
    ("0.1 + 0.2 == 0.3", 0.0), ("3 == 3", 1.0), ("1 + 1 > 1", 1.0), ("-1 > 0", 0.0),
])
def test_comparisons_give_one_or_zero(text, value):
    assert evaluate(text) == value


def test_comparisons_do_not_chain():
    with pytest.raises(ExpressionError, match="two things at a time") as error:
        parse("1 < 2 < 3")
    assert error.value.position == 6


# names, calls, indexing -----------------------------------------------------------------

def test_names_calls_and_indexing_against_numpy():
    env = {"x": X, "sum": lambda a: float(np.sum(a)), "two": 2.0}
    assert evaluate("x[0, 2]", env) == X[0, 2]
    assert evaluate("x[-1, -1]", env) == X[-1, -1]
    assert np.array_equal(evaluate("x[-1]", env), X[-1])
    assert evaluate("x[1][2]", env) == X[1][2]
    assert evaluate("x[0, 1 + 1] * two", env) == X[0, 2] * 2
    assert evaluate("sum(x[1])", env) == 15.0
    assert np.array_equal(evaluate("x * 2 - 1", env), X * 2 - 1)
    assert np.array_equal(evaluate("x > 3", env), (X > 3).astype(float))


def test_names_and_references_are_reported():
    expression = parse("value(encoder.layers.0.self_attn.weights)[0, 1] + grad(w) * lr "
                       "+ input(0)[1] - contribution(-1)[0] + sum(output)")
    assert expression.names == {"value", "grad", "lr", "input", "contribution", "sum",
                                "output"}
    assert expression.references == (("value", "encoder.layers.0.self_attn.weights"),
                                      ("grad", "w"), ("input", 0), ("contribution", -1))
    assert not expression.is_constant
    assert parse("1 + 2").is_constant


def test_tensor_functions_receive_the_name_not_a_value():
    seen = []
    env = {"value": lambda name: seen.append(name) or 3.0, "input": lambda i: float(i) * 10}
    assert evaluate("value(decoder.layers.1.cross_attn.softmax) * 2", env) == 6.0
    assert seen == ["decoder.layers.1.cross_attn.softmax"]
    assert evaluate("input(1)", env) == 10.0
    with pytest.raises(ExpressionError, match=r"takes a tensor name or an input number"):
        parse("value(1 + x)")
    with pytest.raises(ExpressionError, match=r"takes a tensor name or an input number"):
        parse("input(x + 1)")


def test_shapes_and_sets_come_back_as_tuples_and_frozensets():
    env = {"shape": lambda a: tuple(np.shape(a)), "x": X,
           "zeros": lambda a: {tuple(p) for p in np.argwhere(np.asarray(a) == 2.0)}}
    assert evaluate("shape(x)", env) == (2, 3)
    assert evaluate("shape(x)[1]", env) == 3.0
    assert evaluate("zeros(x)", env) == frozenset({(0, 1)})
    assert evaluate("shape(x) == shape(x[0] * x)", env) == 1.0
    with pytest.raises(ExpressionError, match="not on a shape"):
        evaluate("shape(x) + 1", env)
    with pytest.raises(ExpressionError, match="only be compared with =="):
        evaluate("shape(x) < shape(x)", env)


def test_infinite_values_pass_through_but_new_ones_are_errors():
    env = {"masked": np.array([0.5, -np.inf]), "exp": np.exp}
    assert np.array_equal(evaluate("masked * 2", env), np.array([1.0, -np.inf]))
    assert np.array_equal(evaluate("exp(masked)", env), np.array([np.exp(0.5), 0.0]))
    with pytest.raises(ExpressionError, match="infinite or undefined"):
        evaluate("exp(1000)", env)


def test_a_caret_is_a_power_as_on_paper():
    assert evaluate("2^3") == evaluate("2**3") == 8.0
    assert evaluate("-2^2") == -4.0 and evaluate("2^3^2") == 2.0 ** 9


# what it refuses, and where --------------------------------------------------------------

@pytest.mark.parametrize("text, position, message", [
    ("", 0, "empty"),
    ("1 +", 3, "ends too early"),
    ("(1 + 2", 6, "never closed"),
    ("1 + 2)", 5, "no matching opening"),
    ("x[0", 3, "never closed"),
    ("1_000", 0, "without '_'"),
    ("2x", 0, "2*x"),
    ("1.2.3", 0, "one decimal point"),
    ("3e", 0, "exponent"),
    ("1e999", 0, "too large"),
    ("a = 1", 2, "=="),
    ("1,5", 1, "decimals with a dot"),
    ("3 4", 2, "operator missing"),
    ("'a'", 0, "quotes"),
    ("a.b", 0, "inside value"),
    ("(1)(2)", 3, "only a function name"),
    ("()", 0, "empty parentheses"),
    ("$", 0, "unexpected character"),
])
def test_errors_have_a_position_and_a_plain_message(text, position, message):
    with pytest.raises(ExpressionError, match=message) as error:
        parse(text)
    assert error.value.position == position
    assert "^" in error.value.pointer(text).splitlines()[-1]


@pytest.mark.parametrize("text, message", [
    ("1/0", "division by zero"),
    ("0/0", "division by zero"),
    ("0 ** -1", "division by zero"),
    ("(-8) ** (1/3)", "not a real number"),
    ("10 ** 400", "too large"),
    ("1e300 * 1e300", "too large"),
    ("nope + 1", "unknown name 'nope'"),
])
def test_evaluation_errors(text, message):
    with pytest.raises(ExpressionError, match=message):
        evaluate(text, {"nape": 1.0})


def test_unknown_name_suggests_the_close_one():
    with pytest.raises(ExpressionError, match=r"did you mean 'grad'\?"):
        evaluate("gard(w)", {"grad": lambda n: 1.0})


def test_index_errors_say_what_is_allowed():
    env = {"x": X, "n": 1.5}
    with pytest.raises(ExpressionError, match=r"index 2 is out of range for axis 0 of size 2"):
        evaluate("x[2]", env)
    with pytest.raises(ExpressionError, match="2 axes .* 3 indices"):
        evaluate("x[0, 0, 0]", env)
    with pytest.raises(ExpressionError, match="whole number"):
        evaluate("x[n]", env)
    with pytest.raises(ExpressionError, match="single number cannot be indexed"):
        evaluate("n[0]", env)


def test_functions_and_values_are_not_confused():
    env = {"sum": sum, "loss": 1.0}
    with pytest.raises(ExpressionError, match="sum is a function"):
        evaluate("sum + 1", env)
    with pytest.raises(ExpressionError, match="loss is a value"):
        evaluate("loss(1)", env)


def test_limits_length_depth_and_huge_powers_are_fast():
    with pytest.raises(ExpressionError, match="too long"):
        parse("1+" * (MAX_LENGTH // 2) + "1")
    assert evaluate("(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH) == 1.0
    with pytest.raises(ExpressionError, match="nested too deeply"):
        parse("(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(ExpressionError, match="nested too deeply"):
        parse("-" * 100 + "1")
    with pytest.raises(ExpressionError, match="nested too deeply"):
        parse("2" + "**2" * 60)
    started = time.perf_counter()
    for text in ("10**10**10", "9**9**9**9", "2**2**2**2**2**2**2", "(10**10)**(10**10)"):
        with pytest.raises(ExpressionError, match="too large"):
            evaluate(text)
    assert time.perf_counter() - started < 1.0
    assert evaluate("+".join(["1"] * 240)) == 240.0  # long flat chains are not deep


def test_no_eval_exec_or_attribute_access_in_the_language():
    source = "".join(path.read_text() for path in [*(ROOT / "engine" / "expr").glob("*.py"),
                                                   ROOT / "tutor" / "lessons" / "answers.py"])
    for forbidden in (r"(?<![.\w])eval\(", r"(?<![.\w])exec\(", r"(?<![.\w])compile\(",
                      "literal_eval", "__import__", r"(?<![.\w])getattr\("):
        assert not re.search(forbidden, source), forbidden


# properties --------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_parses_or_raises_expression_error(text):
    try:
        expression = parse(text)
    except ExpressionError as error:
        assert error.position is None or 0 <= error.position <= len(text)
        return
    try:
        evaluate(expression)
    except ExpressionError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789.eE+-*/()<>=[], x×−÷_", max_size=60))
def test_operator_soup_never_escapes_as_another_exception(text):
    try:
        evaluate(text, {"x": X})
    except ExpressionError:
        pass


_numbers = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False).map(lambda v: round(v, 3))


@st.composite
def arithmetic(draw, depth=0):
    """(text, value): a random expression and its value computed by Python."""
    if depth >= 3 or draw(st.booleans()):
        v = draw(_numbers)
        return (f"({v!r})" if v < 0 else repr(v)), v
    op = draw(st.sampled_from(["+", "-", "*", "/", "neg", "paren"]))
    a_text, a = draw(arithmetic(depth + 1))
    if op == "neg":
        return f"-({a_text})", -a
    if op == "paren":
        return f"({a_text})", a
    b_text, b = draw(arithmetic(depth + 1))
    if op == "/" and b == 0:
        b_text, b = "1", 1.0
    value = {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else 0.0}[op]
    return f"({a_text}) {op} ({b_text})", value


@settings(max_examples=300, deadline=None)
@given(arithmetic())
def test_random_arithmetic_matches_python(case):
    text, value = case
    if len(text) > MAX_LENGTH or not math.isfinite(value):
        return
    assert evaluate(text) == pytest.approx(value, rel=1e-12, abs=1e-12)


def test_matrix_products_read_as_in_programs():
    env = {"x": X, "v": np.array([1.0, -1.0, 2.0])}
    assert np.array_equal(evaluate("x @ v", env), X @ env["v"])
    assert np.array_equal(evaluate("x @ v * 2 + 1", env), (X @ env["v"]) * 2 + 1)
    with pytest.raises(ExpressionError, match="use \\* for a number") as error:
        evaluate("2 @ x", env)
    assert error.value.position == 2
    with pytest.raises(ExpressionError, match=r"cannot compute \(2, 3\) @ \(2, 3\)"):
        evaluate("x @ x", env)


def test_one_grammar_two_interpreters_agree():
    """A program line and the same text evaluated over the same numbers give one value:
    the tape builder and the evaluator read the same tree."""
    from engine import Tape
    from engine.expr import build_program

    values = {"w": np.array([[0.5, -1.0], [2.0, 0.25]]), "b": np.array([0.1, -0.3]),
              "x": np.array([1.5, -2.0])}
    lines = {"pred": "w @ x + b", "h": "tanh(pred) * 2 − relu(pred) / (1 + exp(-pred))",
             "loss": "mean((h - 0.5) ** 2) + log(sum(exp(h))) - 2 ** -1 × 3"}
    tape = Tape()
    inputs = {name: tape.input(name, value) for name, value in values.items()}
    built = build_program(tape, "\n".join(f"{k} = {v}" for k, v in lines.items()), inputs)
    env = dict(values, tanh=np.tanh, relu=lambda a: np.maximum(a, 0.0), exp=np.exp,
               log=np.log, mean=np.mean, sum=np.sum)
    for name, text in lines.items():
        env[name] = evaluate(text, env)
        assert np.allclose(built[name].value, env[name], rtol=1e-15, atol=0), name
