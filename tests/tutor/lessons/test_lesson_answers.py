"""Every quiz answer of every shipped lesson, recomputed by PyTorch.

A quiz stores no answer, only an expression (``contribution(w)``) that the tutor
evaluates on the engine's run. Here the same expression is evaluated a second time
in ``TorchStepContext``: the same expression language and the same step, but every
number comes from PyTorch —

- ``value``, ``input``, ``output``, ``loss``: the graph rebuilt in torch from its
  leaves (``engine.pytorch.twin.replay_torch``);
- ``final_grad``, ``upstream``: torch autograd on that rebuilt graph (``upstream`` of a
  node is ∂L/∂output, complete by the time backward reaches the node);
- ``contribution(i)``: ``torch.autograd.grad`` through that node alone, with torch's
  inputs and torch's upstream; ``grad`` (the running total at a step) is the sum of
  those contributions made so far;
- ``before``/``gradient``/``after``: the leaf, torch's gradient, and w − lr·g from them;
  ``lr`` from the lesson file.

From the engine it takes only structure: which step is which, which tensor a name
means, which inputs receive gradients. ``test_torch_context_reads_no_engine_number``
poisons every number in the engine's record and checks the torch answers do not move.

Numbers must agree to 1e-9 relative (plus 1e-12 absolute, for answers that are 0 up
to rounding, like the sum of a softmax gradient's row); shapes, choices and sets of
positions exactly; so must every live number in every prompt, hint, choice,
explanation and section. Closed-form checks of lessons 1–7, by hand in NumPy, are in
tests/test_lesson_closed_forms.py.
"""

from __future__ import annotations

from collections import ChainMap
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pytest

import tutor.lessons.live as live
from engine.timeline import Timeline
from engine.pytorch.steps import replay_torch
from engine.expr import ExpressionError, evaluate, parse
from tutor.lessons.catalog import load_lessons
from tutor.lessons.lesson_check import build_for_check
from tutor.lessons.live import ARRAY_FUNCTIONS, NAMES, StepContext, split_template
from tutor.lessons.quiz import as_kind, expected_answer

torch = pytest.importorskip("torch")

REL, ABS = 1e-9, 1e-12
LESSONS, LOAD_PROBLEMS = load_lessons()
BY_ID = {lesson.id: lesson for lesson in LESSONS}
QUIZ_CASES = [(lesson.id, quiz.id) for lesson in LESSONS for quiz in lesson.quizzes]


class NotProvidedByTorch(AssertionError):
    """A lesson name the torch context does not compute: it must never fall back."""


# torch's numbers for one run -------------------------------------------------------------

class TorchRun:
    """Values and gradients of a recorded run, all computed by torch.

    ``replay_torch`` rebuilds the graph from the leaves and runs autograd; a node's
    backward contributions are redone by ``torch.autograd.grad`` on that node alone,
    fed torch's own input values and torch's ∂L/∂output (never the engine's).
    """

    def __init__(self, tape, lr):
        self.tape = tape
        self.lr = None if lr is None else float(lr)
        self.replay = replay_torch(tape)
        self._contributions: dict[int, dict[int, np.ndarray]] = {}

    def value(self, tensor) -> np.ndarray:
        return self.replay[tensor.id][0]

    def final_grad(self, tensor) -> np.ndarray:
        grad = self.replay[tensor.id][1]
        if grad is None:
            raise ExpressionError(f"{tensor.name} gets no gradient (it is a constant)")
        return grad

    def contributions(self, step) -> dict[int, np.ndarray]:
        """{input index: ∂L/∂output · ∂output/∂input} for one backward step."""
        cached = self._contributions.get(step.index)
        if cached is not None:
            return cached
        node = step.node
        wanted = [c.input_index for c in step.contributions]  # structure: who gets a gradient
        xs = [torch.tensor(np.array(self.value(t), copy=True), requires_grad=i in wanted)
              for i, t in enumerate(node.inputs)]
        out: dict[int, np.ndarray] = {}
        if wanted:
            y = node.op.torch_forward(torch, *xs, **node.attrs)
            upstream = torch.tensor(np.array(self.final_grad(node.output), copy=True),
                                    dtype=y.dtype)
            grads = torch.autograd.grad(y, [xs[i] for i in wanted], grad_outputs=upstream,
                                        allow_unused=True)
            for i, g in zip(wanted, grads):
                out[i] = (np.zeros(np.shape(self.value(node.inputs[i]))) if g is None
                          else g.detach().numpy().copy())
        self._contributions[step.index] = out
        return out


