"""Impossible configs and inputs fail early with a message naming the field and value."""

from __future__ import annotations

import numpy as np
import pytest

from engine import ModelConfig, Transformer


@pytest.mark.parametrize("kwargs,message", [
    ({"d_model": 30, "n_heads": 4}, r"d_model \(30\) must be divisible by n_heads \(4\)"),
    ({"n_heads": 0}, r"n_heads must be at least 1, got 0"),
    ({"vocab_size": -3}, r"vocab_size must be at least 1, got -3"),
    ({"d_ff": 2.5}, r"d_ff must be a whole number, got 2.5"),
    ({"max_len": True}, r"max_len must be a whole number"),
    ({"n_encoder_layers": "2"}, r"n_encoder_layers must be a whole number"),
])
def test_bad_config_names_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**kwargs)


MODEL = Transformer(ModelConfig(vocab_size=5, d_model=8, n_heads=2, d_ff=8, n_encoder_layers=1,
                                n_decoder_layers=1, max_len=4))
OK = np.array([[1, 2, 3]])


@pytest.mark.parametrize("src,tgt_in,tgt_out,message", [
    ([[1, 2, 3, 4, 0]], OK, OK, r"src: has length 5, longer than max_len 4"),
    (OK, [[1, 9, 2]], OK, r"tgt_in: token 9 is outside \[0, 4\]"),
    (OK, OK, [[1, -1, 2]], r"tgt_out: token -1 is outside"),
    ([1, 2, 3], OK, OK, r"src: must have shape \(batch, length\), got shape \(3,\)"),
    (OK, OK, [[1.0, np.nan, 2.0]], r"tgt_out: token ids must be whole numbers, got nan"),
    (OK, [[1.5, 2, 3]], OK, r"tgt_in: token ids must be whole numbers, got 1.5"),
    (OK, [[True, False, True]], OK, r"tgt_in: token ids must be whole numbers, got bool"),
    (OK, OK, [[1, 2]], r"tgt_out has shape \(1, 2\) but tgt_in has \(1, 3\)"),
    (OK, [[1, 2, 3], [1, 2, 3]], [[1, 2, 3], [1, 2, 3]], r"batch size 2 but src has 1"),
    (np.zeros((1, 0), dtype=int), OK, OK, r"src: is empty"),
    ([["a", "b"]], OK, OK, r"src: token ids must be whole numbers, got <U1 values"),
    ([[1, 2], [3]], OK, OK, r"src: must be rows of token ids of one length"),
])
def test_bad_inputs_name_the_field_and_value(src, tgt_in, tgt_out, message):
    with pytest.raises(ValueError, match=message):
        MODEL.run(src, tgt_in, tgt_out)


def test_bad_weights_are_refused():
    params = dict(MODEL.params)
    params["generator.bias"] = np.array([0.0, np.inf, 0, 0, 0])
    with pytest.raises(ValueError, match="'generator.bias' holds non-finite values"):
        MODEL.with_params(params)
    params["generator.bias"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"has shape \(3,\), expected \(5,\)"):
        MODEL.with_params(params)
    del params["generator.bias"]
    with pytest.raises(ValueError, match="missing parameter 'generator.bias'"):
        MODEL.with_params(params)


def test_bad_generation_requests_are_refused():
    with pytest.raises(ValueError, match="steps must be in"):
        MODEL.generate(OK, start_token=0, steps=4)
    with pytest.raises(ValueError, match="start_token 7"):
        MODEL.generate(OK, start_token=7, steps=2)
    with pytest.raises(ValueError, match="temperature"):
        MODEL.generate(OK, start_token=0, steps=2, temperature=0.0)
