"""The timeline with steps that have parts (a recorded call after the aten ops it ran),
built on a plain tape so no torch is needed: the call and its parts are one unit at op
level, ``s`` opens it, and moving past its end returns to the caller's level."""

from __future__ import annotations

from engine import ModelConfig, Transformer
from engine.tape import Tape
from engine.timeline import OP_LEVEL, Timeline


def tape_with_a_call() -> Tape:
    """forward: block.call.mul, block.call.exp, block.call (the call), block.tanh."""
    t = Tape()
    x, w = t.input("x", [1.0, -2.0]), t.param("w", [0.5, 0.25])
    with t.scope("block"):
        with t.scope("call"):
            y = t.exp(t.mul(x, w, label="mul"), label="exp")
        y = t.mul(y, 1.0, label="call")  # the call's own step, after its parts
        y = t.tanh(y, label="tanh")
    t.backward(t.sum(y, label="loss"))
    return t


def names(timeline):
    return timeline.step.name, timeline.depth - OP_LEVEL


def test_a_call_and_its_parts_are_one_unit_at_op_level():
    timeline = Timeline(tape_with_a_call())
    assert names(timeline) == ("block.call", 0)  # the cursor starts on the call
    assert timeline.unit() == (0, 2)
    assert timeline.step_into() and names(timeline) == ("block.call.mul", 1)
    assert timeline.next() and names(timeline) == ("block.call.exp", 1)
    assert timeline.next() and names(timeline) == ("block.call", 0)
    assert timeline.next() and names(timeline) == ("block.tanh", 0)
    assert timeline.previous() and names(timeline) == ("block.call", 0)
    assert timeline.step_into() and timeline.step_out() and names(timeline) == ("block.call", 0)
    assert timeline.jump(1) and names(timeline) == ("block.call.exp", 1)
    assert timeline.previous() and names(timeline) == ("block.call.mul", 1)
    assert timeline.previous() is False  # the first step
    assert timeline.to_start() and names(timeline) == ("block.call", 0)


def test_a_scope_level_cursor_still_groups_by_scope():
    timeline = Timeline(tape_with_a_call())
    assert timeline.step_out() and timeline.depth == 1  # the block
    assert timeline.step.name == "block.tanh" and timeline.unit() == (0, 3)
    assert timeline.step_into() and timeline.depth == 2
    assert timeline.step.name == "block.call"  # the call is one unit at this depth too


def test_the_engines_own_runs_have_no_parts():
    model = Transformer(ModelConfig(n_encoder_layers=1, n_decoder_layers=1), seed=0)
    run = model.run([[3, 1, 4]], [[0, 3, 1]], [[3, 1, 4]])
    timeline = Timeline(run.tape)
    assert timeline._callers == {} and timeline.position == 0
    assert timeline.next() and timeline.position == 1  # op by op, as always
