"""Worked elements for the neural-network kinds of recorded ops: softmax, log-softmax,
layer norm, embedding, sum and mean, NLL and cross-entropy, scaled dot-product attention
(see ``engine.pytorch.worked`` for the conventions)."""

from __future__ import annotations

import math

import numpy as np

from engine.ops.base import Worked, fmt, idx, paren, sum_terms


def _dot(u, v) -> str:
    return sum_terms([f"{paren(p)}×{paren(q)}" for p, q in zip(u, v)])


def _dim(a, ndim: int, default=-1) -> int:
    dim = a.value("dim", default)
    if dim is None:
        dim = default
    return int(dim) % max(ndim, 1)


def _row(x, index, dim):
    """The slice of ``x`` along ``dim`` through ``index``, and ``index``'s place in it."""
    where = list(index)
    where[dim] = slice(None)
    return x[tuple(where)], index[dim]


# softmax and log-softmax -------------------------------------------------------------------

def _softmax_forward(a, index, y):
    x = a.tensor("self", "input", position=0)
    row, i = _row(x, index, _dim(a, x.ndim))
    terms = [f"exp({fmt(v)})" for v in row]
    return Worked(f"p{idx(index)}", f"exp(x[…,{i}]) / Σⱼ exp(x[…,j])",
                  f"exp({fmt(row[i])}) / ({sum_terms(terms)})", float(y[index]))


def _softmax_backward(a, which, index, y, g, grad):
    dim = _dim(a, y.ndim)
    p_row, i = _row(y.astype(float), index, dim)
    g_row, _ = _row(g, index, dim)
    dot = float((g_row * p_row).sum())
    scale = float(np.abs(g_row).max(initial=0.0))
    return Worked(f"∂L/∂x{idx(index)}", "p·(upstream − Σⱼ upstream[j]·p[j])",
                  f"{fmt(p_row[i])} × ({paren(g_row[i])} − {paren(dot, scale)})",
                  float(grad[index]))


def _log_softmax_forward(a, index, y):
    x = a.tensor("self", "input", position=0)
    row, i = _row(x, index, _dim(a, x.ndim))
    terms = [f"exp({fmt(v)})" for v in row]
    return Worked(f"y{idx(index)}", f"x[…,{i}] − log Σⱼ exp(x[…,j])",
                  f"{paren(row[i])} − log({sum_terms(terms)})", float(y[index]))


def _log_softmax_backward(a, which, index, y, g, grad):
    dim = _dim(a, y.ndim)
    p_row, i = _row(np.exp(y.astype(float)), index, dim)
    g_row, _ = _row(g, index, dim)
    total = float(g_row.sum())
    return Worked(f"∂L/∂x{idx(index)}", "upstream[i] − softmax(x)[i]·Σⱼ upstream[j]",
                  f"{paren(g_row[i])} − {fmt(p_row[i])} × {paren(total)}", float(grad[index]))


# layer norm ------------------------------------------------------------------------------------

def _layer_norm_parts(a):
    x = a.tensor("input", position=0)
    shape = tuple(a.value("normalized_shape", (x.shape[-1],)))
    d = int(np.prod(shape))
    weight, bias = a.tensor("weight"), a.tensor("bias")
    gamma = np.ones(d) if weight is None else weight.reshape(d)
    beta = np.zeros(d) if bias is None else bias.reshape(d)
    x2 = x.reshape(-1, d)
    mu = x2.mean(axis=1)
    std = np.sqrt(((x2 - mu[:, None]) ** 2).mean(axis=1) + float(a.value("eps", 1e-5)))
    return x, shape, d, gamma, beta, x2, mu, std


def _flat(index, shape, d, k):
    """(row, column) of ``index`` in the input seen as rows of the normalized size."""
    outer = int(np.ravel_multi_index(index[:len(shape) - k], shape[:len(shape) - k])) \
        if len(shape) > k else 0
    inner = int(np.ravel_multi_index(index[len(shape) - k:], shape[len(shape) - k:]))
    return outer, inner


