"""The whole model against torch.nn.Transformer with copied weights."""

from __future__ import annotations

import numpy as np
import pytest

from engine import ModelConfig, Transformer
from engine.model import causal_mask, positional_encoding

torch = pytest.importorskip("torch")
from engine.pytorch.twin import TorchTwin, compare  # noqa: E402

CONFIGS = [
    # (config, batch, S, T)
    (ModelConfig(12, 32, 4, 64, 2, 2, 16), 1, 8, 8),
    (ModelConfig(12, 32, 4, 64, 2, 2, 16), 3, 7, 5),
    (ModelConfig(7, 15, 3, 20, 1, 2, 10), 2, 4, 9),  # odd heads, odd d_model, S != T
    (ModelConfig(9, 10, 5, 8, 3, 1, 6), 2, 6, 3),  # 5 heads of 2
    (ModelConfig(5, 8, 1, 4, 1, 1, 4), 1, 1, 1),  # the smallest case
]


def batch(config, b, s, t, seed=0):
    rng = np.random.default_rng(seed)
    v = config.vocab_size
    return rng.integers(0, v, (b, s)), rng.integers(0, v, (b, t)), rng.integers(0, v, (b, t))


@pytest.mark.parametrize("config,b,s,t", CONFIGS)
def test_loss_and_every_gradient_match_torch(config, b, s, t):
    model = Transformer(config, seed=3)
    matches = compare(model, *batch(config, b, s, t))
    names = [m.label for m in matches]
    assert names[0] == "loss"
    assert len(names) == len(set(names)) == 1 + len(TorchTwin(model).named_parameters())
    for m in matches:
        assert m.relative <= 1e-9 and m.ok, f"{m.label}: relative error {m.relative:.2e}"


def test_torch_state_dict_uses_exactly_torchs_names_and_packing():
    config = ModelConfig(11, 16, 2, 24, 2, 2, 8)
    model = Transformer(config, seed=1)
    state = model.torch_state_dict()
    reference = torch.nn.Transformer(16, 2, 2, 2, 24, dropout=0.0, batch_first=True).state_dict()
    extra = {"src_embed.weight", "tgt_embed.weight", "generator.weight", "generator.bias"}
    assert set(state) == set(reference) | extra
    for name, value in reference.items():
        assert state[name].shape == tuple(value.shape), name
    packed = state["decoder.layers.1.multihead_attn.in_proj_weight"]
    assert np.array_equal(packed[16:32], model.params["decoder.layers.1.cross_attn.k_proj.weight"])


def test_parameter_count_matches_the_paper_base_model():
    config = ModelConfig(vocab_size=10, d_model=512, n_heads=8, d_ff=2048, n_encoder_layers=6,
                         n_decoder_layers=6, max_len=16)
    reference = torch.nn.Transformer(512, 8, 6, 6, 2048, device="meta")
    torch_count = sum(p.numel() for p in reference.parameters())
    assert torch_count == 44_140_544
    assert config.parameter_count(include_embeddings=False) == torch_count


def test_greedy_decoding_matches_the_torch_twin():
    config = ModelConfig(10, 16, 2, 32, 1, 2, 12)
    model = Transformer(config, seed=5)
    src = np.random.default_rng(2).integers(0, 10, (3, 6))
    ours = model.generate(src, start_token=1, steps=6)
    theirs = TorchTwin(model).generate(src, start_token=1, steps=6)
    assert np.array_equal(ours.tokens, theirs)
    assert len(ours.steps) == 6
    for step in ours.steps:
        assert np.allclose(step.probs.sum(axis=-1), 1.0)
        assert np.array_equal(step.chosen, step.probs.argmax(axis=-1))


def test_positional_encoding_formula():
    pe = positional_encoding(6, 8)
    for pos in range(6):
        for i in range(4):
            angle = pos / 10000 ** (2 * i / 8)
            assert pe[pos, 2 * i] == pytest.approx(np.sin(angle), abs=1e-15)
            assert pe[pos, 2 * i + 1] == pytest.approx(np.cos(angle), abs=1e-15)
    assert positional_encoding(3, 5).shape == (3, 5)  # odd widths work too


def test_causal_mask_hides_only_the_future():
    mask = causal_mask(4)
    assert mask.tolist() == [[False, True, True, True], [False, False, True, True],
                             [False, False, False, True], [False, False, False, False]]


def test_masked_attention_weights_and_their_gradients_are_exactly_zero():
    config = ModelConfig(6, 8, 2, 8, 1, 1, 6)
    model = Transformer(config, seed=0)
    run = model.run(*batch(config, 1, 4, 5))
    weights = next(n for n in run.tape.nodes if n.name == "decoder.layers.0.self_attn.weights")
    future = np.broadcast_to(causal_mask(5), weights.output.shape)
    assert np.all(weights.output.value[future] == 0.0)
    step = next(s for s in run.tape.steps if s.node is weights)
    (contribution,) = step.contributions
    assert np.all(contribution.value[future] == 0.0)


def test_init_is_deterministic_and_seeded():
    config = ModelConfig()
    a, b, c = Transformer(config, seed=0), Transformer(config, seed=0), Transformer(config, seed=1)
    assert all(np.array_equal(a.params[n], b.params[n]) for n in a.params)
    assert not np.array_equal(a.params["generator.weight"], c.params["generator.weight"])