def _frozen(array) -> np.ndarray:
    view = np.asarray(array, dtype=np.float64).view()
    view.flags.writeable = False
    return view


class TorchStepContext(StepContext):
    """``StepContext``'s names with torch as the only source of numbers.

    ``__getitem__`` serves a name from ``TENSOR``/``VALUES`` (torch) or
    ``ARRAY_FUNCTIONS`` (pure functions of their argument, shared with the engine
    context), and raises ``NotProvidedByTorch`` for any other lesson name instead of
    falling back to the engine's record.
    """

    TENSOR = ("value", "grad", "final_grad", "input", "contribution")
    VALUES = ("output", "upstream", "loss", "lr", "before", "after", "gradient")

    def __init__(self, timeline: Timeline, position: int, run: TorchRun):
        super().__init__(timeline, position)
        self.run = run
        self._torch = {name: _one_argument(getattr(self, f"_torch_{name}"), name)
                       for name in self.TENSOR}
        self._pure = {name: self._functions[name] for name in ARRAY_FUNCTIONS}

    def __getitem__(self, name: str):
        if name in self._torch:
            return self._torch[name]
        if name in self.VALUES:
            return getattr(self, f"_torch_get_{name}")()
        if name in self._pure:
            return self._pure[name]
        if name in live.NAMES:
            raise NotProvidedByTorch(f"the torch context does not compute {name!r}")
        raise KeyError(name)

    # structure (no numbers) --------------------------------------------------------------
    def _ready(self, tensor) -> bool:
        return tensor.node is None or \
            self.timeline.forward_index[tensor.node.index] <= self.position

    def _updated_here(self, tensor) -> bool:
        """Has ``tensor`` (a parameter) had its update step by this step?"""
        return tensor.kind == "param" and any(
            s.update.name == tensor.name for s in self.timeline.steps[:self.position + 1]
            if s.update is not None)

    def _sgd_after(self, tensor) -> np.ndarray:
        if self.run.lr is None:
            raise ExpressionError("this run has no update phase (the scenario sets no lr)")
        return self.run.value(tensor) - self.run.lr * self.run.final_grad(tensor)

    # tensors -----------------------------------------------------------------------------
    def _torch_value(self, name):
        tensor = self._tensor(name)
        if not self._ready(tensor):
            raise ExpressionError(f"{name} is not computed yet at this step")
        if self._updated_here(tensor):
            return _frozen(self._sgd_after(tensor))
        return _frozen(self.run.value(tensor))

    def _torch_grad(self, name):
        tensor = self._tensor(name)
        if not tensor.requires_grad:
            raise ExpressionError(f"{name} gets no gradient (it is a constant or token ids)")
        total = None
        end = min(self.position + 1, self.timeline.update_start)
        for s in self.timeline.steps[self.timeline.backward_start:end]:
            for c in s.backward.contributions:
                if c.tensor is tensor:
                    piece = self.run.contributions(s.backward)[c.input_index]
                    total = piece if total is None else total + piece
        if total is None:
            raise ExpressionError(f"∂L/∂{name} is not computed yet at this step")
        return _frozen(total)

    def _torch_final_grad(self, name):
        tensor = self._tensor(name)
        if not tensor.requires_grad:
            raise ExpressionError(f"{name} gets no gradient (it is a constant or token ids)")
        if not self.timeline.tape.steps:
            raise ExpressionError("this run has no backward pass, so there are no gradients")
        return _frozen(self.run.final_grad(tensor))

    def _torch_input(self, which):
        node = self._node("input(…)")
        return _frozen(self.run.value(node.inputs[self._input_index(which, "input")]))

    def _torch_contribution(self, which):
        step = self._backward("contribution(…)")
        i = self._input_index(which, "contribution")
        pieces = self.run.contributions(step)
        if i not in pieces:
            raise ExpressionError(f"input {i} of {step.node.op.name} receives no gradient")
        return _frozen(pieces[i])

    # values ------------------------------------------------------------------------------
    def _torch_get_output(self):
        return _frozen(self.run.value(self._node("output").output))

    def _torch_get_upstream(self):
        return _frozen(self.run.final_grad(self._backward("upstream").node.output))

    def _torch_get_loss(self):
        loss = self.timeline.tape.loss
        if loss is None:
            raise ExpressionError("this run has no loss (it is forward only)")
        if not self._ready(loss):
            raise ExpressionError("the loss is not computed yet at this step")
        return float(np.asarray(self.run.value(loss)).reshape(()))

    def _torch_get_lr(self):
        if self.run.lr is None or self.timeline.update_start >= len(self.timeline.steps):
            raise ExpressionError("this run has no update phase (the scenario sets no lr)")
        return self.run.lr

    def _update_tensor(self, what):
        update = self._update(what)
        if update.optimizer != "sgd":
            raise NotProvidedByTorch(f"{what} of a {update.optimizer} step")
        return self._tensor(update.name)

    def _torch_get_before(self):
        return _frozen(self.run.value(self._update_tensor("before")))

    def _torch_get_gradient(self):
        return _frozen(self.run.final_grad(self._update_tensor("gradient")))

    def _torch_get_after(self):
        return _frozen(self._sgd_after(self._update_tensor("after")))


