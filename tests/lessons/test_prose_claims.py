"""What the lessons' prose claims about their numbers, checked against the runs.

Live numbers (``{…}``) are proven against PyTorch in tests/tutor/lessons; this file
checks the claims written in words or as literal numbers beside them: the limit in
lesson 1, the three learning rates of lesson 2, √d_k in lesson 6, the key bias that never
learns, layer norm's scale invariance (lesson 9), the ReLU's two maps (lesson 10), where
lesson 12's overview and quiz sit, the trained model's reversal and the real
``torch.nn.Transformer`` calls of lesson 13, the start loss of lesson 14, and the update of
lesson 15 against its first-order promise (recomputed with torch).
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

import numpy as np
import pytest

from engine.probes import parameters, rerun
from tutor.lessons.catalog import load_lessons
from tutor.lessons.lesson_check import build_for_check
from tutor.lessons.live import StepContext, render

LESSONS = {lesson.id: lesson for lesson in load_lessons()[0]}


@lru_cache(maxsize=None)
def run(lesson_id: str):
    lesson = LESSONS[lesson_id]
    scenario = build_for_check(lesson, lesson.id, None, [])
    return scenario, scenario.timeline()


def step_of(lesson_id: str, phase: str, name: str) -> int:
    _, timeline = run(lesson_id)
    return next(i for i, s in enumerate(timeline.steps) if s.phase == phase and s.name == name)


def section_text(lesson_id: str, at: str) -> str:
    """The section at selector ``at``, rendered at its first step."""
    lesson, (_, timeline) = LESSONS[lesson_id], run(lesson_id)
    index = next(i for i, s in enumerate(lesson.sections) if s.at == at)
    position = lesson.placements(timeline).first_step_of_section(index)
    return render(lesson.sections[index].text, StepContext(timeline, position))


def inputs(lesson_id: str) -> dict:
    return {k: float(v) for k, v in LESSONS[lesson_id].scenario["inputs"].items()}


# lesson 1 ------------------------------------------------------------------------------

def test_lesson_1_the_ratio_closes_in_on_the_derivative_ten_times_per_row():
    v = inputs("01-derivative")
    err = v["w"] * v["x"] + v["b"] - v["y"]

    def loss(w):
        return (w * v["x"] + v["b"] - v["y"]) ** 2

    slope = 2 * err * v["x"]
    gaps = [(loss(v["w"] + eps) - loss(v["w"])) / eps - slope for eps in (0.1, 0.01, 0.001)]
    assert all(g > 0 for g in gaps)
    assert gaps[0] / gaps[1] == pytest.approx(10, rel=1e-6)
    assert gaps[1] / gaps[2] == pytest.approx(10, rel=1e-4)
    text = section_text("01-derivative", "forward:loss")
    for eps in (0.1, 0.01, 0.001):  # the table shows ΔL/ε to 4 significant digits
        assert f"{(loss(v['w'] + eps) - loss(v['w'])) / eps:.4g}" in text


def test_lesson_1_the_nudge_table_has_the_epsilons_the_prose_lists():
    from tutor.views.nudge import EPSILONS

    assert EPSILONS == (0.1, 0.01, 0.001, 0.0001)
    assert "ε = 0.1, 0.01, 0.001, 0.0001" in LESSONS["01-derivative"].sections[1].text


# lesson 2 ------------------------------------------------------------------------------

def error_factor(lr: float) -> float:
    """One SGD step on (w·x + b − y)² multiplies the error by 1 − 2(x² + 1)·lr."""
    x = inputs("02-gradient-descent")["x"]
    return 1 - 2 * (x ** 2 + 1) * lr


def test_lesson_2_the_three_rates_crawl_zigzag_and_diverge():
    assert 0.8 < error_factor(0.01) < 1  # crawls
    assert -1 < error_factor(0.15) < 0  # oscillates yet converges
    assert error_factor(0.25) < -1  # diverges
    lesson = LESSONS["02-gradient-descent"]
    lr = lesson.scenario["lr"]
    assert lr * 2 ** 4 == pytest.approx(0.16)  # "four doublings from lr give 0.16"
    assert -1 < error_factor(0.16) < 0  # "which zigzags like 0.15"
    v = inputs("02-gradient-descent")
    err = v["w"] * v["x"] + v["b"] - v["y"]
    assert [err * error_factor(0.15) ** k for k in range(3)] == pytest.approx([2, -1, 0.5])


def test_lesson_2_adam_is_tutor_trains_default():
    from tutor.cli import build_parser

    assert build_parser().parse_args(["train", "--task", "copy"]).optimizer == "adam"


# lesson 6 ------------------------------------------------------------------------------

def test_lesson_6_queries_and_keys_are_larger_than_1_per_entry():
    scenario, _ = run("06-attention")
    for name in ("attn.q_heads", "attn.k_heads"):
        assert np.sqrt(np.mean(scenario.tensor(name).value ** 2)) > 1, name
    assert math.sqrt(64 / 4) == 4  # "four times larger than at d_k = 4"


@pytest.mark.parametrize("lesson_id", ["06-attention", "07-multi-head", "08-causal-mask"])
def test_the_key_bias_gets_exactly_zero_gradient_in_torch(lesson_id):
    torch = pytest.importorskip("torch")
    from engine.pytorch.steps import replay_torch

    scenario, _ = run(lesson_id)
    bias = scenario.tensor("attn.k_proj.bias")
    grad = replay_torch(scenario.tape)[bias.id][1]
    scale = float(np.max(np.abs(replay_torch(scenario.tape)[
        scenario.tensor("attn.q_proj.bias").id][1])))
    assert scale > 1e-6 and np.max(np.abs(grad)) <= 1e-12 * max(scale, 1.0)
    assert torch is not None


# lesson 9 ------------------------------------------------------------------------------

def test_lesson_9_layer_norm_ignores_the_scale_in_every_digit_shown():
    text = section_text("09-residual-layernorm", "forward:add_norm1.layer_norm")
    out = re.search(r"out: (\[[^\]]*\])", text).group(1)
    rows = dict(re.findall(r"- (10|1000) × row 0 → (\[[^\]]*\])", text))
    small = re.search(r"0\.1 × row 0 has variance [^,]*, and becomes\s+(\[[^\]]*\])", text).group(1)
    assert rows["10"] == out and rows["1000"] == out and small != out


# lesson 10 -----------------------------------------------------------------------------

def test_lesson_10_two_positions_with_different_gates_get_different_maps():
    scenario, _ = run("10-feed-forward")
    h = scenario.tensor("layer1").value
    W1, W2 = scenario.tensor("layer1.weight").value, scenario.tensor("layer2.weight").value
    gates = h > 0
    assert not np.array_equal(gates[0], gates[1])
    maps = [W2 @ np.diag(g.astype(float)) @ W1 for g in gates[:2]]
    assert not np.allclose(maps[0], maps[1]) and not np.allclose(maps[0], W2 @ W1)


# lesson 12 -----------------------------------------------------------------------------

def test_lesson_12_the_overview_opens_the_layer_and_the_quiz_sits_where_it_asks():
    lesson, (_, timeline) = LESSONS["12-decoder-layer"], run("12-decoder-layer")
    placed = lesson.placements(timeline)
    overview = next(i for i, s in enumerate(lesson.sections) if s.title == "Three sub-layers")
    first = [placed.section_of[i] for i in range(len(timeline.steps))
             if timeline.steps[i].name.startswith("self_attn.")][:7]
    assert first == [overview] * 7  # the projections and head splits
    names = [timeline.steps[i].name for i, _ in enumerate(timeline.steps)
             if placed.section_of[i] == overview]
    assert all(n.startswith("self_attn.") for n in names)  # and nowhere after
    assert timeline.steps[placed.quiz_steps["which-sublayer"]].name.startswith("add_norm2.")


# lesson 13 -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained_reverse(tmp_path_factory):
    """The weights `tutor train --task reverse` saves (its defaults; about 20 s)."""
    from engine.weights import load_weights
    from tutor.cli import main

    out = tmp_path_factory.mktemp("weights") / "reverse.npz"
    assert main(["train", "--task", "reverse", "--out", str(out)]) == 0
    return load_weights(out)


def test_lesson_13_the_trained_model_reverses_the_six_digit_input(trained_reverse):
    from engine.tasks import BOS, DEFAULT_LENGTH

    text = " ".join(LESSONS["13-output-decoding"].sections[0].text.split())
    assert "--src 3,1,4,1,5,9" in text and "3 1 4 1 5 9 → 9 5 1 4 1 3" in text
    assert DEFAULT_LENGTH == 6  # "strings of six digits, the length `tutor train` uses"
    tokens = trained_reverse.generate(np.array([[3, 1, 4, 1, 5, 9]]), BOS, 6,
                                      record=False).tokens
    assert tokens[0, 1:].tolist() == [9, 5, 1, 4, 1, 3]


def test_lesson_13_code_uses_real_torch_transformer_calls():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    text = LESSONS["13-output-decoding"].sections[0].text
    for call in ("m.encoder(", "m.decoder(", "generate_square_subsequent_mask", "tgt_mask="):
        assert call in text
    torch.manual_seed(0)
    m = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                       dim_feedforward=16, dropout=0.0, batch_first=True)
    causal = nn.Transformer.generate_square_subsequent_mask
    mem = m.encoder(torch.randn(1, 3, 8))
    out = m.decoder(torch.randn(1, 2, 8), mem, tgt_mask=causal(2))
    assert out.shape == (1, 2, 8)
    full = m(torch.randn(1, 3, 8), torch.randn(1, 2, 8), tgt_mask=causal(2))
    assert full.shape == (1, 2, 8)


# lesson 14 -----------------------------------------------------------------------------

def test_lesson_14_the_start_loss_is_above_ln_v_plus_half_the_spread():
    scenario, timeline = run("14-training-step")
    logits = scenario.tensor("generator").value[0]
    expected = math.log(logits.shape[-1]) + float(np.mean(np.var(logits, axis=-1))) / 2
    loss = float(scenario.tape.loss.value)
    assert math.log(12) < expected < loss  # "near that guess … higher still"


def test_lesson_14_tutor_train_takes_a_thousand_steps():
    from engine.train import DEFAULT_STEPS

    assert DEFAULT_STEPS == 1000
    assert "a thousand" in LESSONS["14-training-step"].sections[-1].text


# lesson 15 -----------------------------------------------------------------------------

@lru_cache(maxsize=None)
def torch_step():
    """Lesson 15's loss, gradients and the loss after one SGD step, all in torch."""
    pytest.importorskip("torch")
    from engine.pytorch.twin import TorchTwin

    scenario, _ = run("15-one-token-journey")
    lr = LESSONS["15-one-token-journey"].scenario["lr"]
    data = [scenario.tensor(n).value for n in ("src", "tgt_in", "tgt_out")]
    twin = TorchTwin(scenario.model)
    loss, grads = twin.loss_and_grads(*data)
    weights = {n: p.detach().numpy().copy() for n, p in twin.named_parameters().items()}
    twin.load({n: w - lr * grads[n] for n, w in weights.items()})
    after, _ = twin.loss_and_grads(*data)
    return loss, grads, after, lr


