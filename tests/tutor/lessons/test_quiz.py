"""The quiz session: expected answers from the live run, grading, hints, results.

Scenarios are built by the engine; every expected number below comes from the
closed form of the little function, or from NumPy on the run's own parameters.
"""

from __future__ import annotations

import numpy as np
import pytest

from tutor.lessons.scenarios import build_scenario
from engine.expr import ExpressionError
from tutor.lessons.live import StepContext
from tutor.lessons.quiz import Quiz, QuizSession, expected_answer

W, X, Y = 2.0, 3.0, 1.0  # L = (w·x − y)²  ⇒  ∂L/∂pred = 2(wx − y) = 10, ∂L/∂w = 10·x = 30


def squared_error_timeline():
    spec = {"kind": "expression", "inputs": {"w": W, "x": X, "y": Y},
            "program": "pred = w * x\nerr = pred - y\nloss = err ** 2", "lr": 0.1}
    return build_scenario(spec).timeline()


def ctx_at(timeline, phase, name):
    return StepContext(timeline, next(s.index for s in timeline.steps
                                      if s.phase == phase and s.name == name))


DLDW = Quiz(id="dloss-dw", at="backward:pred", kind="number",
            prompt="Upstream is {upstream}; x = {value(x)}. What is ∂L/∂w?",
            answer="contribution(w)",
            hints=("pred = w·x, so ∂pred/∂w = x.", "upstream × {value(x)}"),
            explain="∂L/∂w = upstream × x = {upstream} × {value(x)} = {answer}", tolerance=1e-6)


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_expected_answer_and_texts_come_from_the_run():
    session = QuizSession(DLDW, ctx_at(squared_error_timeline(), "backward", "pred"))
    assert session.expected == 2 * (W * X - Y) * X == 30.0
    assert session.prompt_text() == "Upstream is 10; x = 3. What is ∂L/∂w?"
    assert session.explanation() == "∂L/∂w = upstream × x = 10 × 3 = 30"
    assert session.expected_text() == "30"


def test_right_first_time():
    clock = FakeClock()
    session = QuizSession(DLDW, ctx_at(squared_error_timeline(), "backward", "pred"), clock=clock)
    assert session.result is None
    clock.now += 12.5
    feedback = session.submit("30")
    assert feedback.status == "right" and feedback.finished and feedback.attempts == 1
    assert feedback.message == "Right: 30."
    assert session.result.to_dict() == {"result": "correct", "attempts": 1, "hints": 0,
                                        "seconds": 12.5}
    with pytest.raises(RuntimeError, match="already finished"):
        session.submit("30")


def test_unreadable_does_not_count_wrong_does_and_hints_are_progressive():
    session = QuizSession(DLDW, ctx_at(squared_error_timeline(), "backward", "pred"))
    unreadable = session.submit("x * 10")
    assert unreadable.status == "unreadable" and unreadable.attempts == 0
    assert "Use numbers, not names" in unreadable.message
    wrong = session.submit("2*5*3.1")
    assert wrong.status == "wrong" and wrong.attempts == 1 and not wrong.finished
    assert wrong.message == "Not quite: 2*5*3.1 = 31 is not it. Try again or ask for a hint."
    sign = session.submit("−30")
    assert "right size but the wrong sign" in sign.message and sign.attempts == 2
    assert session.hint() == "pred = w·x, so ∂pred/∂w = x."
    assert session.hint() == "upstream × 3"  # hints quote live numbers too
    assert session.hint() is None and session.hints_left == 0
    last = session.submit("10 × 3")
    assert last.right and "ask for a hint" not in last.message
    result = session.result
    assert (result.result, result.attempts, result.hints) == ("correct_after_hints", 3, 2)


def test_skip_is_skipped_before_trying_and_wrong_after():
    t = squared_error_timeline()
    fresh = QuizSession(DLDW, ctx_at(t, "backward", "pred"))
    fresh.skip()
    assert fresh.result.result == "skipped" and fresh.finished
    tried = QuizSession(DLDW, ctx_at(t, "backward", "pred"))
    tried.submit("1")
    tried.skip()
    assert (tried.result.result, tried.result.attempts) == ("wrong", 1)


def test_max_attempts_ends_wrong_and_shows_the_answer():
    session = QuizSession(DLDW, ctx_at(squared_error_timeline(), "backward", "pred"),
                          max_attempts=2)
    assert not session.submit("1").finished
    last = session.submit("2")
    assert last.finished and last.status == "wrong"
    assert last.message.endswith("The answer is 30.")
    assert session.result.result == "wrong"


def test_update_quiz_closed_form():
    quiz = Quiz(id="new-w", at="update:w", kind="number", prompt="{before} {gradient} {lr}",
                answer="after", hints=("h",), explain="{answer}", rel_tolerance=1e-3)
    session = QuizSession(quiz, ctx_at(squared_error_timeline(), "update", "w"))
    assert session.expected == pytest.approx(W - 0.1 * 30.0, abs=1e-12)
    assert session.prompt_text() == "2 30 0.1"
    assert session.submit("2 - 0.1*30").right


class Order:
    """A stand-in random source that puts the choices in a given order."""

    def __init__(self, order):
        self.order = order

    def shuffle(self, items):
        items[:] = self.order


def test_choice_quiz_in_the_written_order():
    quiz = Quiz(id="sign", at="backward:loss", kind="choice", prompt="Error {value(err)}?",
                answer=1, choices=("up", "down by {value(err)}"), hints=("h",),
                explain="choice {answer + 1}")
    ctx = ctx_at(squared_error_timeline(), "backward", "loss")
    session = QuizSession(quiz, ctx, rng=Order([0, 1]))
    assert session.choice_lines() == ["a) up", "b) down by 5"]
    assert session.expected == 1 and session.expected_text() == "b) down by 5"
    wrong = session.submit("a")
    assert wrong.message == "Not quite: a) up is not it. Try again or ask for a hint."
    assert session.submit("B").right
    assert session.explanation() == "choice 2"


