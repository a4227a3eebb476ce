"""Lessons 1–7 worked out by hand: the answers the tutor grades against, recomputed
from the lessons' own inputs and weights with plain arithmetic and NumPy (and, for the
derivatives of lessons 1 and 3, central finite differences).

tests/test_lesson_answers.py proves every quiz of every lesson against PyTorch; this
file checks the math the lessons teach — ∂L/∂w = 2·err·x, w − lr·g, the chain rule's
shares, ∂L/∂W = gᵀ·x, p − y, the softmax backward — and the claims their prose makes
about these particular numbers (which unit is dead, which class is the favourite).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from tutor.lessons.catalog import load_lessons
from tutor.lessons.lesson_check import build_for_check
from tutor.lessons.live import StepContext
from tutor.lessons.quiz import expected_answer

LESSONS = {lesson.id: lesson for lesson in load_lessons()[0]}


@lru_cache(maxsize=None)
def run(lesson_id: str):
    lesson = LESSONS[lesson_id]
    scenario = build_for_check(lesson, lesson.id, None, [])
    return scenario, scenario.timeline()


def engine_answers(lesson_id: str) -> dict:
    """Quiz id → the answer the tutor grades against (the engine's run)."""
    lesson, (_, timeline) = LESSONS[lesson_id], run(lesson_id)
    steps = lesson.placements(timeline).quiz_steps
    return {q.id: expected_answer(q, StepContext(timeline, steps[q.id])) for q in lesson.quizzes}


def leaf(lesson_id: str, name: str) -> np.ndarray:
    """An input or parameter of the lesson's run: data, not something computed."""
    return np.array(run(lesson_id)[0].tensor(name).value, copy=True)


def by_hand_close(actual, expected) -> None:
    assert np.allclose(actual, expected, rtol=1e-12, atol=1e-12), (actual, expected)


def test_lesson_01_derivative_by_hand():
    """L = (w·x + b − y)²: ∂L/∂err = 2·err, ∂L/∂b = 2·err, ∂L/∂w = 2·err·x."""
    inputs = LESSONS["01-derivative"].scenario["inputs"]
    w, b, x, y = (float(inputs[k]) for k in "wbxy")
    err = w * x + b - y

    def loss(w_):
        return (w_ * x + b - y) ** 2

    got = engine_answers("01-derivative")
    by_hand_close(got["dloss-derr"], 2 * err)
    by_hand_close(got["dloss-db"], 2 * err)
    by_hand_close(got["dloss-dw"], 2 * err * x)
    h = 1e-4  # L is a parabola in w, so the central difference is exact up to rounding
    assert abs((loss(w + h) - loss(w - h)) / (2 * h) - got["dloss-dw"]) < 1e-8
    by_hand_close(got["nudge-change"], loss(w + 0.01) - loss(w))
    by_hand_close(got["nudge-change"], 2 * err * x * 0.01 + (x * 0.01) ** 2)
    assert got["bigger-effect"] == (0 if abs(x) > 1 else 1 if abs(x) < 1 else 2)
    assert got["which-way"] == (1 if 2 * err * x > 0 else 0)


def test_lesson_02_descent_by_hand():
    """L = (w·x + b − y)²; one SGD step; first-order ΔL = −lr·|g|²; the best of three rates."""
    lesson = LESSONS["02-gradient-descent"]
    w, b, x, y = (float(lesson.scenario["inputs"][k]) for k in "wbxy")
    lr = lesson.scenario["lr"]
    err = w * x + b - y
    g_w, g_b = 2 * err * x, 2 * err

    def error_after(rate):
        return (w - rate * g_w) * x + (b - rate * g_b) - y

    got = engine_answers("02-gradient-descent")
    by_hand_close(got["new-w"], w - lr * g_w)
    by_hand_close(got["predicted-drop"], -lr * (g_w ** 2 + g_b ** 2))
    by_hand_close(got["actual-loss"], error_after(lr) ** 2)
    by_hand_close(got["overshoot-error"], error_after(0.25))
    losses = [error_after(rate) ** 2 for rate in (0.01, 0.1, 0.25)]
    assert got["best-lr"] == int(np.argmin(losses)) == 1  # the prose: 0.1 lands on the bottom
    assert losses[1] < 1e-24 and losses[2] > err ** 2  # … and 0.25 climbs above the start
    _, timeline = run("02-gradient-descent")
    assert [s.name for s in timeline.steps if s.phase == "update"] == ["w", "b"]


def test_lesson_03_chain_rule_by_hand():
    """L = ((w·x − 5)·w)²: ∂L/∂w = 2(wx − 5)·x·w² + 2(wx − 5)²·w, in two shares."""
    inputs = LESSONS["03-chain-rule"].scenario["inputs"]
    w, x = float(inputs["w"]), float(inputs["x"])
    b = w * x - 5
    c = b * w

    def loss(w_):
        return ((w_ * x - 5) * w_) ** 2

    got = engine_answers("03-chain-rule")
    by_hand_close(got["dloss-dc"], 2 * c)
    by_hand_close(got["dloss-db"], 2 * c * w)
    by_hand_close(got["path-product"], 2 * c * w)
    total = 2 * b * x * w ** 2 + 2 * b ** 2 * w
    by_hand_close(got["dloss-dw-total"], total)
    h = 1e-5
    assert abs((loss(w + h) - loss(w - h)) / (2 * h) - total) < 1e-5 * abs(total)
    by_hand_close(got["dloss-dx"], 2 * c * w * w)
    through_c, through_a = 2 * c * b, 2 * c * w * x
    assert got["bigger-path"] == (1 if abs(through_a) > abs(through_c) else 0)


def test_lesson_04_mlp_by_hand():
    """Forward and backward of x → linear → relu → linear → MSE in plain NumPy:
    ∂L/∂W = gᵀ·x, ∂L/∂b = Σₙ g, the ReLU gate."""
    lid = "04-mlp-backprop"
    x, t = leaf(lid, "x"), leaf(lid, "target")
    W1, b1, W2, b2 = (leaf(lid, n) for n in ("layer1.weight", "layer1.bias",
                                             "layer2.weight", "layer2.bias"))
    pre = x @ W1.T + b1
    h = np.maximum(pre, 0)
    out = h @ W2.T + b2
    g_out = 2 * (out - t) / out.size
    g_pre = (g_out @ W2) * (pre > 0)
    dW1, db1 = g_pre.T @ x, g_pre.sum(axis=0)
    got = engine_answers(lid)
    by_hand_close(got["mean-share"], 1 / out.size)
    by_hand_close(got["bias-sum"], g_out.sum(axis=0)[0])
    by_hand_close(got["weight-entry"], (g_out.T @ h)[0, 2])
    assert got["relu-gate"] == {tuple(int(i) for i in p) for p in np.argwhere(pre <= 0)}
    assert got["dw1-shape"] == dW1.shape == W1.shape
    dead = {(j,) for j in range(pre.shape[1]) if np.all(pre[:, j] <= 0)}
    assert got["dead-unit"] == dead == {(3,)}  # the prose names unit 3
    scenario = run(lid)[0]
    by_hand_close(scenario.tensor("layer1.weight").grad, dW1)
    by_hand_close(scenario.tensor("layer1.bias").grad, db1)


def test_lesson_05_cross_entropy_gradient_is_p_minus_y():
    """∂L/∂z = (softmax(z) − onehot(y)) / N, in NumPy from the layer's weights."""
    lid = "05-softmax-cross-entropy"
    x, y = leaf(lid, "x"), leaf(lid, "target").astype(int)
    z = x @ leaf(lid, "layer1.weight").T + leaf(lid, "layer1.bias")
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    n = len(y)
    grad = (p - np.eye(z.shape[1])[y]) / n
    got = engine_answers(lid)
    by_hand_close(got["softmax-entry"], p[0, 1])
    by_hand_close(got["row-loss"], -np.log(p[0, y[0]]))
    by_hand_close(got["target-logit-grad"], grad[1, y[1]])
    assert y[1] != 2  # the prompt says class 2 is not row 1's target
    by_hand_close(got["other-logit-grad"], p[1, 2] / n)
    assert got["negative-entries"] == {(i, int(y[i])) for i in range(n)}
    assert abs(got["row-sum"]) < 1e-15
    assert np.argmax(p[1]) == 2  # the explanation calls class 2 the model's favourite
    by_hand_close(run(lid)[0].tensor("layer1").grad, grad)


def attention_by_hand(lesson_id: str, heads: int) -> dict:
    """softmax(Q·Kᵀ/√d_k)·V per head, and its backward, in NumPy (batch of 1)."""
    x, t = leaf(lesson_id, "x")[0], leaf(lesson_id, "target")[0]

    def linear(inp, name):
        return inp @ leaf(lesson_id, f"attn.{name}.weight").T + leaf(lesson_id,
                                                                        f"attn.{name}.bias")

    Q, K, V = (linear(x, n) for n in ("q_proj", "k_proj", "v_proj"))
    d_k = Q.shape[1] // heads
    cut = [slice(i * d_k, (i + 1) * d_k) for i in range(heads)]
    S = np.stack([Q[:, c] @ K[:, c].T for c in cut]) / np.sqrt(d_k)
    A = np.exp(S - S.max(axis=-1, keepdims=True))
    A /= A.sum(axis=-1, keepdims=True)
    C = np.stack([A[i] @ V[:, c] for i, c in enumerate(cut)])
    merged = np.concatenate(list(C), axis=1)
    out = linear(merged, "out_proj")
    g_merged = (2 * (out - t) / out.size) @ leaf(lesson_id, "attn.out_proj.weight")
    g_C = np.stack([g_merged[:, c] for c in cut])
    g_A = np.stack([g_C[i] @ V[:, c].T for i, c in enumerate(cut)])
    g_S = A * (g_A - (A * g_A).sum(axis=-1, keepdims=True))
    g_scores = g_S / np.sqrt(d_k)
    g_Q = np.concatenate([g_scores[i] @ K[:, c] for i, c in enumerate(cut)], axis=1)
    g_K = np.concatenate([g_scores[i].T @ Q[:, c] for i, c in enumerate(cut)], axis=1)
    g_V = np.concatenate([A[i].T @ g_C[i] for i in range(heads)], axis=1)
    g_x = sum(g @ leaf(lesson_id, f"attn.{n}.weight")
              for g, n in ((g_Q, "q_proj"), (g_K, "k_proj"), (g_V, "v_proj")))
    return dict(Q=Q, K=K, V=V, S=S * np.sqrt(d_k), A=A, C=C, d_k=d_k, g_S=g_S, g_x=g_x)


def test_lesson_06_attention_by_hand():
    lid = "06-attention"
    a = attention_by_hand(lid, heads=1)
    got = engine_answers(lid)
    assert got["scores-shape"] == (1, 1) + a["S"].shape[1:]
    by_hand_close(got["one-score"], a["Q"][1] @ a["K"][2])
    by_hand_close(got["scaled-score"], a["S"][0, 1, 2] / np.sqrt(a["d_k"]))
    by_hand_close(got["missing-weight"], 1 - a["A"][0, 1, 0] - a["A"][0, 1, 1])
    assert got["most-attended"] == int(np.argmax(a["A"][0, 2])) == int(np.argmax(a["S"][0, 2]))
    by_hand_close(got["context-entry"], a["A"][0, 0] @ a["V"][:, 0])
    by_hand_close(got["softmax-backward"], a["g_S"][0, 1, 0])
    by_hand_close(got["scale-backward"], a["g_S"][0, 1, 0] / np.sqrt(a["d_k"]))
    by_hand_close(got["x-three-paths"], a["g_x"][0, 0])
    assert a["d_k"] == 4 and a["A"][0, 1, 2] < 0.05  # the prose: √d_k = 2, "almost nothing"


def test_lesson_07_multi_head_by_hand():
    lid = "07-multi-head"
    a = attention_by_hand(lid, heads=2)
    got = engine_answers(lid)
    assert got["heads-shape"] == (1, 2, 3, 2) and a["d_k"] == 2
    assert got["which-entry"] == 2  # the choice "Q[0, 2, 2]": head 1's column 0 is Q's column 2
    by_hand_close(run(lid)[0].tensor("attn.q_heads").value[0, 1, 2, 0], a["Q"][2, 2])
    by_hand_close(got["head-scale"], a["S"][1, 0, 2] / np.sqrt(2))
    assert got["favourite-key"] == int(np.argmax(a["A"][1, 2]))
    assert np.argmax(a["A"][0, 2]) != np.argmax(a["A"][1, 2])  # as the file's header says
    assert got["same-pattern"] == int(np.argmax(a["A"][0, 0]) == np.argmax(a["A"][1, 0]))
    assert got["concat-shape"] == (1, 3, 4)
    assert got["concat-entry"] == 0  # the choice "heads[0, 1, 1, 1]"
    by_hand_close(run(lid)[0].tensor("attn.concat_heads").value[0, 1, 3], a["C"][1, 1, 1])
    assert got["concat-backward-shape"] == (1, 2, 3, 2)
