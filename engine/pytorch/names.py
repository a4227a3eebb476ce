"""How the engine's records are spelled in PyTorch: the runnable line a learner would
write for a node (``torch_line``), and where an engine activation lives inside
``torch.nn.Transformer`` (``activation_torch_name``). Plain text, no torch needed."""

from __future__ import annotations

import keyword
import math
import re

import numpy as np


def python_name(name: str) -> str:
    """A tensor's name as a Python identifier: ``encoder.layers.0.ff.relu`` →
    ``encoder_layers_0_ff_relu``, ``positional_encoding[:8]`` → ``positional_encoding_8``."""
    text = re.sub(r"\W+", "_", name).strip("_") or "t"
    if text[0].isdigit():
        text = f"t_{text}"
    return f"{text}_" if keyword.iskeyword(text) else text


def _number(x) -> str:
    """A number as exact Python source (``repr``), infinities spelled for torch."""
    if np.asarray(x).dtype.kind in "iub":
        return str(int(x))
    x = float(x)
    if math.isinf(x):
        return "float('-inf')" if x < 0 else "float('inf')"
    if math.isnan(x):
        return "float('nan')"
    return repr(x)


def _scale_text(c: float) -> str:
    """``* c`` with √n spelled out when c is √n or 1/√n exactly (√d_model, 1/√d_head)."""
    if c > 0:
        for n in range(2, 4097):
            root = math.sqrt(n)
            if not root.is_integer() and c == root:
                return f" * math.sqrt({n})"
            if not root.is_integer() and c == 1.0 / root:
                return f" / math.sqrt({n})"
    return f" * {_number(c)}"


def _mask_text(mask) -> str:
    """A boolean mask as source that rebuilds it exactly: the causal mask by its rule,
    any other mask as a literal."""
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim == 2 and mask.shape[0] == mask.shape[1]:
        n = mask.shape[0]
        if np.array_equal(mask, np.triu(np.ones((n, n), dtype=bool), k=1)):
            return f"torch.ones({n}, {n}, dtype=torch.bool).triu(1)"
    return f"torch.tensor({mask.tolist()})"


def _ints(shape) -> str:
    return ", ".join(str(int(n)) for n in shape)


def _dims(axis) -> str:
    if np.ndim(axis) == 0:
        return str(int(axis))
    return f"({_ints(axis)},)" if len(axis) == 1 else f"({_ints(axis)})"


def torch_operands(node) -> list[str]:
    """How each input of ``node`` is spelled in its torch line: a scalar constant as its
    number, every other tensor as ``python_name`` of its name (made unique within the line)."""
    operands, used = [], {}
    for t in node.inputs:
        value = np.asarray(t.value)
        if t.kind == "const" and value.ndim == 0:
            operands.append(_number(value))
            continue
        name = python_name(t.name)
        if used.setdefault(name, t.id) != t.id:
            name = f"{name}_{t.id}"
        operands.append(name)
    return operands


def source(value) -> str:
    """A recorded argument as exact Python source (numbers by ``repr``, a device as
    ``torch.device('cpu')``, dtypes and formats as ``torch.float64``, slices as ``a:b``
    inside an index; an object with no source spelling as its ``repr``)."""
    if value is None or isinstance(value, (bool, str)):
        return repr(value)
    if value is Ellipsis:
        return "..."
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return _number(value)
    if isinstance(value, slice):
        return f"slice({source(value.start)}, {source(value.stop)}, {source(value.step)})"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(source(v) for v in value)
        if isinstance(value, list):
            return f"[{inner}]"
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if type(value).__name__ == "device":
        return f"torch.device({str(value)!r})"
    return str(value)  # torch.float64, torch.strided, torch.contiguous_format


def _expression(node, x: list[str]) -> str:
    op, a = node.op.name, node.attrs
    spell = getattr(node.op, "spell", None)
    if spell is not None:  # a recorded PyTorch op spells itself exactly
        return spell(x, a)
    shape = np.shape(node.inputs[0].value) if node.inputs else ()
    if op == "scale":
        return f"{x[0]}{_scale_text(a['c'])}"
    if op == "pow":
        return f"{x[0]} ** {_number(a['p'])}"
    if op in ("sum", "mean"):
        if a.get("axis") is None:
            return f"{x[0]}.{op}()"
        keep = ", keepdim=True" if a.get("keepdims") else ""
        return f"{x[0]}.{op}(dim={_dims(a['axis'])}{keep})"
    if op == "transpose":
        return f"{x[0]}.transpose({int(a.get('dim0', -2))}, {int(a.get('dim1', -1))})"
    if op == "reshape":
        return f"{x[0]}.reshape({_ints(a['shape'])})"
    if op == "split_heads":
        return f"{x[0]}.view({shape[0]}, {shape[1]}, {int(a['heads'])}, -1).transpose(1, 2)"
    if op == "merge_heads":
        return f"{x[0]}.transpose(1, 2).reshape({shape[0]}, {shape[2]}, -1)"
    if op == "layer_norm":
        return (f"F.layer_norm({x[0]}, ({shape[-1]},), {x[1]}, {x[2]}, "
                f"eps={_number(a.get('eps', 1e-5))})")
    if op == "masked_fill":
        return f"{x[0]}.masked_fill({_mask_text(a['mask'])}, {_number(a.get('value', -np.inf))})"
    if op == "cross_entropy":
        return f"F.cross_entropy({x[0]}.reshape(-1, {shape[-1]}), {x[1]}.reshape(-1))"
    return node.op.torch_line(x, node.attrs)


