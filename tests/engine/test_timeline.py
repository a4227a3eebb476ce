"""The timeline: moves, the state derived at the cursor, and exact reversal."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import ModelConfig, Tape, Transformer
from engine.optim import sgd_updates
from engine.timeline import OP_LEVEL, Timeline

CONFIG = ModelConfig(vocab_size=6, d_model=8, n_heads=2, d_ff=8, n_encoder_layers=1,
                     n_decoder_layers=1, max_len=6)


def make_timeline():
    model = Transformer(CONFIG, seed=0)
    run = model.run([[1, 2, 3]], [[0, 1]], [[1, 2]])
    return Timeline(run.tape, sgd_updates(model.params, run.grads, 0.1)), run


TIMELINE, RUN = make_timeline()


def same_state(a: dict, b: dict) -> bool:
    if {k: v for k, v in a.items() if k != "grads"} != {k: v for k, v in b.items() if k != "grads"}:
        return False
    if a["grads"].keys() != b["grads"].keys():
        return False
    for k in a["grads"]:
        x, y = a["grads"][k], b["grads"][k]
        if (x is None) != (y is None) or (x is not None and not np.array_equal(x, y)):
            return False
    return True


def test_phases_in_order_and_counts():
    t = TIMELINE
    phases = [s.phase for s in t.steps]
    n = len(RUN.tape.nodes)
    assert phases == ["forward"] * n + ["backward"] * n + ["update"] * len(RUN.params)
    assert t.steps[n - 1].name == "loss"
    assert t.steps[t.backward_start].name == "loss"


def test_gradients_are_not_yet_until_computed_then_sum_contributions():
    t, run = make_timeline()
    x = next(x for x in run.tape.tensors if x.name == "src_embed.add_position")
    t.jump(t.backward_start)
    assert t.grad(x) is None  # not yet: never shown as zero
    positions = [s.index for s in t.steps if s.backward is not None
                 and any(c.tensor is x for c in s.backward.contributions)]
    assert len(positions) == 4  # Q, K, V projections and the residual branch
    running = None
    for p in positions:
        t.jump(p)
        contribution = next(c for c in t.step.backward.contributions if c.tensor is x)
        running = contribution.value if running is None else running + contribution.value
        assert np.allclose(t.grad(x), running, atol=1e-15)
        assert t.grad_complete(x) == (p == positions[-1])
    assert np.allclose(running, x.grad)


def test_values_appear_when_computed_and_params_change_at_their_update():
    t, run = make_timeline()
    scores = next(x for x in run.tape.tensors if x.name.endswith("self_attn.scores"))
    producer = t.forward_index[scores.node.index]
    t.jump(producer - 1)
    assert t.value(scores) is None
    t.jump(producer)
    assert t.value(scores) is scores.value
    w = run.params["generator.weight"]
    at = next(s.index for s in t.steps if s.update is not None and s.update.name == w.name)
    t.jump(at - 1)
    assert np.array_equal(t.value(w), w.value)
    t.jump(at)
    assert np.allclose(t.value(w), w.value - 0.1 * w.grad)


def test_twin_jumps_between_forward_and_backward():
    t, _ = make_timeline()
    t.jump_to_name("decoder.layers.0.cross_attn.softmax".replace("softmax", "weights"),
                   phase="forward")
    forward = t.position
    assert t.jump_to_twin() and t.phase == "backward"
    assert t.step.node is t.steps[forward].node
    assert t.jump_to_twin() and t.position == forward


def test_step_into_over_and_out():
    t, _ = make_timeline()
    assert t.step_out() and t.unit_path() == ("forward", "src_embed")
    assert t.step.name == "src_embed.add_position"
    assert t.next() and t.unit_path() == ("forward", "encoder")
    first, last = t.unit()
    assert t.position == last and t.steps[last].name == "encoder.norm"
    assert t.step_into() and t.unit_path() == ("forward", "encoder", "layers.0")
    assert t.step_into() and t.unit_path() == ("forward", "encoder", "layers.0", "self_attn")
    assert t.step_into() and t.step.name == "encoder.layers.0.self_attn.q_proj"
    assert not t.step_into()  # an op has nothing inside
    assert t.next() and t.step.name == "encoder.layers.0.self_attn.k_proj"
    assert t.step_out() and t.unit_path() == ("forward", "encoder", "layers.0", "self_attn")
    assert t.step.name == "encoder.layers.0.self_attn.out_proj"
    assert t.next() and t.unit_path() == ("forward", "encoder", "layers.0", "add_norm1")


def test_next_at_op_level_visits_every_step_once():
    t, _ = make_timeline()
    seen = [t.position]
    while t.next():
        seen.append(t.position)
    assert seen == list(range(len(t)))
    assert not t.next()


def test_bookmarks_and_backward_start():
    t, _ = make_timeline()
    t.bookmarks = {5, 40}
    assert t.run_to_bookmark() and t.position == 5
    assert t.run_to_bookmark() and t.position == 40
    assert not t.run_to_bookmark()
    assert t.jump_to_backward_start() and t.phase == "backward"


def test_scope_tree_spans_cover_all_steps():
    tree = TIMELINE.scope_tree()
    assert [c.label for c in tree.children] == ["forward", "backward", "update"]
    forward = tree.children[0]
    assert [c.label for c in forward.children] == ["src_embed", "encoder", "tgt_embed", "decoder",
                                                   "generator", "loss"]

    def leaves(node):
        return [node] if not node.children else [x for c in node.children for x in leaves(c)]

    assert [leaf.first for leaf in leaves(tree)] == list(range(len(TIMELINE)))


MOVES = ["next", "previous", "step_into", "step_out", "jump", "jump_to_twin",
         "jump_to_backward_start", "run_to_bookmark"]
INVERSE = {"next": "previous", "step_into": "step_out"}


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(MOVES), st.integers(0, 10_000)), max_size=40))
def test_any_moves_then_back_returns_the_identical_state(moves):
    t, _ = make_timeline()
    t.bookmarks = {3, 17, 60}
    start = t.state()
    moved = 0
    for name, arg in moves:
        if name == "jump":
            moved += t.jump(arg % len(t))
        else:
            moved += getattr(t, name)()
    for _ in range(moved):
        assert t.back()
    assert same_state(t.state(), start)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 10_000), st.lists(st.sampled_from(["next", "step_into"]), max_size=30))
def test_each_move_undone_by_its_inverse(start, moves):
    """next is undone by previous, step_into by step_out, from wherever they land."""
    t, _ = make_timeline()
    t.jump(start % len(t))
    t.step_out()
    before = [t.state()]
    done = []
    for name in moves:
        if getattr(t, name)():
            done.append(name)
            before.append(t.state())
    for name in reversed(done):
        before.pop()
        assert getattr(t, INVERSE[name])()
        assert same_state(t.state(), before[-1])


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000))
def test_state_depends_only_on_position(position):
    """However the cursor got there, the derived state is the same."""
    a, _ = make_timeline()
    b, _ = make_timeline()
    target = position % len(a)
    a.jump(target)
    b.to_end()
    while b.position > target:
        b.previous()
    assert same_state(a.state(), b.state())


def test_small_graph_timeline_and_empty_tape():
    t = Tape()
    x = t.input("x", 2.0)
    y = (x * 3).relu()
    t.backward(y)
    tl = Timeline(t)
    assert [s.name for s in tl.steps] == ["mul", "relu", "relu", "mul"]
    assert tl.depth == OP_LEVEL
    with pytest.raises(ValueError, match="nothing to step"):
        Timeline(Tape())


MOVES = ["next", "previous", "step_into", "step_out", "jump_to_twin", "to_end", "back"]


@settings(max_examples=80, deadline=None)
@given(moves=st.lists(st.sampled_from(MOVES), max_size=12),
       peeked=st.sampled_from(MOVES))
def test_peek_says_where_a_move_goes_and_moves_nothing(moves, peeked):
    t, _ = make_timeline()
    for move in moves:
        getattr(t, move)()
    cursor, history = t.cursor, list(t._history)
    seen = t.peek(getattr(t, peeked))
    assert (t.cursor, t._history) == (cursor, history)  # nothing moved, nothing remembered
    moved = getattr(t, peeked)()
    assert seen == (t.cursor if moved else None)


def test_standing_at_derives_the_state_there_and_puts_the_cursor_back():
    t, _ = make_timeline()
    t.next()
    home = t.cursor
    there = t.peek(lambda: t.jump(t.backward_start + 3))
    other, _ = make_timeline()
    other.jump(there.position)
    with t.standing_at(there):
        assert same_state(t.state(), other.state())
    assert t.cursor == home
    with pytest.raises(RuntimeError):
        with t.standing_at(there):
            raise RuntimeError("a failure while preparing")
    assert t.cursor == home
