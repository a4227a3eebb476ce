"""Every scenario kind builds, and its loss and every gradient equal torch autograd on
the same graph (written out in torch here, or torch.nn's own layers); bad specs give
messages naming the field."""

from __future__ import annotations

import json
import re
from dataclasses import asdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import ModelConfig, Transformer
from tutor.lessons.scenario_spec import OPTIONS
from tutor.lessons.scenarios import KINDS, ScenarioError, build_scenario
from engine.timeline import Timeline

torch = pytest.importorskip("torch")
F = torch.nn.functional
from engine.pytorch.twin import TorchTwin  # noqa: E402

EXPRESSION = {"kind": "expression", "inputs": {"w": [[0.5, -1.0], [2.0, 0.3]], "x": [1.0, -2.0],
                                               "y": [0.25, 1.0]},
              "program": "pred = w @ x\nerr = tanh(pred) - y\nloss = mean(err ** 2)"}
MINIMAL = {kind: {"kind": kind} for kind in KINDS} | {"expression": EXPRESSION}
RTOL = 1e-10


def tensor(value, grad=True):
    return torch.tensor(np.asarray(value), requires_grad=grad)


def value(scenario, name):
    return scenario.tensor(name).value


def assert_close(engine_value, torch_value, what):
    reference = torch_value.detach().numpy() if hasattr(torch_value, "detach") else torch_value
    scale = max(float(np.max(np.abs(reference))), 1e-12)
    error = float(np.max(np.abs(np.asarray(engine_value) - reference)))
    assert error <= RTOL * scale, f"{what}: error {error:.2e} (scale {scale:.2e})"


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_builds_with_its_defaults(kind):
    scenario = build_scenario(MINIMAL[kind])
    assert scenario.kind == kind
    assert "\n" not in scenario.description and scenario.description
    timeline = scenario.timeline()
    assert isinstance(timeline, Timeline) and len(timeline) > 0
    assert scenario.updates == []
    assert scenario.options["kind"] == kind and scenario.options["seed"] == 0
    for name, array in scenario.params.items():
        assert scenario.tensor(name).kind == "param" and array is scenario.tensor(name).value
    if kind == "decode":
        assert scenario.loss is None and scenario.tape.steps == []
        assert scenario.decoding is not None and scenario.model is not None
    else:
        assert np.isfinite(scenario.loss) and scenario.tape.loss.name == "loss"
        assert len(scenario.tape.steps) > 0 and timeline.has_phase("backward")
        assert (scenario.model is not None) == (kind == "transformer")


def test_expression_against_torch():
    s = build_scenario(EXPRESSION)
    assert [n.name for n in s.tape.nodes] == ["pred", "tanh", "err", "pow", "loss"]
    w, x, y = (tensor(EXPRESSION["inputs"][n]) for n in "wxy")
    loss = ((torch.tanh(w @ x) - y) ** 2).mean()
    loss.backward()
    assert_close(s.loss, loss, "loss")
    for name, t in zip("wxy", (w, x, y)):
        assert_close(s.tape.tensors[s.tensor(name).id].grad, t.grad, name)


@pytest.mark.parametrize("spec", [
    {},
    {"activation": "none"},
    {"loss": "cross_entropy", "sizes": [4, 6, 5, 3], "batch": 5, "seed": 3},
    {"sizes": [2, 1]},
])
def test_mlp_against_torch(spec):
    s = build_scenario({"kind": "mlp"} | spec)
    sizes = spec.get("sizes", [3, 4, 2])
    names = [n.name for n in s.tape.nodes]
    if spec == {}:
        assert names == ["layer1", "relu", "layer2", "error", "squared", "loss"]
    weights = {name: tensor(v) for name, v in s.params.items()}
    h = tensor(value(s, "x"), grad=False)
    for i in range(1, len(sizes)):
        h = F.linear(h, weights[f"layer{i}.weight"], weights[f"layer{i}.bias"])
        if i < len(sizes) - 1 and spec.get("activation", "relu") == "relu":
            h = torch.relu(h)
    target = torch.tensor(value(s, "target"))
    cross_entropy = spec.get("loss") == "cross_entropy"
    loss = F.cross_entropy(h, target) if cross_entropy else F.mse_loss(h, target)
    loss.backward()
    assert_close(s.loss, loss, "loss")
    assert set(s.params) == {f"layer{i}.{p}" for i in range(1, len(sizes))
                             for p in ("weight", "bias")}
    for name, t in weights.items():
        assert_close(s.tensor(name).grad, t.grad, name)


