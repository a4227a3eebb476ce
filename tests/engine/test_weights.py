"""Weights files: the documented format round-trips exactly; a broken, foreign or
oversized file is refused with a clear message, before memory is spent on it."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from engine import ModelConfig, Transformer
from engine.tasks import make_batch
from engine.weights import load_weights, weights_bytes, weights_path

SMALL = ModelConfig(vocab_size=12, d_model=8, n_heads=2, d_ff=12, n_encoder_layers=1,
                    n_decoder_layers=2, max_len=8)


def save_weights(path, model):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(weights_bytes(model))
    return path


def test_weights_round_trip_exactly_in_the_documented_format(tmp_path):
    model = Transformer(SMALL, seed=9)
    path = save_weights(tmp_path / "deep" / "sort.weights", model)
    assert path == tmp_path / "deep" / "sort.weights" and path.is_file()
    with np.load(path, allow_pickle=False) as data:  # readable without the engine
        assert json.loads(str(data["config"])) == {
            "vocab_size": 12, "d_model": 8, "n_heads": 2, "d_ff": 12, "n_encoder_layers": 1,
            "n_decoder_layers": 2, "max_len": 8}
        assert set(data.files) == {"config"} | set(model.params)
    loaded = load_weights(path)
    assert loaded.config == SMALL
    for name, value in model.params.items():
        assert np.array_equal(loaded.params[name], value)
    data = make_batch("sort", 2, 6, np.random.default_rng(0))
    assert loaded.loss(*data) == model.loss(*data)


def test_weights_path_puts_each_task_under_weights(tmp_path):
    assert weights_path("reverse", tmp_path) == tmp_path / "weights" / "reverse.npz"
    with pytest.raises(ValueError, match="unknown task"):
        weights_path("../x", tmp_path)


def _save_raw(path, config=None, **arrays):
    with open(path, "wb") as handle:
        if config is None:
            np.savez(handle, **arrays)
        else:
            np.savez(handle, config=config, **arrays)
    return path


@pytest.mark.parametrize("breakage,message", [
    ("missing", "no weights file at"),
    ("directory", "no weights file at"),
    ("garbage", "is not a weights file"),
    ("truncated", "is not a weights file"),
    ("no_config", "has no model config"),
    ("bad_json", "unusable model config"),
    ("not_object", "unusable model config"),
    ("unknown_field", "unusable model config"),
    ("bad_field", "unusable model config.*n_heads"),
    ("missing_param", "missing parameter"),
    ("wrong_shape", "has shape"),
    ("nan", "non-finite"),
    ("extra", "not a parameter of this model"),
    ("text_array", "not numeric"),
])
def test_a_broken_weights_file_gets_a_clear_error(tmp_path, breakage, message):
    model = Transformer(SMALL, seed=0)
    good_config = json.dumps({"vocab_size": 12, "d_model": 8, "n_heads": 2, "d_ff": 12,
                              "n_encoder_layers": 1, "n_decoder_layers": 2, "max_len": 8})
    params = dict(model.params)
    path = tmp_path / "w.npz"
    if breakage == "missing":
        path = tmp_path / "nowhere.npz"
    elif breakage == "directory":
        path.mkdir()
    elif breakage == "garbage":
        path.write_bytes(b"not a zip file at all" * 10)
    elif breakage == "truncated":
        save_weights(path, model)
        path.write_bytes(path.read_bytes()[:300])
    elif breakage == "no_config":
        _save_raw(path, None, **params)
    elif breakage == "bad_json":
        _save_raw(path, "{vocab", **params)
    elif breakage == "not_object":
        _save_raw(path, "[1, 2]", **params)
    elif breakage == "unknown_field":
        _save_raw(path, good_config[:-1] + ', "colour": 3}', **params)
    elif breakage == "bad_field":
        _save_raw(path, good_config.replace('"n_heads": 2', '"n_heads": 3'), **params)
    elif breakage == "missing_param":
        params.pop("generator.bias")
        _save_raw(path, good_config, **params)
    elif breakage == "wrong_shape":
        params["generator.bias"] = np.zeros(13)
        _save_raw(path, good_config, **params)
    elif breakage == "nan":
        params["encoder.norm.weight"] = params["encoder.norm.weight"] * np.nan
        _save_raw(path, good_config, **params)
    elif breakage == "extra":
        _save_raw(path, good_config, **params, **{"decoder.layers.7.norm1.weight": np.ones(8)})
    elif breakage == "text_array":
        params["generator.bias"] = np.array(["a"] * 12)
        _save_raw(path, good_config, **params)
    with pytest.raises(ValueError, match=message):
        load_weights(path)


def test_a_zip_without_arrays_is_refused(tmp_path):
    path = tmp_path / "w.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.npy", b"nonsense")
    with pytest.raises(ValueError, match="is not a weights file"):
        load_weights(path)


def test_sizes_are_checked_before_memory_is_spent(tmp_path):
    """A config claiming d_model 1e9, or a member whose header claims 1e11 floats, is
    refused from the file's headers, at once, without allocating."""
    import io
    import time

    model = Transformer(SMALL, seed=0)
    good = save_weights(tmp_path / "good.npz", model)
    huge_config = tmp_path / "config.npz"
    fields = json.loads(str(np.load(good)["config"]))
    with open(huge_config, "wb") as handle:
        np.savez(handle, config=json.dumps(dict(fields, d_model=10**9, n_heads=1)),
                 **model.params)
    with pytest.raises(ValueError, match=r"d_model must be at most 1024, got 1000000000"):
        load_weights(huge_config)

    claimed = tmp_path / "claimed.npz"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(claimed, "w") as target:
        for info in source.infolist():
            if info.filename != "generator.weight.npy":
                target.writestr(info, source.read(info))
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": "<f8", "fortran_order": False, "shape": (100_000, 1_000_000)})
        target.writestr("generator.weight.npy", header.getvalue())  # no data behind it
    started = time.perf_counter()
    with pytest.raises(ValueError, match=r"'generator.weight' has shape \(100000, 1000000\)"):
        load_weights(claimed)
    assert time.perf_counter() - started < 1.0