def _layer_norm_forward(a, index, y):
    x, shape, d, gamma, beta, x2, mu, std = _layer_norm_parts(a)
    r, j = _flat(index, x.shape, d, len(shape))
    return Worked(f"y{idx(index)}", f"γ[{j}]·(x − μ)/σ + β[{j}]",
                  f"{fmt(gamma[j])} × ({fmt(x2[r, j])} − {paren(mu[r])})/{fmt(std[r])} + "
                  f"{paren(beta[j])}", float(y[index]))


def _layer_norm_backward(a, which, index, y, g, grad):
    x, shape, d, gamma, beta, x2, mu, std = _layer_norm_parts(a)
    g2 = g.reshape(-1, d)
    xhat = (x2 - mu[:, None]) / std[:, None]
    role = a.role(which)
    if role in ("weight", "bias"):
        j = int(np.ravel_multi_index(index, shape)) if index else 0
        if role == "weight":
            return Worked(f"∂L/∂γ{idx(index)}", f"Σ over positions upstream[p,{j}]·x̂[p,{j}]",
                          _dot(g2[:, j], xhat[:, j]), float(grad[index]))
        return Worked(f"∂L/∂β{idx(index)}", f"Σ over positions upstream[p,{j}]",
                      sum_terms([paren(v) for v in g2[:, j]]), float(grad[index]))
    r, j = _flat(index, x.shape, d, len(shape))
    gh = g2[r] * gamma
    ghx = gh * xhat[r]
    mean_gh = paren(gh.mean(), np.abs(gh).max(initial=0.0))
    mean_ghx = paren(ghx.mean(), np.abs(ghx).max(initial=0.0))
    return Worked(f"∂L/∂x{idx(index)}", "(1/σ)(ĝ − mean ĝ − x̂·mean(ĝ·x̂)), ĝ = upstream·γ",
                  f"(1/{fmt(std[r])}) × ({fmt(gh[j])} − {mean_gh} − {paren(xhat[r, j])} × "
                  f"{mean_ghx})", float(grad[index]))


# embedding ---------------------------------------------------------------------------------------

def _embedding_parts(a):
    weight = a.tensor("weight")
    ids = np.asarray(a.xs[a.names.index("indices" if "indices" in a.names else "input")])
    padding = a.value("padding_idx", None)
    if padding is not None and padding < 0:
        padding = None if padding == -1 and "indices" in a.names else padding + weight.shape[0]
    return weight, ids.astype(int), padding


def _embedding_forward(a, index, y):
    if a.value("max_norm") is not None:
        return None
    weight, ids, _ = _embedding_parts(a)
    *pos, k = index
    v = int(ids[tuple(pos)])
    return Worked(f"y{idx(index)}", f"W[ids{idx(tuple(pos))}, {k}] = W[{v},{k}]",
                  fmt(weight[v, k]), float(y[index]))


def _embedding_backward(a, which, index, y, g, grad):
    if a.value("max_norm") is not None or a.value("scale_grad_by_freq", False):
        return None
    weight, ids, padding = _embedding_parts(a)
    v, k = index
    if padding is not None and v == padding:
        return Worked(f"∂L/∂W{idx(index)}", f"0: row {v} is padding_idx, it gets no gradient",
                      "0", float(grad[index]))
    hits = [tuple(p) for p in np.argwhere(ids == v)]
    terms = [paren(g[p + (k,)]) for p in hits]
    numeric = sum_terms(terms) if terms else "0"
    return Worked(f"∂L/∂W{idx(index)}", f"Σ upstream[p,{k}] over positions p with id {v}",
                  numeric, float(grad[index]))


# sum and mean ----------------------------------------------------------------------------------

def _reduced(a, ndim):
    dim = a.value("dim", None)
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return tuple(range(ndim))
    dims = dim if isinstance(dim, (list, tuple)) else (dim,)
    return tuple(sorted(int(d) % ndim for d in dims))