def attention_state(s, prefix, torch_prefix):
    """The engine's q/k/v/out weights under torch.nn.MultiheadAttention's names."""
    return {f"{torch_prefix}in_proj_weight": np.concatenate(
                 [s.params[f"{prefix}{p}_proj.weight"] for p in "qkv"]),
             f"{torch_prefix}in_proj_bias": np.concatenate(
                 [s.params[f"{prefix}{p}_proj.bias"] for p in "qkv"]),
             f"{torch_prefix}out_proj.weight": s.params[f"{prefix}out_proj.weight"],
             f"{torch_prefix}out_proj.bias": s.params[f"{prefix}out_proj.bias"]}


def engine_grad_in_torch_layout(s, prefix, torch_name, d):
    """The engine's gradient for a torch parameter (q, k, v stacked as torch packs them)."""
    kind = "weight" if torch_name.endswith("weight") else "bias"
    if "in_proj" in torch_name:
        return np.concatenate([s.tensor(f"{prefix}{p}_proj.{kind}").grad for p in "qkv"])
    return s.tensor(prefix + torch_name).grad


def load(module, state):
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(torch.from_numpy(np.asarray(state[name])))


def check_module_grads(s, module, mapping):
    for torch_name, p in module.named_parameters():
        assert_close(mapping(torch_name), p.grad, torch_name)


@pytest.mark.parametrize("spec", [
    {},
    {"n_heads": 2, "causal": True, "seq_len": 5},
    {"n_heads": 4, "memory_len": 3, "d_model": 12, "seed": 2},
])
def test_attention_against_torch_multihead_attention(spec):
    s = build_scenario({"kind": "attention"} | spec)
    d, h = s.options["d_model"], s.options["n_heads"]
    mha = torch.nn.MultiheadAttention(d, h, batch_first=True, dtype=torch.float64)
    load(mha, attention_state(s, "attn.", ""))
    x = tensor(value(s, "x"))
    memory = tensor(value(s, "memory")) if spec.get("memory_len") else x
    mask = torch.triu(torch.ones(x.shape[1], x.shape[1], dtype=torch.bool), 1) \
        if spec.get("causal") else None
    out, weights = mha(x, memory, memory, attn_mask=mask, average_attn_weights=False)
    loss = F.mse_loss(out, torch.tensor(value(s, "target")))
    loss.backward()
    assert_close(s.loss, loss, "loss")
    assert_close(value(s, "attn.weights"), weights, "attention weights")
    assert_close(s.tensor("x").grad, x.grad, "∂L/∂x (q, k and v contributions summed)")
    if spec.get("memory_len"):
        assert_close(s.tensor("memory").grad, memory.grad, "∂L/∂memory")
    check_module_grads(s, mha, lambda n: engine_grad_in_torch_layout(s, "attn.", n, d))
    assert len(s.params) == 8


def layer_state(s, names):
    state = {}
    for attn in names:
        torch_attn = "multihead_attn" if attn == "cross_attn" else attn
        state |= attention_state(s, f"{attn}.", f"{torch_attn}.")
    state |= {n: v for n, v in s.params.items() if n.startswith(("linear", "norm"))}
    return state


def layer_grad(s, torch_name, d):
    attn, rest = torch_name.split(".", 1)
    if attn in ("self_attn", "multihead_attn"):
        prefix = "cross_attn." if attn == "multihead_attn" else "self_attn."
        return engine_grad_in_torch_layout(s, prefix, rest, d)
    return s.tensor(torch_name).grad