def torch_line(node) -> str:
    """The runnable PyTorch line for ``node``, with its real input names and exact
    attributes: ``encoder_layers_0_ff_relu = torch.relu(encoder_layers_0_ff_linear1)``.
    Assumes ``import math, torch`` and ``import torch.nn.functional as F``."""
    return f"{python_name(node.output.name)} = {_expression(node, torch_operands(node))}"


_ATTENTION_PARTS = {
    "q_proj": "q = query @ in_proj_weight[{q}].T + in_proj_bias[{q}]",
    "k_proj": "k = key @ in_proj_weight[{k}].T + in_proj_bias[{k}]",
    "v_proj": "v = value @ in_proj_weight[{v}].T + in_proj_bias[{v}]",
    "q_heads": "q split into heads",
    "k_heads": "k split into heads",
    "v_heads": "v split into heads",
    "k_transposed": "kᵀ per head",
    "scores": "q @ kᵀ per head",
    "scaled_scores": "attention scores: q @ kᵀ / √d_head",
    "causal_mask": "scores with attn_mask (the causal tgt_mask) applied",
    "weights": "attention weights",
    "context": "attention weights @ v",
    "concat_heads": "heads concatenated",
    "out_proj": "output: out_proj(heads concatenated)",
}
_FF_PARTS = {"linear1": "{layer}.linear1", "relu": "{layer}.activation(linear1(x))",
             "linear2": "{layer}.linear2"}
_NORM_OF = {("encoder", "add_norm1"): "norm1", ("encoder", "add_norm2"): "norm2",
            ("decoder", "add_norm1"): "norm1", ("decoder", "add_norm2"): "norm2",
            ("decoder", "add_norm3"): "norm3"}
_EMBED_PARTS = {"lookup": "{m}(ids)", "scale": "{m}(ids) * √d_model",
                "add_position": "{m}(ids) * √d_model + positional encoding"}


def activation_torch_name(node_name: str, d_model: int | None = None) -> str:
    """Where an engine activation lives in the PyTorch twin (``torch.nn.Transformer`` plus
    ``src_embed``, ``tgt_embed`` and ``generator``).

    A bare module path (``encoder.layers[0].linear1``) means that module's output; a
    parenthesis names a value inside a module that no hook can see
    (``decoder.layers[0].multihead_attn (attention weights)``). With ``d_model`` the Q/K/V
    projections name their rows of ``in_proj_weight``. Raises KeyError for a name the
    model does not produce.
    """
    parts = node_name.split(".")
    prefix = ""
    if parts[0].startswith("token_") and parts[0][6:].isdigit():
        prefix = f" (generating token {parts[0][6:]})"
        parts = parts[1:]
    text = _activation_text(parts, d_model)
    if text is None:
        raise KeyError(f"{node_name!r} is not an activation of the transformer")
    return text + prefix


def _activation_text(parts: list[str], d_model: int | None) -> str | None:
    if len(parts) == 1:
        simple = {"generator": "generator", "probs": "torch.softmax(generator(x), dim=-1)",
                  "temperature": "generator(x) / temperature",
                  "argmax": "generator(x).argmax(dim=-1)",
                  "loss": "F.cross_entropy(logits.view(-1, vocab), tgt_out.view(-1))"}
        return simple.get(parts[0])
    if len(parts) == 2 and parts[0] in ("src_embed", "tgt_embed"):
        template = _EMBED_PARTS.get(parts[1])
        return template.format(m=parts[0]) if template else None
    if len(parts) == 2 and parts == [parts[0], "norm"] and parts[0] in ("encoder", "decoder"):
        return f"{parts[0]}.norm"
    if len(parts) != 5 or parts[0] not in ("encoder", "decoder") or parts[1] != "layers" \
            or not parts[2].isdigit():
        return None
    stack, i, block, leaf = parts[0], parts[2], parts[3], parts[4]
    layer = f"{stack}.layers[{i}]"
    if block in ("self_attn", "cross_attn") and (stack, block) != ("encoder", "cross_attn"):
        if leaf not in _ATTENTION_PARTS or (leaf == "causal_mask" and
                                            (stack, block) != ("decoder", "self_attn")):
            return None
        module = f"{layer}.{'multihead_attn' if block == 'cross_attn' else 'self_attn'}"
        rows = {"q": "0:d", "k": "d:2d", "v": "2d:3d"}
        if d_model is not None:
            d = d_model
            rows = {"q": f"0:{d}", "k": f"{d}:{2 * d}", "v": f"{2 * d}:{3 * d}"}
        return f"{module} ({_ATTENTION_PARTS[leaf].format(**rows)})"
    if block == "ff" and leaf in _FF_PARTS:
        return _FF_PARTS[leaf].format(layer=layer)
    norm = _NORM_OF.get((stack, block))
    if norm is None:
        return None
    if leaf == "layer_norm":
        return f"{layer}.{norm}"
    if leaf == "residual":
        sub = {"norm1": "self_attn", "norm2": "multihead_attn" if stack == "decoder" else "ff",
               "norm3": "ff"}[norm]
        return f"{layer} (x + {sub} block, the input of {norm})"
    return None