def _reduce_forward(mean: bool):
    def forward(a, index, y):
        x = a.tensor("self", "input", position=0)
        dims = _reduced(a, x.ndim)
        keep = bool(a.value("keepdim", False))
        rest = iter(index)
        where = []
        for d in range(x.ndim):
            if d in dims:
                where.append(slice(None))
                if keep:
                    next(rest)
            else:
                where.append(next(rest))
        values = x[tuple(where)].ravel()
        terms = sum_terms([paren(v) for v in values])
        if mean:
            return Worked(f"y{idx(index)}", "(1/n) Σ x", f"({terms}) / {values.size}",
                          float(y[index]))
        return Worked(f"y{idx(index)}", "Σ x", terms, float(y[index]))

    def backward(a, which, index, y, g, grad):
        x = a.tensor("self", "input", position=0)
        dims = _reduced(a, x.ndim)
        keep = bool(a.value("keepdim", False))
        at = tuple(0 if d in dims else index[d] for d in range(x.ndim)) if keep else \
            tuple(index[d] for d in range(x.ndim) if d not in dims)
        up = float(np.asarray(g)[at]) if at else float(g)
        n = int(np.prod([x.shape[d] for d in dims]))
        if mean:
            return Worked(f"∂L/∂x{idx(index)}", "upstream × 1/n", f"{paren(up)} × 1/{n}",
                          float(grad[index]))
        return Worked(f"∂L/∂x{idx(index)}", "upstream × 1", f"{paren(up)} × 1",
                      float(grad[index]))

    return forward, backward


# losses -----------------------------------------------------------------------------------------

REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}


def _loss_setup(a, logits):
    """(rows of class scores, targets, kept rows, reduction) or None for what is not
    worked here (weights, label smoothing, more than (N, C))."""
    if a.tensor("weight") is not None or a.value("label_smoothing", 0.0):
        return None
    target = np.asarray(a.xs[a.names.index("target")])
    if target.dtype.kind == "f" or logits.ndim not in (1, 2):
        return None
    reduction = a.value("reduction", "mean")
    reduction = REDUCTIONS.get(reduction, reduction)
    if a.value("reduce") is not None or a.value("size_average") is not None:
        return None
    rows = logits.reshape(-1, logits.shape[-1])
    t = target.reshape(-1).astype(int)
    kept = [n for n in range(t.size) if t[n] != int(a.value("ignore_index", -100))]
    return rows, t, kept, reduction


def _nll_like(log_probs):
    def forward(a, index, y):
        z = a.tensor("self", "input", position=0)
        setup = _loss_setup(a, z)
        if setup is None:
            return None
        rows, t, kept, reduction = setup
        logp = log_probs(rows)
        if reduction == "none":
            n = int(np.ravel_multi_index(index, y.shape)) if index else 0
            return Worked(f"L{idx(index)}", "−log p[n, tₙ]", f"−{paren(logp[n, t[n]])}",
                          float(y[index]))
        terms = sum_terms([paren(logp[n, t[n]]) for n in kept])
        if reduction == "mean":
            return Worked("L", "−(1/N) Σₙ log p[n, tₙ]", f"−(1/{len(kept)}) × ({terms})",
                          float(y))
        return Worked("L", "−Σₙ log p[n, tₙ]", f"−({terms})", float(y))

    def backward(a, which, index, y, g, grad):
        z = a.tensor("self", "input", position=0)
        setup = _loss_setup(a, z)
        if setup is None or a.role(which) == "target":
            return None
        rows, t, kept, reduction = setup
        n, c = (0, index[0]) if z.ndim == 1 else index
        up = float(g.reshape(-1)[n]) if reduction == "none" else float(g)
        count = len(kept) if reduction == "mean" else 1
        onehot = 1 if (c == t[n] and n in kept) else 0
        if log_probs is _identity:  # nll: −upstream/N at the target, 0 elsewhere
            return Worked(f"∂L/∂logp{idx(index)}", "−upstream/N at the target, else 0",
                          f"−{paren(up)} × {onehot} / {count}", float(grad[index]))
        p = np.exp(_log_softmax(rows))[n, c]
        if n not in kept:
            return Worked(f"∂L/∂z{idx(index)}", "0: this target is ignore_index", "0",
                          float(grad[index]))
        return Worked(f"∂L/∂z{idx(index)}", "upstream × (p − onehot) / N",
                      f"{paren(up)} × ({fmt(p)} − {onehot}) / {count}", float(grad[index]))

    return forward, backward