@pytest.mark.parametrize("spec", [{}, {"seq_len": 3, "d_model": 6, "n_heads": 3, "d_ff": 7}])
def test_encoder_layer_against_torch_transformer_encoder_layer(spec):
    s = build_scenario({"kind": "encoder_layer"} | spec)
    o = s.options
    layer = torch.nn.TransformerEncoderLayer(o["d_model"], o["n_heads"], o["d_ff"], dropout=0.0,
                                             batch_first=True, dtype=torch.float64)
    load(layer, layer_state(s, ["self_attn"]))
    x = tensor(value(s, "x"))
    loss = F.mse_loss(layer(x), torch.tensor(value(s, "target")))
    loss.backward()
    assert_close(s.loss, loss, "loss")
    assert_close(s.tensor("x").grad, x.grad, "∂L/∂x")
    check_module_grads(s, layer, lambda n: layer_grad(s, n, o["d_model"]))
    steps = {n.name for n in s.tape.nodes}
    assert {"self_attn.weights", "add_norm1.layer_norm", "ff.relu", "add_norm2.residual"} <= steps


@pytest.mark.parametrize("spec", [{}, {"seq_len": 6, "memory_len": 2, "n_heads": 4, "seed": 9}])
def test_decoder_layer_against_torch_transformer_decoder_layer(spec):
    s = build_scenario({"kind": "decoder_layer"} | spec)
    o = s.options
    layer = torch.nn.TransformerDecoderLayer(o["d_model"], o["n_heads"], o["d_ff"], dropout=0.0,
                                             batch_first=True, dtype=torch.float64)
    load(layer, layer_state(s, ["self_attn", "cross_attn"]))
    x, memory = tensor(value(s, "x")), tensor(value(s, "memory"))
    mask = torch.triu(torch.ones(o["seq_len"], o["seq_len"], dtype=torch.bool), 1)
    loss = F.mse_loss(layer(x, memory, tgt_mask=mask), torch.tensor(value(s, "target")))
    loss.backward()
    assert_close(s.loss, loss, "loss")
    assert_close(s.tensor("x").grad, x.grad, "∂L/∂x")
    assert_close(s.tensor("memory").grad, memory.grad, "∂L/∂memory")
    check_module_grads(s, layer, lambda n: layer_grad(s, n, o["d_model"]))
    steps = {n.name for n in s.tape.nodes}
    assert {"self_attn.causal_mask", "cross_attn.weights", "add_norm3.layer_norm"} <= steps


@pytest.mark.parametrize("spec", [
    {},
    {"src": [[1, 2, 3], [4, 5, 6]], "tgt": [[2, 2], [1, 0]], "vocab_size": 7, "d_model": 12,
     "n_heads": 3, "d_ff": 10, "n_encoder_layers": 1, "n_decoder_layers": 3, "max_len": 5,
     "seed": 4},
])
def test_transformer_against_the_torch_twin(spec):
    s = build_scenario({"kind": "transformer"} | spec)
    src, tgt_in, tgt_out = (value(s, n) for n in ("src", "tgt_in", "tgt_out"))
    if spec == {}:  # the documented defaults: tgt = src reversed, start token BOS = 10
        assert src.tolist() == [[3, 1, 4, 1, 5, 9]]
        assert tgt_out.tolist() == [[9, 5, 1, 4, 1, 3]] and tgt_in.tolist() == [[10, 9, 5, 1, 4, 1]]
        assert asdict(s.model.config) == asdict(ModelConfig())
    else:  # a vocabulary without BOS starts from 0
        assert tgt_in.tolist() == [[0, 2], [0, 1]]
    torch_loss, torch_grads = TorchTwin(s.model).loss_and_grads(src, tgt_in, tgt_out)
    assert abs(s.loss - torch_loss) <= RTOL * abs(torch_loss)
    grads = {name: s.tensor(name).grad for name in s.params}
    for name, g in s.model.torch_state_dict(grads).items():
        assert_close(g, torch_grads[name], name)


def test_decode_greedy_and_sampled_against_the_torch_twin():
    s = build_scenario({"kind": "decode", "src": [[1, 2, 3, 4], [5, 6, 7, 8]], "steps": 5,
                        "start_token": 2})
    twin = TorchTwin(s.model)
    src = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    assert np.array_equal(s.decoding.tokens, twin.generate(src, 2, 5))
    for step in s.decoding.steps:
        logits = twin.logits(src, s.decoding.tokens[:, :step.position])[:, -1]
        assert_close(step.probs, torch.softmax(logits, -1), f"token {step.position} probs")
    hot = build_scenario({"kind": "decode", "temperature": 2.0, "seed": 5, "steps": 4})
    twin = TorchTwin(hot.model)
    rng = np.random.default_rng(5)
    for step in hot.decoding.steps:
        logits = twin.logits([[3, 1, 4, 1, 5, 9]], hot.decoding.tokens[:, :step.position])[:, -1]
        probs = torch.softmax(logits / 2.0, -1).detach().numpy()
        assert_close(step.probs, probs, f"sampled token {step.position} probs")
        assert step.chosen[0] == rng.choice(probs.shape[1], p=probs[0] / probs[0].sum())