def test_choices_are_shown_shuffled_and_graded_by_what_is_shown():
    quiz = Quiz(id="sign", at="backward:loss", kind="choice", prompt="?", answer=1,
                choices=("up", "down", "sideways"), hints=("h",), explain="{answer}")
    ctx = ctx_at(squared_error_timeline(), "backward", "loss")
    session = QuizSession(quiz, ctx, rng=Order([2, 1, 0]))
    assert session.choice_lines() == ["a) sideways", "b) down", "c) up"]
    assert session.expected == 1 and session.expected_text() == "b) down"
    assert not session.submit("c").right and session.submit("b").right
    # shown in different orders over runs, the right one where it falls
    orders = {tuple(QuizSession(quiz, ctx).order) for _ in range(60)}
    assert len(orders) > 1
    for order in orders:
        assert QuizSession(quiz, ctx, rng=Order(list(order))).submit(
            "abc"[list(order).index(1)]).right


def test_a_listed_mistake_gets_its_own_feedback():
    from tutor.lessons.quiz import Mistake
    quiz = Quiz(id="dloss-dw", at="backward:pred", kind="number", prompt="?",
                answer="contribution(w)", hints=("h",), explain="{answer}", tolerance=1e-6,
                mistakes=(Mistake("upstream", "That is ∂L/∂pred; times ∂pred/∂w = x."),
                          Mistake("-contribution(w)", "never shown: the sign rule comes first"),
                          Mistake("contribution(w)", "equal to the answer: left out")))
    session = QuizSession(quiz, ctx_at(squared_error_timeline(), "backward", "pred"))
    assert len(session.mistakes) == 2  # the one equal to the answer is dropped
    assert session.submit("10").message == ("Not quite: 10. That is ∂L/∂pred; times ∂pred/∂w"
                                            " = x. Try again or ask for a hint.")
    assert session.submit("-30").message.startswith("Not quite: -30. never shown")
    assert "is not it" in session.submit("31").message


def test_an_answer_worked_from_the_displayed_numbers_is_accepted():
    """Row sums of softmax gradients are 0 exactly; the displayed entries, rounded to 4
    significant digits, add up to a little off 0, and that sum is accepted."""
    scenario = build_scenario({"kind": "mlp", "sizes": [3, 4, 3], "batch": 2, "seed": 3,
                               "loss": "cross_entropy"})
    timeline = scenario.timeline()
    quiz = Quiz(id="row-sum", at="backward:loss", kind="number", prompt="?",
                answer="sum(contribution(0)[0])", hints=("h",), explain="{answer}",
                tolerance=1e-9)
    ctx = ctx_at(timeline, "backward", "loss")
    row = ctx["contribution"](0)[0]
    written = sum(float(f"{x:.4g}") for x in row)
    assert abs(written) > 1e-9  # the displayed numbers do not add up to exactly 0
    session = QuizSession(quiz, ctx)
    assert session.submit(repr(written)).right
    assert not QuizSession(quiz, ctx).submit(repr(abs(written) * 50 + 1e-3)).right


def mlp():
    scenario = build_scenario({"kind": "mlp", "sizes": [3, 4, 2], "batch": 2, "seed": 0})
    params = {t.name: t.value for t in scenario.tape.tensors}
    layer1 = params["x"] @ params["layer1.weight"].T + params["layer1.bias"]
    return scenario.timeline(), layer1


def test_shape_and_elements_quizzes_on_an_mlp():
    timeline, layer1 = mlp()
    shape = Quiz(id="s", at="forward:layer1", kind="shape", prompt="?", answer="shape(output)",
                 hints=("h",), explain="{answer}")
    session = QuizSession(shape, ctx_at(timeline, "forward", "layer1"))
    assert session.expected == (2, 4)
    assert session.submit("(4, 2)").message == ("Not quite: the shape is not (4, 2). Try again "
                                                "or ask for a hint.")
    assert session.submit("2x4").right
    dead = Quiz(id="d", at="forward:relu", kind="elements", prompt="?", answer="zeros(output)",
                hints=("h",), explain="{answer}")
    session = QuizSession(dead, ctx_at(timeline, "forward", "relu"))
    expected = frozenset(tuple(int(i) for i in p) for p in np.argwhere(layer1 <= 0))
    assert session.expected == expected and expected  # this seed has dead units
    typed = " ".join(f"({r},{c})" for r, c in sorted(expected))
    assert session.submit(typed).right


@pytest.mark.parametrize("kind, answer, message", [
    ("number", "upstream", r"needs one number, but the answer is an array of shape \(2, 4\)"),
    ("shape", "upstream[0, 0]", "needs a shape"),
    ("elements", "shape(upstream)", "needs a set of positions"),
    ("choice", "0.5", "0-based index"),
    ("choice", "7", "there are 2 choices"),
    ("number", "grad(layer1.weight)[0, 0] + 1", None),
])
def test_expected_answer_must_fit_the_kind(kind, answer, message):
    timeline, _ = mlp()
    quiz = Quiz(id="q", at="backward:relu", kind=kind, prompt="p", answer=answer, hints=("h",),
                explain="e", choices=("a", "b") if kind == "choice" else ())
    ctx = ctx_at(timeline, "backward", "relu")
    if message is None:  # layer1.weight gets its gradient only at backward:layer1, later
        with pytest.raises(ExpressionError, match="not computed yet at this step"):
            expected_answer(quiz, ctx)
        return
    with pytest.raises(ExpressionError, match=message):
        expected_answer(quiz, ctx)