def _one_argument(function, name):
    def checked(*arguments):
        if len(arguments) != 1:
            raise ExpressionError(f"{name}(…) takes one argument, got {len(arguments)}")
        return function(*arguments)
    return checked


# building a lesson's run twice over -------------------------------------------------------

@dataclass
class Built:
    lesson: object
    timeline: Timeline
    placements: object
    run: TorchRun

    def engine(self, position: int) -> StepContext:
        return StepContext(self.timeline, position)

    def torch(self, position: int) -> TorchStepContext:
        return TorchStepContext(self.timeline, position, self.run)


def build(lesson) -> Built:
    """The lesson's run as the validator builds it (random weights stand in for trained
    ones that are not on this machine), and torch's numbers for it."""
    scenario = build_for_check(lesson, lesson.id, None, [])
    timeline = scenario.timeline()
    return Built(lesson, timeline, lesson.placements(timeline),
                 TorchRun(scenario.tape, lesson.scenario.get("lr")))


@lru_cache(maxsize=None)
def built(lesson_id: str) -> Built:
    return build(BY_ID[lesson_id])


def close(a, b) -> bool:
    """Numbers and arrays: |a − b| ≤ 1e-9·max(|a|, |b|) + 1e-12 everywhere (equal
    infinities, like a masked −∞ score, count as equal); anything else: equal."""
    if isinstance(a, (tuple, frozenset)) or isinstance(b, (tuple, frozenset)):
        return a == b
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False
    same = a == b
    with np.errstate(invalid="ignore"):
        near = np.abs(a - b) <= REL * np.maximum(np.abs(a), np.abs(b)) + ABS
    return bool(np.all(same | near))


def same_answer(kind: str, engine_answer, torch_answer) -> bool:
    return close(engine_answer, torch_answer) if kind == "number" else \
        engine_answer == torch_answer


def template_values(template: str, ctx, answer=None) -> list:
    """The value of every ``{expression}`` of a template, as ``render`` computes them."""
    env = ctx if answer is None else ChainMap({"answer": answer}, ctx)
    return [evaluate(part[0], env) for part in split_template(template)
            if not isinstance(part, str)]


def same_numbers(template: str, engine_ctx, torch_ctx, engine_answer=None,
                 torch_answer_=None) -> bool:
    """Every live number in the text agrees (to the tolerance; the printed text can
    differ for a value that is 0 up to rounding: ``0`` against ``≈0``)."""
    ours = template_values(template, engine_ctx, engine_answer)
    theirs = template_values(template, torch_ctx, torch_answer_)
    return len(ours) == len(theirs) and all(close(a, b) for a, b in zip(ours, theirs))