def test_lr_adds_one_sgd_step_per_parameter_as_torch_sgd_would():
    s = build_scenario({"kind": "mlp", "lr": 0.5, "seed": 1})
    assert [u.name for u in s.updates] == list(s.params)
    weights = {name: tensor(v) for name, v in s.params.items()}
    h = torch.relu(F.linear(tensor(value(s, "x"), False), weights["layer1.weight"],
                            weights["layer1.bias"]))
    out = F.linear(h, weights["layer2.weight"], weights["layer2.bias"])
    F.mse_loss(out, torch.tensor(value(s, "target"))).backward()
    torch.optim.SGD(list(weights.values()), lr=0.5).step()
    for u in s.updates:
        assert_close(u.after, weights[u.name], u.name)
        assert u.lr == 0.5 and u.before is s.params[u.name]
    timeline = s.timeline()
    assert timeline.has_phase("update") and len(timeline) == 6 + 6 + 4


TINY = ModelConfig(vocab_size=12, d_model=8, n_heads=2, d_ff=8, n_encoder_layers=1,
                   n_decoder_layers=1, max_len=6)


def save_weights(path, model):
    np.savez(path, config=json.dumps(asdict(model.config)), **model.params)


def test_trained_weights_come_from_the_resolved_file(tmp_path):
    trained = Transformer(TINY, seed=42)
    save_weights(tmp_path / "sort.npz", trained)
    asked = []

    def resolver(task):
        asked.append(task)
        return tmp_path / f"{task}.npz"

    s = build_scenario({"kind": "transformer", "weights": "trained:sort", "src": [3, 1, 2]},
                       resolver)
    assert asked == ["sort"] and s.model.config == TINY
    # the default target is the trained task's answer, after the training start token
    assert value(s, "tgt_out").tolist() == [[1, 2, 3]]
    assert value(s, "tgt_in").tolist() == [[10, 1, 2]]
    for name, array in trained.params.items():
        assert np.array_equal(s.params[name], array)
    assert s.options["d_model"] == 8
    d = build_scenario({"kind": "decode", "weights": "trained:sort", "src": [1, 2, 3],
                        "d_model": 8}, resolver)
    assert d.decoding.tokens.shape == (1, 4) and d.decoding.tokens[0, 0] == 10


@pytest.mark.parametrize("content,message", [
    (b"not a zip file", r"scenario.weights: .*copy.npz is not a weights file saved by "),
    (None, r"scenario.weights: .*copy.npz: weights are missing parameter 'src_embed.weight'"),
])
def test_a_broken_weights_file_says_to_train_again(tmp_path, content, message):
    path = tmp_path / "copy.npz"
    if content is None:
        np.savez(path, config=json.dumps(asdict(TINY)))  # no parameters in it
    else:
        path.write_bytes(content)
    with pytest.raises(ScenarioError, match=message + r".*run `tutor train --task copy` again"):
        build_scenario({"kind": "transformer", "weights": "trained:copy"}, lambda task: path)


def test_trained_config_conflicts_name_the_field(tmp_path):
    save_weights(tmp_path / "copy.npz", Transformer(TINY))
    with pytest.raises(ScenarioError, match=r"scenario.d_model: is 16 but the trained weights "
                                            r"have 8; remove it"):
        build_scenario({"kind": "transformer", "weights": "trained:copy", "d_model": 16},
                       lambda task: tmp_path / "copy.npz")


