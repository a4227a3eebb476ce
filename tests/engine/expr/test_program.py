"""The expression language: values and gradients against torch, precedence by
closed form, exact error messages, and fuzzing that only ever yields ExpressionError."""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine.expr.program as expression
from engine import Tape
from engine.expr import ExpressionError, build_program, parse_program

W = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
X = np.array([0.3, -0.2, 0.9])
Y = np.array([0.1, 0.7])

PROGRAM = """
# every operator and function once
pred = W @ x + 0.5           # (2,)
h = tanh(pred) * relu(pred - 0.2) / (1 + exp(-pred))
p = softmax(h ** 2)
err = p - y
loss = mean(err ** 2) + log(sum(exp(h))) - -1
"""


def run_program(text, **values):
    tape = Tape()
    inputs = {name: tape.param(name, value) for name, value in values.items()}
    results = build_program(tape, text, inputs)
    return tape, inputs, results


def test_every_operator_and_function_matches_torch():
    torch = pytest.importorskip("torch")
    tape, inputs, results = run_program(PROGRAM, W=W, x=X, y=Y)
    tape.backward(results["loss"])

    w, x, y = (torch.tensor(v, requires_grad=True) for v in (W, X, Y))
    pred = w @ x + 0.5
    h = torch.tanh(pred) * torch.relu(pred - 0.2) / (1 + torch.exp(-pred))
    p = torch.softmax(h ** 2, dim=-1)
    err = p - y
    loss = (err ** 2).mean() + torch.log(torch.exp(h).sum()) - -1
    loss.backward()

    for name, ref in {"pred": pred, "h": h, "p": p, "err": err, "loss": loss}.items():
        assert np.allclose(results[name].value, ref.detach().numpy(), rtol=1e-13, atol=1e-15), name
    for name, ref in {"W": w, "x": x, "y": y}.items():
        assert np.allclose(inputs[name].grad, ref.grad.numpy(), rtol=1e-12, atol=1e-15), name


def test_each_line_names_its_last_op_and_inner_ops_keep_op_names():
    tape, _, _ = run_program("pred = w * x + b\nerr = pred - 1\nloss = err ** 2",
                             w=2.0, x=3.0, b=1.0)
    assert [n.name for n in tape.nodes] == ["mul", "pred", "err", "loss"]
    assert [n.op.name for n in tape.nodes] == ["mul", "add", "sub", "pow"]
    assert float(tape.nodes[-1].output.value) == (2 * 3 + 1 - 1) ** 2


@pytest.mark.parametrize("text,expected", [
    ("y = -2 ** 2", -4.0),          # ** binds tighter than unary minus
    ("y = 2 ** 3 ** 2", 512.0),     # right-associative
    ("y = 2 ** -1", 0.5),
    ("y = 2 ** -3 ** 0 * 3", 1.5),  # 2^(−(3^0)) · 3
    ("y = 8 / 2 / 2", 2.0),         # left-associative
    ("y = 2 - 3 - 4", -5.0),
    ("y = 1 + 2 * 3", 7.0),
    ("y = (1 + 2) * 3", 9.0),
    ("y = - - 3 * 2", 6.0),
    ("y = .5e1 + 1.", 6.0),
])
def test_precedence_and_associativity(text, expected):
    _, _, results = run_program(text)
    assert float(results["y"].value) == expected


def test_a_number_line_is_a_named_constant():
    tape, _, results = run_program("rate = 0.1\nstep = rate * g", g=4.0)
    assert results["rate"].kind == "const" and results["rate"].name == "rate"
    assert [n.name for n in tape.nodes] == ["step"]
    assert float(results["step"].value) == pytest.approx(0.4, rel=1e-15)


def test_matrices_and_reductions():
    _, _, r = run_program("a = W @ v\nb = sum(W * W)\nc = mean(v)", W=W, v=X)
    assert np.array_equal(r["a"].value, W @ X)
    assert float(r["b"].value) == pytest.approx(float((W ** 2).sum()), rel=1e-15)
    assert float(r["c"].value) == pytest.approx(X.mean(), rel=1e-15)


