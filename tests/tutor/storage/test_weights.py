"""Saving trained weights: written whole or not at all, readable by engine.weights."""

from __future__ import annotations

import os

import numpy as np
import pytest

from engine import ModelConfig, Transformer
from engine.weights import load_weights
from tutor.storage.weights import save_weights

SMALL = ModelConfig(vocab_size=12, d_model=8, n_heads=2, d_ff=12, n_encoder_layers=1,
                    n_decoder_layers=1, max_len=8)


def test_saved_weights_load_back_exactly_and_leave_no_temporary_file(tmp_path):
    model = Transformer(SMALL, seed=4)
    path = save_weights(tmp_path / "deep" / "sort.weights", model)
    assert path == tmp_path / "deep" / "sort.weights"
    assert [p.name for p in path.parent.iterdir()] == ["sort.weights"]
    loaded = load_weights(path)
    assert all(np.array_equal(loaded.params[n], v) for n, v in model.params.items())


def test_a_failed_save_keeps_the_file_that_was_there(tmp_path, monkeypatch):
    path = save_weights(tmp_path / "w.npz", Transformer(SMALL, seed=1))
    before = path.read_bytes()

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        save_weights(path, Transformer(SMALL, seed=2))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]
