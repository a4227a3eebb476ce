"""The buffer pool: a buffer is handed out again only once nothing else holds it, a run
with the pool computes the very same numbers as one without, and a trace that is kept
is never written over by the next run."""

from __future__ import annotations

import copy
import gc
import pickle

import numpy as np
import pytest

from engine import ModelConfig, Transformer, buffers
from engine.buffers import BufferPool
from engine.tasks import make_batch
from engine.train import loss_and_grads

CONFIG = ModelConfig(vocab_size=12, d_model=16, n_heads=2, d_ff=24, n_encoder_layers=2,
                     n_decoder_layers=2, max_len=8)


@pytest.fixture
def pool_everything(monkeypatch):
    """Pool every array, however small, so the tutor-sized model takes every pooled path."""
    monkeypatch.setattr(buffers, "MIN_BYTES", 0)


def arrays_of(run, shared: bool = True) -> list[np.ndarray]:
    """Every array a recorded run keeps: values, gradients, upstreams, contributions
    (``shared=False``: leave out the weights and constants, which every run shares)."""
    found = [run.logits, *run.grads.values()]
    for t in run.tape.tensors:
        found += [t.value if shared or t.kind not in ("param", "const") else None, t.grad]
    for step in run.tape.steps:
        found.append(step.upstream)
        for c in step.contributions:
            found += [c.value, c.before, c.after]
    return [a for a in found if isinstance(a, np.ndarray)]


def snapshot(run) -> list[np.ndarray]:
    return [a.copy() for a in arrays_of(run)]


# the pool itself -------------------------------------------------------------------------
def test_a_buffer_is_handed_out_again_only_when_nothing_else_holds_it(pool_everything):
    pool = BufferPool()
    with pool.active():
        first = buffers.empty((4, 5))
        view = first.T[1:]
        del first
        second = buffers.empty((4, 5))  # the view still holds the first buffer
        assert not np.shares_memory(second, view)
        base = view.base
        del view, base
        third = buffers.empty((4, 5))
        assert not np.shares_memory(third, second)
        del third
        fourth = buffers.empty((4, 5))
    assert pool.nbytes == 2 * 4 * 5 * 8  # two buffers made; the third and fourth reused
    assert fourth.shape == (4, 5)


def test_without_an_active_pool_or_below_the_threshold_arrays_are_fresh():
    pool = BufferPool()
    a = buffers.empty((300, 300))
    with pool.active():
        small = buffers.empty((3, 3))
        big = buffers.empty((300, 300))
    assert pool.nbytes == big.nbytes
    assert a.shape == (300, 300) and small.shape == (3, 3)


def test_a_buffer_no_run_takes_is_let_go_after_keep_runs():
    pool = BufferPool()
    with pool.active():
        buffers.empty((300, 300))
    assert pool.nbytes == 300 * 300 * 8
    for _ in range(buffers.KEEP_RUNS):  # kept while a trace of its run may still be alive
        with pool.active():
            buffers.empty((200, 200))
    assert pool.nbytes == (300 * 300 + 200 * 200) * 8
    with pool.active():
        buffers.empty((200, 200))
    assert pool.nbytes == 200 * 200 * 8


def test_pooled_ufunc_matches_the_plain_one_and_keeps_other_dtypes_out(pool_everything):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(4,))
    with BufferPool().active():
        assert np.array_equal(buffers.pooled(np.add, a, b), a + b)
        assert np.array_equal(buffers.pooled(np.multiply, a, a > 0), a * (a > 0))
        ints = buffers.pooled(np.add, np.arange(4), np.arange(4))
        assert ints.dtype.kind == "i" and list(ints) == [0, 2, 4, 6]


# a model with the pool ---------------------------------------------------------------------
def test_a_pooled_run_equals_an_unpooled_one_bit_for_bit(monkeypatch):
    data = make_batch("reverse", 3, 6, np.random.default_rng(1))
    plain = Transformer(CONFIG, seed=3).run(*data)
    monkeypatch.setattr(buffers, "MIN_BYTES", 0)
    model = Transformer(CONFIG, seed=3)
    for _ in range(3):  # the first run makes the buffers, the next ones reuse them
        pooled = model.run(*data)
        assert pooled.loss == plain.loss
        for x, y in zip(arrays_of(pooled), arrays_of(plain), strict=True):
            assert np.array_equal(x, y)
        del pooled
        gc.collect()
    assert model.buffers.nbytes > 0


def test_a_kept_run_is_never_written_over_by_the_next(pool_everything):
    model = Transformer(CONFIG, seed=0)
    rng = np.random.default_rng(2)
    kept = model.run(*make_batch("reverse", 3, 6, rng))
    before = snapshot(kept)
    for _ in range(3):  # other inputs, other numbers, the same shapes
        other = model.run(*make_batch("reverse", 3, 6, rng))
        assert not any(np.shares_memory(a, b)
                       for a in arrays_of(kept, shared=False)
                       for b in arrays_of(other, shared=False))
        del other
        gc.collect()
        loss_and_grads(model, *make_batch("reverse", 3, 6, rng))
    for x, y in zip(arrays_of(kept), before, strict=True):
        assert np.array_equal(x, y)


def test_repeated_runs_reuse_the_buffers_instead_of_making_new_ones():
    """At a size above the threshold: once the first run is dropped, the next takes its
    buffers back (the pool does not grow), which is what saves the page faults."""
    config = ModelConfig(vocab_size=12, d_model=64, n_heads=4, d_ff=256, n_encoder_layers=1,
                         n_decoder_layers=1, max_len=16)
    model = Transformer(config, seed=0)
    data = make_batch("reverse", 4, 14, np.random.default_rng(0))
    sizes = []
    for _ in range(4):
        run = model.run(*data)
        sizes.append(model.buffers.nbytes)
        del run
        gc.collect()
    assert sizes[0] > 0
    assert sizes[1] == sizes[2] == sizes[3] == sizes[0]


def test_a_copied_or_pickled_model_gets_a_pool_of_its_own(pool_everything):
    model = Transformer(CONFIG, seed=4)
    data = make_batch("reverse", 2, 6, np.random.default_rng(4))
    kept = model.run(*data)
    for twin in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert twin.buffers is not model.buffers and twin.buffers.nbytes == 0
        again = twin.run(*data)
        assert again.loss == kept.loss
        assert all(np.array_equal(again.grads[k], kept.grads[k]) for k in kept.grads)


def test_a_pooled_training_pass_equals_the_recorded_run_bit_for_bit(monkeypatch):
    data = make_batch("reverse", 3, 6, np.random.default_rng(5))
    recorded = Transformer(CONFIG, seed=5).run(*data)
    monkeypatch.setattr(buffers, "MIN_BYTES", 0)
    model = Transformer(CONFIG, seed=5)
    for _ in range(3):
        loss, grads = loss_and_grads(model, *data)
        assert loss == recorded.loss
        for name, g in grads.items():
            assert np.array_equal(g, recorded.grads[name]), name