def torch_answer(quiz, ctx):
    """The quiz's answer in ``ctx`` (a fixed choice index is no expression: None)."""
    if quiz.kind == "choice" and isinstance(quiz.answer, int):
        return None
    return as_kind(quiz.kind, evaluate(str(quiz.answer), ctx), len(quiz.choices))


# the proof -------------------------------------------------------------------------------

def test_the_shipped_lessons_load():
    assert LOAD_PROBLEMS == [] and LESSONS


@pytest.mark.parametrize("lesson_id, quiz_id", QUIZ_CASES, ids=[f"{a}:{b}" for a, b in QUIZ_CASES])
def test_quiz_answer_is_torchs_answer(lesson_id, quiz_id):
    b = built(lesson_id)
    quiz = b.lesson.quiz(quiz_id)
    position = b.placements.quiz_steps[quiz_id]
    engine_answer = expected_answer(quiz, b.engine(position))
    proven = torch_answer(quiz, b.torch(position))
    if proven is None:  # a fixed index: what proves it is the text, checked below
        assert 0 <= engine_answer < len(quiz.choices)
        return
    assert same_answer(quiz.kind, engine_answer, proven), (
        f"{lesson_id} quiz {quiz_id} at {b.timeline.steps[position].name}: engine "
        f"{engine_answer!r}, torch {proven!r}")


@pytest.mark.parametrize("lesson_id, quiz_id", QUIZ_CASES, ids=[f"{a}:{b}" for a, b in QUIZ_CASES])
def test_quiz_texts_show_torchs_numbers(lesson_id, quiz_id):
    b = built(lesson_id)
    quiz = b.lesson.quiz(quiz_id)
    position = b.placements.quiz_steps[quiz_id]
    engine_ctx, torch_ctx = b.engine(position), b.torch(position)
    engine_answer = expected_answer(quiz, engine_ctx)
    shown = float(engine_answer) if quiz.kind == "choice" else engine_answer
    proven = torch_answer(quiz, torch_ctx)
    proven = shown if proven is None else (float(proven) if quiz.kind == "choice" else proven)
    for template in (quiz.prompt, *quiz.hints, *quiz.choices):
        assert same_numbers(template, engine_ctx, torch_ctx), template
    assert same_numbers(quiz.explain, engine_ctx, torch_ctx, shown, proven), quiz.explain


@pytest.mark.parametrize("lesson_id", [lesson.id for lesson in LESSONS])
def test_section_texts_show_torchs_numbers(lesson_id):
    """Each section at every step it is shown on (at most 12 of them, spread out)."""
    b = built(lesson_id)
    for index, section in enumerate(b.lesson.sections):
        shown = [p for p, s in enumerate(b.placements.section_of) if s == index]
        if len(shown) > 12:
            shown = [shown[round(k * (len(shown) - 1) / 11)] for k in range(12)]
        for position in shown:
            assert same_numbers(section.text, b.engine(position), b.torch(position)), \
                (lesson_id, index, position)


# the torch context is independent -------------------------------------------------------

def _poison(tape, updates) -> None:
    """Overwrite every number the engine recorded (values, gradients, upstreams,
    contributions, updates) with NaN."""
    def bad(array):
        array = np.asarray(array)
        return np.full(array.shape, np.nan) if array.dtype.kind == "f" else array

    for t in tape.tensors:
        t.value = bad(t.value)
        if t.grad is not None:
            t.grad = bad(t.grad)
    for s in tape.steps:
        s.upstream = bad(s.upstream)
        for c in s.contributions:
            c.value, c.after = bad(c.value), bad(c.after)
            c.before = None if c.before is None else bad(c.before)
    for u in updates:  # an update is an immutable record: its arrays are poisoned in place
        for array in (u.before, u.grad, u.after):
            if array.dtype.kind == "f":
                array.fill(np.nan)


