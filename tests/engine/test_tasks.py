"""The toy tasks: answers checked by their defining properties, the token layout, and
the held-out set's separation from training."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from engine import ModelConfig
from engine.tasks import (BOS, DIGITS, PAD, TASKS, VOCAB_SIZE, held_out, make_batch,
                          sequence_codes, target_for)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_vocabulary_fits_the_default_model_and_special_tokens_are_not_digits():
    assert VOCAB_SIZE == ModelConfig().vocab_size == 12
    assert {BOS, PAD} == {10, 11} and DIGITS == 10


@pytest.mark.parametrize("task", TASKS)
def test_batches_are_teacher_forced_digit_sequences(task, rng):
    src, tgt_in, tgt_out = make_batch(task, 64, 6, rng)
    assert src.shape == tgt_in.shape == tgt_out.shape == (64, 6)
    assert src.dtype == tgt_in.dtype == tgt_out.dtype == np.int64
    assert src.min() >= 0 and src.max() <= 9 and tgt_out.max() <= 9
    assert np.all(tgt_in[:, 0] == BOS)
    assert np.array_equal(tgt_in[:, 1:], tgt_out[:, :-1])
    assert not np.any(np.isin([src, tgt_out], [BOS, PAD]))


def test_copy_is_the_source(rng):
    src, _, tgt_out = make_batch("copy", 50, 6, rng)
    assert np.array_equal(src, tgt_out)


def test_reverse_of_reverse_is_the_source_and_ends_swap(rng):
    src, _, tgt_out = make_batch("reverse", 50, 6, rng)
    assert np.array_equal(target_for("reverse", tgt_out), src)
    for row_src, row_out in zip(src, tgt_out):
        assert list(row_out) == list(reversed(list(row_src)))


def test_sort_is_sorted_and_a_permutation_of_the_source(rng):
    src, _, tgt_out = make_batch("sort", 200, 6, rng)
    assert np.all(np.diff(tgt_out, axis=1) >= 0)
    for row_src, row_out in zip(src, tgt_out):
        assert Counter(row_src.tolist()) == Counter(row_out.tolist())
        assert row_out.tolist() == sorted(row_src.tolist())


@pytest.mark.parametrize("task", TASKS)
def test_held_out_is_fixed_distinct_and_never_drawn_for_training(task):
    a, b = held_out(task), held_out(task)
    assert np.array_equal(a.src, b.src) and a.src.shape == (500, 6)
    held = {tuple(row) for row in a.src.tolist()}
    assert len(held) == 500  # no duplicates
    rng = np.random.default_rng(0)
    drawn = np.concatenate([make_batch(task, 1000, 6, rng).src for _ in range(20)])
    assert held.isdisjoint({tuple(row) for row in drawn.tolist()})
    assert np.array_equal(a.tgt_out, target_for(task, a.src))


def test_training_sampler_redraws_held_out_sequences_even_when_they_are_common():
    # length 2 has only 100 sequences and 10 of them are held out: without the
    # redraw about 10% of a big batch would be held-out sequences
    held = {tuple(row) for row in held_out("copy", 2).src.tolist()}
    assert len(held) == 10
    drawn = make_batch("copy", 5000, 2, np.random.default_rng(1)).src
    seen = {tuple(row) for row in drawn.tolist()}
    assert held.isdisjoint(seen)
    assert len(seen) == 90  # every other sequence still appears


def test_sequence_codes_read_digits_as_a_base_ten_number():
    assert sequence_codes(np.array([[0, 0, 1], [3, 1, 4], [9, 9, 9]])).tolist() == [1, 314, 999]


def test_batches_depend_only_on_the_seed():
    a = make_batch("sort", 8, 6, np.random.default_rng(3))
    b = make_batch("sort", 8, 6, np.random.default_rng(3))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("call,message", [
    (lambda r: make_batch("shuffle", 4, 6, r), "unknown task 'shuffle'"),
    (lambda r: make_batch("copy", 0, 6, r), "batch size"),
    (lambda r: make_batch("copy", 4, 0, r), "sequence length"),
    (lambda r: make_batch("copy", 4, 99, r), "sequence length"),
    (lambda r: held_out("copy", True), "sequence length"),
])
def test_bad_arguments_name_the_problem(call, message, rng):
    with pytest.raises(ValueError, match=message):
        call(rng)
