"""The op-by-op PyTorch twin: every forward node and every backward contribution of a
recorded tape redone by torch, the whole graph replayed in torch autograd, the
runnable torch line of every op, and where each activation lives in torch."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine import ModelConfig, Tape, Transformer
from engine.ops import OPS

torch = pytest.importorskip("torch")
from engine.pytorch.match import max_abs_diff, match  # noqa: E402
from engine.pytorch.names import (activation_torch_name, python_name, torch_line,  # noqa: E402
                                  torch_operands)
from engine.pytorch.steps import (check_every_step, replay_torch, twin_backward,  # noqa: E402
                                  twin_forward)
from engine.pytorch.twin import TorchTwin  # noqa: E402

from tests.paths import ROOT


@pytest.fixture(scope="module")
def run():
    """The default tutor-scale model on one sequence of length 8."""
    model = Transformer(ModelConfig(), seed=0)
    rng = np.random.default_rng(1)
    src, tgt_in, tgt_out = (rng.integers(0, 12, (1, 8)) for _ in range(3))
    return model.run(src, tgt_in, tgt_out)


def small_graph() -> Tape:
    """A graph using every op the transformer does not (and a few it does), with an
    irregular mask so the mask literal has to round-trip."""
    rng = np.random.default_rng(2)
    t = Tape()
    x = t.input("x", rng.normal(size=(2, 3, 4)))
    w = t.param("w", rng.normal(size=(4, 4)))
    b = t.param("b", rng.normal(size=(4,)))
    y = t.linear(x, w, b)
    y = (y - 0.5) / (x.exp() + 1.0)
    y = -(y.tanh() ** 2) + (x * x).log()
    y = t.masked_fill(y, rng.random((2, 3, 4)) < 0.3, -1e9, label="masked")
    y = y.reshape(2, 12).reshape((2, 3, 4))
    heads = t.split_heads(y, 2)
    y = t.merge_heads(heads.softmax())
    s = y.sum(axis=-1, keepdims=True).mean(axis=(0, 1)) + y.sum(axis=1).mean()
    ids = t.input("ids", rng.integers(0, 4, (2, 3)), requires_grad=False)
    e = t.embedding(ids, t.param("table", rng.normal(size=(4, 4))))
    logits = t.layer_norm(e @ w, b, b) + y
    t.argmax(logits)
    loss = t.cross_entropy(logits, t.input("targets", rng.integers(0, 4, (2, 3)),
                                           requires_grad=False)) + s.sum() * 0.1
    t.backward(loss)
    return t


def test_importing_the_twin_modules_does_not_import_torch():
    code = ("import sys; import engine.pytorch.twin, engine.pytorch.names, engine.pytorch.steps, "
            "engine.pytorch.match; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_max_abs_diff_treats_matching_infinities_as_equal_and_shapes_as_fatal():
    assert max_abs_diff([1.0, -np.inf], [1.5, -np.inf]) == 0.5
    assert max_abs_diff([np.inf], [-np.inf]) == np.inf
    assert max_abs_diff([np.nan], [1.0]) == np.inf
    assert max_abs_diff(np.zeros(3), np.zeros(4)) == np.inf


def test_the_one_rule_is_absolute_near_one_and_relative_for_large_values():
    assert match("x", [1.0], [1.0 + 5e-11]).ok and not match("x", [1.0], [1.0 + 3e-10]).ok
    assert match("x", [0.001], [0.001 + 9e-11]).ok  # small values: absolute 1e-10
    big = match("x", [1e6], [1e6 + 5e-5])  # large values: relative 1e-10
    assert big.ok and big.allowed == pytest.approx(1e-4) and big.relative == pytest.approx(5e-11)
    assert not match("x", [1e6], [1e6 + 2e-4]).ok
    assert match("x", [-np.inf, 2.0], [-np.inf, 2.0]).ok
    assert not match("x", [np.nan], [0.0]).ok and not match("x", [1.0], [1.0, 1.0]).ok


def test_every_forward_step_of_the_default_model_matches_torch(run):
    assert len(run.tape.nodes) > 100
    for node in run.tape.nodes:
        found = twin_forward(node)
        value, diff = found.torch, found.max_abs_diff
        assert value.shape == node.output.value.shape, node.name
        assert diff <= 1e-10 and found.ok, (node.name, diff)
        # the diff is real: recompute it here
        assert diff == max_abs_diff(node.output.value, value)


def test_every_backward_contribution_of_the_default_model_matches_torch(run):
    checked = 0
    for step in run.tape.steps:
        results = twin_backward(step)
        assert [i for i, _ in results] == [c.input_index for c in step.contributions]
        for (i, found), c in zip(results, step.contributions):
            value, diff = found.torch, found.max_abs_diff
            assert value.shape == c.value.shape and found.accumulates == c.accumulates
            assert np.allclose(value, c.value, rtol=0, atol=1e-10), (step.node.name, i, diff)
            checked += 1
    assert checked > 200


def test_check_every_step_reports_all_steps_and_progress(run):
    calls = []
    report = check_every_step(run.tape, progress=lambda i, n: calls.append((i, n)))
    n = len(run.tape.nodes) + len(run.tape.steps)
    assert report.ok and report.first_mismatch is None
    assert len(report.forward) == len(run.tape.nodes)
    assert len(report.backward) == len(run.tape.steps)
    assert calls == [(i, n) for i in range(1, n + 1)]
    assert report.max_diff < 1e-10
    assert "all within" in report.summary()


def test_check_every_step_finds_the_first_tampered_step():
    tape = small_graph()
    node = tape.nodes[4]
    node.output.value = node.output.value + 1e-6  # a wrong forward value
    step = tape.steps[-3]
    step.contributions[0].value = step.contributions[0].value * 1.001  # a wrong gradient
    report = check_every_step(tape)
    bad = [(s.phase, s.index) for s in report.steps if not s.ok]
    # node 4 is wrong; its consumers, replayed on the wrong value, disagree too
    assert bad[0] == ("forward", 4) and ("backward", step.index) in bad
    assert all(s.ok for s in report.steps[:4])
    assert report.first_mismatch.index == 4
    assert report.first_mismatch.max_abs_diff == pytest.approx(1e-6, rel=1e-6)
    assert "first mismatch at forward step 4" in report.summary()


def test_the_small_graph_matches_torch_step_by_step():
    assert check_every_step(small_graph()).ok


def test_replay_torch_gradients_equal_the_engines(run):
    replay = replay_torch(run.tape)
    for name, grad in run.grads.items():
        value, torch_grad = replay[run.params[name].id]
        assert np.array_equal(value, run.params[name].value)
        assert np.allclose(torch_grad, grad, rtol=0, atol=1e-12), name
    loss_value, loss_grad = replay[run.tape.loss.id]
    assert float(loss_value) == pytest.approx(run.loss, abs=1e-12)
    assert float(loss_grad) == 1.0
    for t in run.tape.tensors:  # activations too: retain_grad on every one
        value, grad = replay[t.id]
        assert max_abs_diff(value, t.value) <= 1e-10, t.name
        if t.requires_grad:
            assert np.allclose(grad, t.grad, rtol=0, atol=1e-12), t.name
        else:
            assert grad is None


def test_replay_torch_gradients_on_a_small_graph_match_an_independent_torch_build():
    tape = Tape()
    a, b = tape.input("a", -4.0), tape.input("b", 2.0)
    c = a * b + b ** 3
    d = (c - a).relu() / 2.0
    tape.backward(d * d)
    replay = replay_torch(tape)
    at = torch.tensor(-4.0, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    dt = ((at * bt + bt ** 3) - at).relu() / 2.0
    (dt * dt).backward()
    assert replay[a.id][1] == pytest.approx(at.grad.item(), rel=1e-15)
    assert replay[b.id][1] == pytest.approx(bt.grad.item(), rel=1e-15)


def test_replay_torch_gives_zero_gradient_to_tensors_the_loss_ignores():
    tape = Tape()
    a, b = tape.input("a", 3.0), tape.input("b", 5.0)
    unused = b.exp()
    tape.backward(a * 2)
    replay = replay_torch(tape)
    assert replay[b.id][1] == 0.0 and replay[unused.id][1] == 0.0
    assert replay[a.id][1] == 2.0


# --- torch lines --------------------------------------------------------------

def _run_line(node):
    """Execute a node's torch line (in this test only) in a namespace of torch tensors
    named like its inputs, and return the value it assigns."""
    namespace = {"torch": torch, "F": torch.nn.functional, "math": math}
    for name, t in zip(torch_operands(node), node.inputs):
        if name.isidentifier():
            namespace[name] = torch.tensor(np.array(t.value))
    line = torch_line(node)
    target = line.split(" = ", 1)[0]
    exec(compile(line, f"<torch line of {node.name}>", "exec"), namespace)  # noqa: S102
    return namespace[target].detach().numpy()


def test_every_torch_line_of_the_model_runs_and_recomputes_the_value(run):
    for node in run.tape.nodes:
        value = _run_line(node)
        assert max_abs_diff(value, node.output.value) <= 1e-10, torch_line(node)


def test_every_op_has_a_runnable_torch_line():
    decoding = Transformer(ModelConfig(d_model=8, n_heads=2, d_ff=8, n_encoder_layers=1,
                                       n_decoder_layers=1), seed=3).generate([[1, 2, 3]], 0, 2)
    nodes = small_graph().nodes + decoding.tape.nodes
    covered = set()
    for node in nodes:
        value = _run_line(node)
        assert max_abs_diff(value, node.output.value) <= 1e-10, torch_line(node)
        covered.add(node.op.name)
    assert covered == set(OPS)


def test_torch_lines_use_the_real_names_and_exact_attributes(run):
    by_name = {n.name: n for n in run.tape.nodes}
    assert torch_line(by_name["encoder.layers.0.ff.relu"]) == \
        "encoder_layers_0_ff_relu = torch.relu(encoder_layers_0_ff_linear1)"
    assert torch_line(by_name["src_embed.scale"]) == \
        "src_embed_scale = src_embed_lookup * math.sqrt(32)"
    assert torch_line(by_name["encoder.layers.0.self_attn.scaled_scores"]).endswith(
        "encoder_layers_0_self_attn_scores / math.sqrt(8)")
    assert torch_line(by_name["src_embed.add_position"]) == \
        "src_embed_add_position = src_embed_scale + positional_encoding_8"
    assert torch_line(by_name["decoder.layers.0.self_attn.causal_mask"]).endswith(
        ".masked_fill(torch.ones(8, 8, dtype=torch.bool).triu(1), float('-inf'))")
    assert torch_line(by_name["loss"]) == \
        "loss = F.cross_entropy(generator.reshape(-1, 12), tgt_out.reshape(-1))"


def test_a_mask_that_is_not_causal_round_trips_as_a_literal():
    tape = small_graph()
    node = next(n for n in tape.nodes if n.op.name == "masked_fill")
    mask_source = re.search(r"masked_fill\((torch\.tensor\(.*\)), -1000000000\.0\)",
                            torch_line(node)).group(1)
    rebuilt = eval(mask_source, {"torch": torch}).numpy()  # noqa: S307 - test only
    assert np.array_equal(rebuilt, node.attrs["mask"])


def test_python_names_are_identifiers():
    for name in ("encoder.layers.0.ff.relu", "positional_encoding[:8]", "2", "const(2, 3)",
                 "class", "x"):
        assert python_name(name).isidentifier()
    assert python_name("class") == "class_"
    assert python_name("positional_encoding[:8]") == "positional_encoding_8"


def test_two_inputs_with_one_name_get_distinct_operands():
    tape = Tape()
    a = tape.constant("c", np.ones(2))
    b = tape.constant("c", np.full(2, 3.0))
    node = (a + b).node
    first, second = torch_operands(node)
    assert first != second and first.isidentifier() and second.isidentifier()
    assert np.array_equal(_run_line(node), [4.0, 4.0])


# --- where activations live in torch ------------------------------------------

def _resolve(twin, text):
    """Follow the module path at the start of ``text`` on the twin's torch modules."""
    path = re.match(r"[\w.\[\]]+", text).group(0)
    path = re.sub(r"\[(\d+)\]", r".\1", path)
    first, *rest = path.split(".")
    obj = twin.modules[first] if first in twin.modules else getattr(twin.transformer, first)
    for part in rest:
        obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
    return obj