def _everything(lesson, timeline, placements, run) -> list:
    """Every quiz answer and every live number of every text (sections at their first
    step), evaluated in torch contexts over ``run``."""
    out = []
    for quiz in lesson.quizzes:
        ctx = TorchStepContext(timeline, placements.quiz_steps[quiz.id], run)
        answer = torch_answer(quiz, ctx)
        out.append(answer)
        shown = float(answer) if quiz.kind == "choice" and answer is not None else answer
        for template in (quiz.prompt, *quiz.hints, *quiz.choices):
            out += template_values(template, ctx)
        if answer is not None:
            out += template_values(quiz.explain, ctx, shown)
    for index, section in enumerate(lesson.sections):
        ctx = TorchStepContext(timeline, placements.first_step_of_section(index), run)
        out += template_values(section.text, ctx)
    return out


@pytest.mark.parametrize("lesson_id", [lesson.id for lesson in LESSONS])
def test_torch_context_reads_no_engine_number(lesson_id, monkeypatch):
    """Answers and text numbers from the torch context do not change when every number in
    the engine's record is poisoned and the timeline's value/grad lookups are forbidden."""
    lesson = BY_ID[lesson_id]
    scenario = build_for_check(lesson, lesson.id, None, [])
    timeline = scenario.timeline()
    placements = lesson.placements(timeline)
    lr = lesson.scenario.get("lr")
    clean = _everything(lesson, timeline, placements, TorchRun(scenario.tape, lr))
    fresh = TorchRun(scenario.tape, lr)  # replays the leaves now; computes the rest later
    _poison(scenario.tape, scenario.updates)

    def forbidden(*_):
        raise AssertionError("the torch context read the engine's timeline")

    monkeypatch.setattr(Timeline, "value", forbidden)
    monkeypatch.setattr(Timeline, "grad", forbidden)
    poisoned = _everything(lesson, timeline, placements, fresh)
    assert len(poisoned) == len(clean)
    for a, b in zip(clean, poisoned):  # NaN is close to nothing, so a leak fails here
        assert (a is None and b is None) or close(a, b), (a, b)


def test_every_lesson_name_is_computed_by_torch():
    """Each name of the expression language is one the torch context implements (a new
    name added to tutor.lessons.live must be added here too, or this fails)."""
    implemented = set(TorchStepContext.TENSOR) | set(TorchStepContext.VALUES) | \
        set(ARRAY_FUNCTIONS)
    assert set(NAMES) == implemented
    for name in TorchStepContext.TENSOR + TorchStepContext.VALUES:
        assert hasattr(TorchStepContext, f"_torch_{name}") or \
            hasattr(TorchStepContext, f"_torch_get_{name}")


def test_a_name_torch_does_not_compute_raises_instead_of_falling_back(monkeypatch):
    b = built(LESSONS[0].id)
    ctx = b.torch(0)
    monkeypatch.setattr(live, "NAMES", NAMES | {"momentum"})
    monkeypatch.setattr(StepContext, "_get_momentum", lambda self: 1.0, raising=False)
    with pytest.raises(NotProvidedByTorch, match="momentum"):
        ctx["momentum"]
    with pytest.raises(KeyError):
        ctx["no_such_name"]


def test_torch_context_catches_a_wrong_engine_number():
    """The comparison can fail: a contribution changed in the engine's record is seen."""
    b = build(LESSONS[0])
    quiz = next(q for q in b.lesson.quizzes if q.kind == "number"
                and "contribution" in str(q.answer))
    position = b.placements.quiz_steps[quiz.id]
    step = b.timeline.steps[position].backward
    for c in step.contributions:
        c.value = c.value + 1e-6
    engine_answer = expected_answer(quiz, b.engine(position))
    assert not same_answer("number", engine_answer, torch_answer(quiz, b.torch(position)))



def test_the_poison_check_sees_a_leak(monkeypatch):
    """A torch context that read one engine number (``upstream``) would be caught."""
    lesson = LESSONS[0]
    scenario = build_for_check(lesson, lesson.id, None, [])
    timeline = scenario.timeline()
    run = TorchRun(scenario.tape, lesson.scenario.get("lr"))
    _poison(scenario.tape, scenario.updates)
    monkeypatch.setattr(TorchStepContext, "_torch_get_upstream",
                        lambda self: self._backward("upstream").upstream)
    numbers = _everything(lesson, timeline, lesson.placements(timeline), run)
    assert any(isinstance(v, (float, np.ndarray)) and np.any(np.isnan(v)) for v in numbers)