def test_lesson_15_first_order_promise_and_what_the_step_really_does():
    loss, grads, after, lr = torch_step()
    predicted = -lr * sum(float(np.sum(g ** 2)) for g in grads.values())
    lesson = LESSONS["15-one-token-journey"]
    scenario, _ = run("15-one-token-journey")
    assert len(parameters(scenario.tape)) == 50 and "all 50 parameter tensors" in \
        lesson.sections[-1].text
    assert f"{predicted:.4g}".replace("-", "−") in lesson.sections[-1].text
    assert f"{loss + predicted:.4g}".replace("-", "−") in lesson.quiz("whole-step").explain
    assert loss + predicted < 0  # "a straight line that would end below 0"
    assert loss + predicted < after < loss  # "the loss does fall, by less than promised"
    assert loss == pytest.approx(float(scenario.tape.loss.value), rel=1e-12)


def test_lesson_15_moving_only_the_tokens_row_falls_a_little_less_than_promised():
    scenario, _ = run("15-one-token-journey")
    tape, lr = scenario.tape, LESSONS["15-one-token-journey"].scenario["lr"]
    row = int(scenario.tensor("tgt_in").value[0, 1])
    table = scenario.tensor("tgt_embed.weight")
    moved = table.value.copy()
    moved[row] -= lr * table.grad[row]
    after, _ = rerun(tape, {p.id: (moved if p is table else p.value) for p in parameters(tape)})
    actual = after - float(tape.loss.value)
    promised = -lr * float(np.sum(table.grad[row] ** 2))
    assert promised < actual < 0 and actual / promised > 0.9


def test_lesson_15_the_fresh_decoder_norms_are_gamma_1_beta_0():
    scenario, _ = run("15-one-token-journey")
    for k in (1, 2, 3):
        assert np.all(scenario.tensor(f"decoder.layers.0.norm{k}.weight").value == 1)
        assert np.all(scenario.tensor(f"decoder.layers.0.norm{k}.bias").value == 0)
    tgt_in = scenario.tensor("tgt_in").value[0]
    assert list(tgt_in).count(tgt_in[1]) == 1  # "token 4 appears once in tgt_in"