def test_every_activation_name_the_model_produces_has_a_torch_place():
    config = ModelConfig()
    model = Transformer(config, seed=0)
    twin = TorchTwin(model)
    src = [[1, 2, 3, 4, 5, 6, 7, 8]]
    tapes = [model.run(src, src, src).tape, model.generate(src, 0, 2).tape,
             model.generate(src, 0, 2, temperature=0.7).tape]
    names = {n.name for tape in tapes for n in tape.nodes}
    assert any(n.startswith("token_2.") for n in names) and "loss" in names
    for name in names:
        text = activation_torch_name(name)
        if not text.startswith(("F.", "torch.")):
            assert _resolve(twin, text) is not None, (name, text)


def test_bare_module_paths_name_that_modules_output():
    """A name with no parenthesis means the module's output: check it with forward hooks
    on torch.nn.Transformer itself."""
    model = Transformer(ModelConfig(), seed=0)
    src, tgt = np.array([[1, 2, 3, 4, 5, 6, 7, 8]]), np.array([[0, 3, 5, 7, 9, 11, 2, 4]])
    tape = model.run(src, tgt, tgt).tape
    twin = TorchTwin(model)
    bare = {n.name: activation_torch_name(n.name) for n in tape.nodes
            if re.fullmatch(r"[\w.\[\]]+", activation_torch_name(n.name))}
    assert len(bare) >= 20
    captured, handles = {}, []
    for name, text in bare.items():
        module = _resolve(twin, text)
        handles.append(module.register_forward_hook(
            lambda m, i, out, name=name: captured.__setitem__(name, out.detach().numpy())))
    with torch.no_grad():
        twin.logits(src, tgt)
    for h in handles:
        h.remove()
    by_name = {n.name: n for n in tape.nodes}
    assert set(captured) == set(bare)
    for name, value in captured.items():
        assert max_abs_diff(value, by_name[name].output.value) <= 1e-10, name


def test_activation_names_spell_the_examples_and_reject_strangers():
    assert activation_torch_name("decoder.layers.0.cross_attn.weights") == \
        "decoder.layers[0].multihead_attn (attention weights)"
    assert activation_torch_name("encoder.layers.1.ff.relu") == \
        "encoder.layers[1].activation(linear1(x))"
    assert activation_torch_name("encoder.layers.0.add_norm2.layer_norm") == \
        "encoder.layers[0].norm2"
    assert "in_proj_weight[32:64]" in activation_torch_name(
        "encoder.layers.0.self_attn.k_proj", d_model=32)
    assert activation_torch_name("token_3.generator") == "generator (generating token 3)"
    for stranger in ("encoder.layers.0.cross_attn.weights", "encoder.layers.0.add_norm3.residual",
                     "encoder.layers.0.self_attn.causal_mask", "mystery",
                     "decoder.layers.x.ff.relu", "src_embed.other"):
        with pytest.raises(KeyError):
            activation_torch_name(stranger)