@pytest.mark.parametrize("text,message", [
    ("loss = (x + )", "line 1, col 13: expected a number or a name, got ')'"),
    ("\nloss = x +", "line 2, col 11: the expression ends too early: a number or a name is "
                    "missing"),
    ("a = 3 ** y", "line 1, col 10: expected a number as the exponent (x ** 2), got 'y'"),
    ("l = foo(x)", "line 1, col 5: unknown function 'foo'; the functions are relu, tanh, exp, "
                   "log, sum, mean, softmax"),
    ("l = x $ 2", "line 1, col 7: unexpected character '$'"),
    ("l = relu(x, 2)", "line 1, col 5: relu takes one argument"),
    ("l = relu", "line 1, col 5: relu is a function: write relu(x)"),
    ("x = 1", "line 1, col 1: 'x' is already an input; give this line a new name"),
    ("a = x\n", "line 1, col 5: 'a = x' computes nothing; use 'x' directly"),
    ("a = x * 2\na = x", "line 2, col 1: 'a' is already defined on line 1; "
                         "give this line a new name"),
    ("mul = x * 2", "line 1, col 1: 'mul' is an op name the tape gives to unnamed ops; "
                    "choose another name"),
    ("exp = x * 2", "line 1, col 1: 'exp' is a function name; choose another name"),
    ("l = z + x", "line 1, col 5: unknown name 'z'; defined so far: x"),
    ("l = (x", "line 1, col 7: the '(' at character 5 is never closed with ')'"),
    ("x + 1", "line 1, col 3: expected '=' after 'x', got '+'"),
    ("= 1", "line 1, col 1: expected a name to assign to (like 'loss = ...'), got '='"),
    ("l = x 2", "line 1, col 7: unexpected '2' (is an operator missing?)"),
    ("l = x < 2", "line 1, col 7: < compares; a program computes values"),
    ("l = x[0]", "line 1, col 6: indexing like x[0] is for quiz answers"),
    ("l = value(x)", "line 1, col 5: unknown function 'value'"),
    ("l = x ** 1e999", "line 1, col 10: the number 1e999 is too large"),
    ("l = x ** 10 ** 400", "line 1, col 13: the result of ** is too large (it overflows)"),
    ("# only a comment\n\n", "line 1, col 1: the program has no lines"),
])
def test_errors_say_where_and_what_was_expected(text, message):
    with pytest.raises(ExpressionError) as info:
        parse_program(text, ["x"])
    assert str(info.value).startswith(message)


def test_errors_found_while_building_point_at_the_operator():
    with pytest.raises(ExpressionError, match=r"line 2, col 9: cannot compute \(2, 3\) @ \(2, 3\): "
                                              r"the left's last axis \(3\) must equal the "
                                              r"right's second-to-last axis \(2\)"):
        run_program("ok = W * 2\nbad = W @ W", W=W)
    with pytest.raises(ExpressionError, match=r"line 1, col 9: cannot compute \+ on shapes "
                                              r"\(2, 3\) and \(2,\): they do not broadcast"):
        run_program("bad = W + y", W=W, y=Y)
    with pytest.raises(ExpressionError, match="line 1, col 5: softmax needs a vector"):
        run_program("p = softmax(a)", a=1.0)
    with pytest.raises(ExpressionError, match="line 1, col 7: @ multiplies matrices"):
        run_program("p = a @ W", a=1.0, W=W)


def test_the_error_is_a_value_error_with_its_position():
    with pytest.raises(ValueError) as info:
        parse_program("a = 1\nb = (2", [])
    assert (info.value.line, info.value.column) == (2, 7)


def test_deep_nesting_is_refused_before_python_runs_out_of_stack():
    for depth in (41, 5000):
        for text in ("y = " + "(" * depth + "1" + ")" * depth, "y = " + "-" * depth + "x",
                     "y = x ** " + " ** ".join(["1"] * depth)):
            with pytest.raises(ExpressionError, match="nested too deeply|too long"):
                parse_program(text, ["x"])
    with pytest.raises(ExpressionError, match="too long"):
        parse_program("y = x" + " + x" * 5000, ["x"])
    _, _, r = run_program("y = " + "(" * 30 + "x" + ")" * 30 + " + x" * 60, x=1.0)
    assert float(r["y"].value) == 61.0  # a long flat line is not deep


def test_the_module_never_calls_eval_exec_or_imports():
    tree = ast.parse("\n".join(p.read_text() for p in Path(expression.__file__).parent.glob("*.py")))
    called = {node.func.id for node in ast.walk(tree)
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert not called & {"eval", "exec", "compile", "__import__", "getattr", "open", "setattr"}


GRAMMAR_PIECES = ["x", "y", "W", "loss", "a", "=", "+", "-", "*", "/", "**", "@", "(", ")", ",",
                  "1", "2.5", "1e3", "0", "relu", "tanh", "exp", "log", "sum", "mean", "softmax",
                  "\n", " ", "#", "__import__", "'os'", ".", "[0]", "lambda", ":"]


def fuzz(text):
    """Parse and build; anything but an ExpressionError, or a call to eval, fails."""
    def forbidden(*args, **kwargs):
        raise AssertionError("the expression parser called eval/exec/compile")

    saved = builtins.eval, builtins.exec, builtins.compile
    builtins.eval = builtins.exec = builtins.compile = forbidden
    try:
        run_program(text, x=X, y=Y[:1], W=W)
    except ExpressionError:
        pass
    finally:
        builtins.eval, builtins.exec, builtins.compile = saved


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_arbitrary_text_only_ever_gives_expression_errors(text):
    fuzz(text)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(GRAMMAR_PIECES), max_size=30))
def test_token_soup_only_ever_gives_expression_errors(pieces):
    fuzz("loss = " + " ".join(pieces))
    fuzz("".join(pieces))