def _identity(rows):
    return rows


def _log_softmax(rows):
    shifted = rows - rows.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


# scaled dot-product attention -------------------------------------------------------------------

def _attention(a):
    """(Q, K, V, P, scale) in float64, or None where not worked (GQA, dropout)."""
    q, k, v = a.tensor("query"), a.tensor("key"), a.tensor("value")
    if q is None or k is None or v is None or a.value("enable_gqa", False) \
            or q.shape[:-2] != k.shape[:-2] or k.shape[:-2] != v.shape[:-2]:
        return None
    if a.value("dropout_p", 0.0):
        return None
    scale = a.value("scale", None)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    s = q @ np.swapaxes(k, -1, -2) * scale
    mask = a.tensor("attn_mask")
    if a.value("is_causal", False):
        causal = np.tril(np.ones((q.shape[-2], k.shape[-2]), dtype=bool))
        s = np.where(causal, s, -np.inf)
    if mask is not None:
        raw = np.asarray(a.xs[a.names.index("attn_mask")])
        s = np.where(raw, s, -np.inf) if raw.dtype == bool else s + mask
    s = s - s.max(axis=-1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(axis=-1, keepdims=True)
    return q, k, v, p, scale


def _sdpa_forward(a, index, y):
    parts = _attention(a)
    if parts is None:
        return None
    q, k, v, p, scale = parts
    *batch, i, j = index
    batch = tuple(batch)
    return Worked(f"Y{idx(index)}", f"Σₖ P[…,{i},k]·V[…,k,{j}], P = softmax(Q Kᵀ·{fmt(scale)})",
                  _dot(p[batch + (i,)], v[batch + (slice(None), j)]), float(y[index]))


def _sdpa_backward(a, which, index, y, g, grad):
    parts = _attention(a)
    if parts is None:
        return None
    q, k, v, p, scale = parts
    role = a.role(which)
    *batch, r, c = index
    batch = tuple(batch)
    if role == "value":
        return Worked(f"∂L/∂V{idx(index)}", f"Σᵢ P[…,i,{r}]·upstream[…,i,{c}]",
                      _dot(p[batch + (slice(None), r)], g[batch + (slice(None), c)]),
                      float(grad[index]))
    dp = g @ np.swapaxes(v, -1, -2)
    ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True))
    if role == "query":
        return Worked(f"∂L/∂Q{idx(index)}", f"scale·Σₖ dS[…,{r},k]·K[…,k,{c}]",
                      f"{fmt(scale)} × ({_dot(ds[batch + (r,)], k[batch + (slice(None), c)])})",
                      float(grad[index]))
    if role == "key":
        column = batch + (slice(None),)
        return Worked(f"∂L/∂K{idx(index)}", f"scale·Σᵢ dS[…,i,{r}]·Q[…,i,{c}]",
                      f"{fmt(scale)} × ({_dot(ds[column + (r,)], q[column + (c,)])})",
                      float(grad[index]))
    return None


def register(forward: dict, backward: dict) -> None:
    forward.update(softmax=_softmax_forward, log_softmax=_log_softmax_forward,
                   layer_norm=_layer_norm_forward, embedding=_embedding_forward,
                   sdpa=_sdpa_forward)
    backward.update(softmax=_softmax_backward, log_softmax=_log_softmax_backward,
                    layer_norm=_layer_norm_backward, embedding=_embedding_backward,
                    sdpa=_sdpa_backward)
    forward["sum"], backward["sum"] = _reduce_forward(False)
    forward["mean"], backward["mean"] = _reduce_forward(True)
    forward["nll"], backward["nll"] = _nll_like(_identity)
    forward["cross_entropy"], backward["cross_entropy"] = _nll_like(_log_softmax)