@pytest.mark.parametrize("spec,field,message", [
    ([1, 2], "scenario", r"must be a table of options, got list"),
    ({}, "scenario.kind", r"missing; choose one of expression, mlp"),
    ({"kind": "mpl"}, "scenario.kind", r"unknown kind 'mpl' \(did you mean 'mlp'\?\)"),
    ({"kind": "mlp", "sizs": [2, 2]}, "scenario.sizs",
     r"unknown option for kind 'mlp' \(did you mean 'sizes'\?\)"),
    ({"kind": "decode", "tgt": [1]}, "scenario.tgt", r"unknown option for kind 'decode'"),
    ({"kind": "mlp", "seed": -1}, "scenario.seed", r"must be between 0 and"),
    ({"kind": "mlp", "seed": 1.5}, "scenario.seed", r"must be a whole number, got 1.5"),
    ({"kind": "mlp", "lr": -0.1}, "scenario.lr", r"must be a positive finite number, got -0.1"),
    ({"kind": "mlp", "lr": "fast"}, "scenario.lr", r"must be a number, got 'fast'"),
    ({"kind": "mlp", "lr": True}, "scenario.lr", r"must be a number, got True"),
    ({"kind": "mlp", "sizes": [3]}, "scenario.sizes", r"list of 2 to 8 whole numbers"),
    ({"kind": "mlp", "sizes": [3, 0]}, "scenario.sizes", r"list of 2 to 8 whole numbers"),
    ({"kind": "mlp", "batch": True}, "scenario.batch", r"must be a whole number, got True"),
    ({"kind": "mlp", "activation": "gelu"}, "scenario.activation",
     r"must be one of 'relu', 'none', got 'gelu'"),
    ({"kind": "mlp", "loss": "cross_entropy", "sizes": [3, 1]}, "scenario.sizes",
     r"cross_entropy needs at least 2 outputs"),
    ({"kind": "attention", "d_model": 6, "n_heads": 4}, "scenario.n_heads",
     r"d_model \(6\) must be divisible by n_heads \(4\)"),
    ({"kind": "attention", "causal": "yes"}, "scenario.causal", r"must be true or false"),
    ({"kind": "attention", "causal": True, "memory_len": 3}, "scenario.causal",
     r"a causal mask is for self-attention"),
    ({"kind": "encoder_layer", "seq_len": 0}, "scenario.seq_len", r"between 1 and 256, got 0"),
    ({"kind": "decoder_layer", "d_ff": 10**6}, "scenario.d_ff", r"between 1 and 1024"),
    ({"kind": "transformer", "d_model": 30}, "scenario.n_heads",
     r"d_model \(30\) must be divisible by n_heads \(4\)"),
    ({"kind": "transformer", "vocab_size": 0}, "scenario.vocab_size", r"between 1 and 10000"),
    ({"kind": "transformer", "d_model": 1024, "d_ff": 4096, "n_encoder_layers": 12,
      "n_decoder_layers": 12, "n_heads": 8}, "scenario",
     r"the model would have .* parameters; the tutor allows at most 10,000,000"),
    ({"kind": "transformer", "src": [1, 12, 3]}, "scenario.src",
     r"token 12 is outside \[0, 11\] \(vocab_size 12\)"),
    ({"kind": "transformer", "src": [1, 2.5]}, "scenario.src",
     r"token ids must be whole numbers, got 2.5"),
    ({"kind": "transformer", "src": []}, "scenario.src", r"must be a non-empty list"),
    ({"kind": "transformer", "src": [[1, 2], [3]]}, "scenario.src", r"the same length"),
    ({"kind": "transformer", "src": list(range(10)) * 2}, "scenario.src",
     r"has length 20, longer than max_len 16"),
    ({"kind": "transformer", "tgt": [-1, 2]}, "scenario.tgt", r"token -1 is outside"),
    ({"kind": "transformer", "src": [[1], [2]], "tgt": [[1]]}, "scenario.tgt",
     r"has 1 sequences but src has 2"),
    ({"kind": "transformer", "weights": "pretrained"}, "scenario.weights",
     r"must be \"random\" or \"trained:TASK\" \(TASK one of copy, reverse, sort\)"),
    ({"kind": "transformer", "weights": "trained:revrse"}, "scenario.weights",
     r"unknown task 'revrse' \(did you mean 'reverse'\?\); tasks: copy, reverse, sort"),
    ({"kind": "transformer", "weights": "trained:reverse"}, "scenario.weights",
     r"no trained weights for task 'reverse' yet; run `tutor train --task reverse` first"),
    ({"kind": "decode", "lr": 0.1}, "scenario.lr", r"decode runs forward only"),
    ({"kind": "decode", "start_token": 12}, "scenario.start_token", r"between 0 and 11, got 12"),
    ({"kind": "decode", "steps": 16}, "scenario.steps", r"between 1 and 15, got 16"),
    ({"kind": "decode", "temperature": 0}, "scenario.temperature", r"must be a positive number"),
    ({"kind": "expression"}, "scenario.program", r"missing: write lines like"),
    ({"kind": "expression", "program": 3}, "scenario.program", r"must be text, got 3"),
    ({"kind": "expression", "inputs": {"x": 1.0}, "program": "a = x * 2\nb = (a + )"},
     "scenario.program", r"line 2, col 10: expected a number or a name, got '\)'"),
    ({"kind": "expression", "inputs": [1]}, "scenario.inputs", r"must be a table"),
    ({"kind": "expression", "inputs": {"x": [[1, 2], [3]]}, "program": "y = sum(x)"},
     "scenario.inputs.x", r"ragged list"),
    ({"kind": "expression", "inputs": {"x": [1, True]}, "program": "y = sum(x)"},
     "scenario.inputs.x[1]", r"must be a number or a list of numbers, got True"),
    ({"kind": "expression", "inputs": {"exp": 1.0}, "program": "y = 2 * 3"},
     "scenario.inputs.exp", r"cannot be an input name: 'exp' is a function name"),
    ({"kind": "expression", "inputs": {"my-x": 1.0}, "program": "y = 2 * 3"},
     "scenario.inputs.my-x", r"cannot be an input name"),
    ({"kind": "expression", "inputs": {"x": [1.0, 2.0]}, "program": "y = x * 2"},
     "scenario.output", r"'y' has shape \(2,\); the output must be a single number"),
    ({"kind": "expression", "inputs": {"x": 1.0}, "program": "y = x * 2", "output": "z"},
     "scenario.output", r"'z' is not a line of the program; choose one of y"),
    ({"kind": "expression", "inputs": {"x": 0.0}, "program": "y = log(x)"},
     "scenario.program", r"the output 'y' is -inf for these inputs"),
])
def test_bad_specs_name_the_field(spec, field, message):
    with pytest.raises(ScenarioError) as info:
        build_scenario(spec)
    assert info.value.field == field
    assert str(info.value).startswith(field + ": ")
    assert re.search(message, str(info.value)), str(info.value)


