"""Live values at a step (tutor.lessons.live) and templates (tutor.lessons.templates).

The runs are small graphs whose derivatives have closed forms, so every expected
number is written from the math, not read back from the engine.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import ModelConfig, Tape, Transformer
from engine.optim import sgd_updates
from engine.timeline import Timeline
from engine.expr import ExpressionError, evaluate
from tutor.lessons.live import NAMES, StepContext, format_value, render, split_template

W, X, Y, LR = 2.0, 3.0, 1.0, 0.1


def squared_error_run():
    """L = (w·x − y)²: ∂L/∂w = 2(wx − y)·x, ∂L/∂x = 2(wx − y)·w."""
    tape = Tape()
    w, x, y = tape.param("w", W), tape.input("x", X), tape.input("y", Y, requires_grad=False)
    pred = (w * x).named("pred")
    err = (pred - y).named("err")
    loss = (err ** 2).named("loss")
    tape.backward(loss)
    updates = sgd_updates({"w": w.value}, {"w": w.grad}, LR)
    return Timeline(tape, updates)


def shared_weight_run():
    """L = w·x + w·w: w feeds three inputs, so ∂L/∂w = x + 2w arrives in pieces."""
    tape = Tape()
    w, x = tape.param("w", W), tape.input("x", X)
    a = (w * x).named("a")
    b = (w * w).named("b")
    (a + b).named("total")
    tape.backward(tape.nodes[-1].output)
    return Timeline(tape)


def at(timeline, phase, name):
    return next(s.index for s in timeline.steps if s.phase == phase and s.name == name)


def ctx_at(timeline, phase, name):
    return StepContext(timeline, at(timeline, phase, name))


def test_values_exist_from_the_step_that_computes_them():
    t = squared_error_run()
    first = StepContext(t, 0)  # forward:pred
    assert evaluate("value(pred)", first) == W * X
    assert evaluate("value(w) * value(x)", first) == W * X
    with pytest.raises(ExpressionError, match="err is not computed yet at this step"):
        evaluate("value(err)", first)
    with pytest.raises(ExpressionError, match="the loss is not computed yet"):
        evaluate("loss", first)
    assert evaluate("loss", ctx_at(t, "forward", "loss")) == (W * X - Y) ** 2


def test_upstream_contribution_input_output_at_a_backward_step():
    t = squared_error_run()
    ctx = ctx_at(t, "backward", "pred")  # pred = w * x
    upstream = 2 * (W * X - Y)           # ∂L/∂pred
    assert evaluate("upstream", ctx) == upstream
    assert evaluate("output", ctx) == W * X
    assert evaluate("input(0)", ctx) == W and evaluate("input(1)", ctx) == X
    assert evaluate("contribution(0)", ctx) == upstream * X      # to w
    assert evaluate("contribution(w)", ctx) == upstream * X
    assert evaluate("contribution(x)", ctx) == upstream * W
    assert evaluate("contribution(-1)", ctx) == upstream * W
    with pytest.raises(ExpressionError, match="has 2 input"):
        evaluate("input(2)", ctx)
    with pytest.raises(ExpressionError, match="'y' is not an input of pred"):
        evaluate("input(y)", ctx)
    err = ctx_at(t, "backward", "err")  # err = pred − y, y has no gradient
    with pytest.raises(ExpressionError, match="receives no gradient"):
        evaluate("contribution(1)", err)


def test_grad_is_the_running_total_and_final_grad_the_whole_sum():
    t = shared_weight_run()
    with pytest.raises(ExpressionError, match="∂L/∂w is not computed yet at this step"):
        evaluate("grad(w)", ctx_at(t, "backward", "total"))
    assert evaluate("grad(w)", ctx_at(t, "backward", "b")) == 2 * W          # from w·w
    assert evaluate("grad(w)", ctx_at(t, "backward", "a")) == 2 * W + X      # then from w·x
    assert evaluate("final_grad(w)", StepContext(t, 0)) == 2 * W + X
    assert evaluate("grad(a)", ctx_at(t, "backward", "a")) == 1.0


def test_update_step_names():
    t = squared_error_run()
    ctx = ctx_at(t, "update", "w")
    gradient = 2 * (W * X - Y) * X
    assert evaluate("before", ctx) == W
    assert evaluate("gradient", ctx) == gradient
    assert evaluate("after", ctx) == pytest.approx(W - LR * gradient, abs=1e-15)
    assert evaluate("lr", ctx) == LR
    assert evaluate("lr", StepContext(t, 0)) == LR  # a setting, known everywhere
    assert evaluate("value(w)", ctx) == pytest.approx(W - LR * gradient)  # updated now
    with pytest.raises(ExpressionError, match="only at an update step"):
        evaluate("before", StepContext(t, 0))
    with pytest.raises(ExpressionError, match="only at a backward step"):
        evaluate("upstream", StepContext(t, 0))
    with pytest.raises(ExpressionError, match="forward or backward step"):
        evaluate("output", ctx)
    with pytest.raises(ExpressionError, match="no update phase"):
        evaluate("lr", StepContext(shared_weight_run(), 0))


def test_array_functions_against_numpy():
    tape = Tape()
    v = np.array([[0.5, -1.0, 0.0], [2.0, 0.0, -3.0]])
    x = tape.input("x", v)
    x.relu().named("r")
    ctx = StepContext(Timeline(tape), 0)
    e = np.exp(v - v.max(axis=-1, keepdims=True))
    checks = {
        "shape(value(x))": (2, 3), "size(value(x))": 6.0, "sum(value(x))": v.sum(),
        "mean(value(x))": v.mean(), "max(value(x))": 2.0, "min(value(x))": -3.0,
        "zeros(value(x))": frozenset({(0, 2), (1, 1)}), "zeros(value(x)[1])": frozenset({(1,)}),
    }
    for text, expected in checks.items():
        assert evaluate(text, ctx) == expected, text
    arrays = {"abs(value(x))": np.abs(v), "relu(value(x))": np.maximum(v, 0),
              "tanh(value(x))": np.tanh(v), "exp(value(x))": np.exp(v),
              "softmax(value(x))": e / e.sum(axis=-1, keepdims=True),
              "argmax(value(x))": np.array([0.0, 0.0]), "sqrt(abs(value(x)))": np.sqrt(np.abs(v))}
    for text, expected in arrays.items():
        assert np.allclose(evaluate(text, ctx), expected, rtol=0, atol=1e-15), text
    assert evaluate("argmax(value(x)[0])", ctx) == 0.0
    with pytest.raises(ExpressionError, match="log.*infinite or undefined"):
        evaluate("log(value(x))", ctx)
    with pytest.raises(ExpressionError, match="takes one argument"):
        evaluate("sum(value(x), 1)", ctx)
    assert set(NAMES) >= {"value", "grad", "final_grad", "input", "output", "upstream",
                          "contribution", "loss", "lr", "before", "after", "gradient", "shape",
                          "size", "zeros", "argmax", "sum", "mean", "max", "min", "abs", "exp",
                          "log", "sqrt", "tanh", "relu", "softmax"}


def test_softmax_handles_masked_scores():
    tape = Tape()
    tape.input("s", np.array([1.0, -np.inf, 2.0])).relu()
    ctx = StepContext(Timeline(tape), 0)
    expected = np.array([np.e / (np.e + np.e ** 2), 0.0, np.e ** 2 / (np.e + np.e ** 2)])
    assert np.allclose(evaluate("softmax(value(s))", ctx), expected, atol=1e-15)


CONFIG = ModelConfig(vocab_size=6, d_model=8, n_heads=2, d_ff=8, n_encoder_layers=1,
                     n_decoder_layers=1, max_len=6)


def test_names_in_the_transformer_full_short_and_ambiguous():
    model = Transformer(CONFIG, seed=0)
    run = model.run([[1, 2, 3]], [[0, 1]], [[1, 2]])
    t = Timeline(run.tape)
    ctx = StepContext(t, len(t.steps) - 1)
    full = next(x for x in run.tape.tensors if x.name == "decoder.layers.0.cross_attn.weights")
    assert np.array_equal(evaluate("value(decoder.layers.0.cross_attn.weights)", ctx), full.value)
    assert np.array_equal(evaluate("value(cross_attn.weights)", ctx), full.value)
    with pytest.raises(ExpressionError, match="'weights' is ambiguous: .*encoder.layers.0"):
        evaluate("value(weights)", ctx)
    with pytest.raises(ExpressionError, match="did you mean 'weights'"):
        evaluate("value(wieghts)", ctx)
    with pytest.raises(ExpressionError, match="gets no gradient"):
        evaluate("grad(src)", ctx)
    weight = run.params["generator.weight"]
    assert np.array_equal(evaluate("final_grad(generator.weight)", ctx), weight.grad)


def test_the_timeline_cursor_never_moves_and_values_are_read_only():
    t = squared_error_run()
    t.jump(2)
    ctx = StepContext(t, 0)
    evaluate("value(pred)", ctx)
    assert t.position == 2
    with pytest.raises(ValueError):
        ctx["value"]("w")[...] = 0.0
    with pytest.raises(IndexError):
        StepContext(t, len(t.steps))


# printing and templates --------------------------------------------------------------------

def test_format_value():
    assert format_value(0.123456) == "0.1235"
    assert format_value(-1234.5678) == "-1235"
    assert format_value(0.0) == "0"
    assert format_value(1e-7) == "1e-07"
    assert format_value((3, 4)) == "(3, 4)"
    assert format_value((5,)) == "(5,)"
    assert format_value(frozenset()) == "none"
    assert format_value(frozenset({(3,), (1,)})) == "1, 3"
    assert format_value(frozenset({(0, 2), (0, 1)})) == "(0, 1), (0, 2)"
    assert format_value(np.array([[1.0, 0.5], [-2.0, 0.0]])) == "[[1, 0.5], [-2, 0]]"
    assert format_value(np.arange(10.0)) == "[0, 1, 2, …, 8, 9]"
    assert format_value(np.array([-np.inf, 1.0])) == "[-inf, 1]"


def test_render_fills_live_numbers_with_four_significant_digits():
    t = squared_error_run()
    ctx = ctx_at(t, "backward", "pred")
    upstream = 2 * (W * X - Y)
    text = render("Upstream {upstream} × x {value(x)} = {contribution(0)}; {{not}} {answer}",
                  ctx, answer=1 / 3)
    assert text == f"Upstream {upstream:.4g} × x {X:.4g} = {upstream * X:.4g}; {{not}} 0.3333"


@pytest.mark.parametrize("template, message", [
    ("a {value(nope)} b", "{value(nope)}: no tensor named 'nope'"),
    ("a {1 +} b", "{1 +}: the expression ends too early"),
    ("a {upstream", "never closed"),
    ("a } b", "lone '}'"),
    ("{answer}", "{answer}: unknown name 'answer'"),
])
def test_render_names_the_bad_part(template, message):
    with pytest.raises(ExpressionError) as error:
        render(template, StepContext(squared_error_run(), 0))
    assert message in str(error.value)


def test_split_template_positions():
    assert split_template("ab {x} {{c}} {y[0]}") == ["ab ", ("x", 4), " {c} ", ("y[0]", 14)]


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="ab {}x1 ", max_size=16))
def test_split_template_rebuilds_its_template_or_names_a_brace(template):
    """Text parts with their braces escaped again and ``{expression}`` parts rebuild the
    template exactly, each expression found at its position; a template that cannot be
    split names a brace at the position it gives."""
    try:
        parts = split_template(template)
    except ExpressionError as error:
        assert template[error.position] in "{}"
        return
    rebuilt = ""
    for part in parts:
        if isinstance(part, str):
            assert part
            rebuilt += part.replace("{", "{{").replace("}", "}}")
        else:
            expression, position = part
            assert template[position:position + len(expression)] == expression
            assert template[position - 1] == "{" and template[position + len(expression)] == "}"
            rebuilt += "{" + expression + "}"
    assert rebuilt == template