ANY_VALUE = st.recursive(
    st.integers(-2, 20) | st.floats(allow_nan=True, allow_infinity=True) | st.booleans()
    | st.text(max_size=12) | st.sampled_from(["relu", "mse", "random", "trained:copy", "y = x"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner,
                                                                max_size=3),
    max_leaves=8)


@st.composite
def specs(draw):
    """A kind (or a wrong one) with some of its options, sometimes a typo, any values."""
    kind = draw(st.sampled_from(KINDS + ("nope",)))
    known = OPTIONS.get(kind, ()) + ("seed", "lr")
    names = draw(st.lists(st.sampled_from(known + ("sizez",)), max_size=4, unique=True))
    return {"kind": kind} | {name: draw(ANY_VALUE) for name in names}


@settings(max_examples=200, deadline=None)
@given(specs())
def test_any_spec_builds_or_gives_a_scenario_error(spec):
    try:
        scenario = build_scenario(spec)
    except ScenarioError as error:
        assert error.field.startswith("scenario")
    else:
        assert scenario.kind == spec["kind"]


def test_expression_params_choose_which_inputs_the_update_moves():
    from tutor.lessons.scenarios import ScenarioError, build_scenario

    spec = {"kind": "expression", "inputs": {"w": 3.0, "x": 2.0, "y": 1.0},
            "program": "pred = w * x\nloss = (pred - y) ** 2", "params": ["w"], "lr": 0.1}
    scenario = build_scenario(spec)
    assert [u.name for u in scenario.updates] == ["w"]
    assert scenario.updates[0].after == pytest.approx(3.0 - 0.1 * 2 * (3 * 2 - 1) * 2)
    # the data input still has a gradient for lessons to ask about: ∂L/∂x = 2(wx − y)·w
    assert float(scenario.tensor("x").grad) == pytest.approx(2 * (3 * 2 - 1) * 3)
    with pytest.raises(ScenarioError, match="scenario.params"):
        build_scenario(dict(spec, params=["v"]))
