"""The neural-network ops: softmax, layer norm, embedding lookup, masking,
cross-entropy and argmax. Each has its closed-form backward."""

from __future__ import annotations

import numpy as np

from engine.buffers import pooled
from engine.ops.base import Op, Worked, fmt, idx, paren, sum_terms


class Softmax(Op):
    name = "softmax"
    formula = "p[i] = exp(x[i]) / Σⱼ exp(x[j])   (over the last axis)"
    derivative = "∂L/∂x[i] = p[i]·(g[i] − Σⱼ g[j]·p[j])   (Jacobian diag(p) − p pᵀ)"
    torch = "torch.softmax({x}, dim=-1)"
    symbols = {"p": "output"}

    @staticmethod
    def forward(x):
        shifted = np.exp(x - x.max(axis=-1, keepdims=True))
        p = pooled(np.divide, shifted, shifted.sum(axis=-1, keepdims=True))
        return p, p

    @staticmethod
    def backward(g, p):
        return (pooled(np.multiply, p, g - (g * p).sum(axis=-1, keepdims=True)),)

    @staticmethod
    def torch_forward(torch, x):
        return torch.softmax(x, dim=-1)

    @classmethod
    def worked_forward(cls, index, xs, y, attrs):
        row = xs[0][index[:-1]]
        i = index[-1]
        terms = [f"exp({fmt(v)})" for v in row]
        return Worked(f"p{idx(index)}", f"exp(x[…,{i}]) / Σⱼ exp(x[…,j])",
                      f"exp({fmt(row[i])}) / ({sum_terms(terms)})", float(y[index]))

    @classmethod
    def worked_backward(cls, which, index, xs, y, g, grad, attrs):
        row = index[:-1]
        dot = float((g[row] * y[row]).sum())
        scale = float(np.abs(g[row]).max(initial=0.0))  # Σ g·p with Σ p = 1: at most max|g|
        return Worked(f"∂L/∂x{idx(index)}", "p·(upstream − Σⱼ upstream[j]·p[j])",
                      f"{fmt(y[index])} × ({paren(g[index])} − {paren(dot, scale)})",
                      float(grad[index]))


class LayerNorm(Op):
    name = "layer_norm"
    formula = "y = γ·(x − μ)/√(σ² + ε) + β   (μ, σ² over the last axis)"
    derivative = ("∂L/∂x = (1/σ)(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = g·γ;  "
                  "∂L/∂γ = Σ g·x̂;  ∂L/∂β = Σ g")
    torch = "F.layer_norm({x}, (d,), {weight}, {bias}, eps={eps})"
    inputs = ("x", "weight", "bias")
    differentiable = (True, True, True)
    symbols = {"γ": 1, "β": 2}

    @staticmethod
    def forward(x, gamma, beta, eps=1e-5):
        d = x.shape[-1]
        xhat = pooled(np.subtract, x, x.mean(axis=-1, keepdims=True))
        var = np.einsum("...i,...i->...", xhat, xhat)[..., None] / d
        inv_std = 1.0 / np.sqrt(var + eps)
        xhat *= inv_std
        y = pooled(np.multiply, xhat, gamma)
        y += beta
        return y, (xhat, inv_std, gamma)

    @staticmethod
    def backward(g, saved):
        xhat, inv_std, gamma = saved
        d = g.shape[-1]
        gh = pooled(np.multiply, g, gamma)
        mean_gh = gh.mean(axis=-1, keepdims=True)
        mean_gh_xhat = np.einsum("...i,...i->...", gh, xhat)[..., None] / d
        dx = gh
        dx -= mean_gh
        dx -= xhat * mean_gh_xhat
        dx *= inv_std
        g2, xh2 = g.reshape(-1, d), xhat.reshape(-1, d)
        return dx, np.einsum("ij,ij->j", g2, xh2), g2.sum(axis=0)

    @staticmethod
    def torch_forward(torch, x, gamma, beta, eps=1e-5):
        return torch.nn.functional.layer_norm(x, (x.shape[-1],), gamma, beta, eps=eps)

    @staticmethod
    def _stats(x, eps):
        mu = x.mean(axis=-1, keepdims=True)
        std = np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + eps)
        return mu, std, (x - mu) / std

    @classmethod
    def worked_forward(cls, index, xs, y, attrs):
        x, gamma, beta = xs
        mu, std, xhat = cls._stats(x, attrs.get("eps", 1e-5))
        row, j = index[:-1], index[-1]
        return Worked(f"y{idx(index)}", f"γ[{j}]·(x − μ)/σ + β[{j}]",
                      f"{fmt(gamma[j])} × ({fmt(x[index])} − {paren(mu[row][0])})"
                      f"/{fmt(std[row][0])} + {paren(beta[j])}", float(y[index]))

    @classmethod
    def worked_backward(cls, which, index, xs, y, g, grad, attrs):
        x, gamma, beta = xs
        mu, std, xhat = cls._stats(x, attrs.get("eps", 1e-5))
        d = x.shape[-1]
        if which == 0:
            row = index[:-1]
            gh = g[row] * gamma
            ghx = gh * xhat[row]
            # Both means are exactly 0 when the upstream itself came out of a layer norm's
            # backward; their rounding noise is judged against the terms averaged.
            mean_gh = paren(gh.mean(), np.abs(gh).max(initial=0.0))
            mean_ghx = paren(ghx.mean(), np.abs(ghx).max(initial=0.0))
            return Worked(f"∂L/∂x{idx(index)}", "(1/σ)(ĝ − mean ĝ − x̂·mean(ĝ·x̂)), ĝ = upstream·γ",
                          f"(1/{fmt(std[row][0])}) × ({fmt(gh[index[-1]])} − {mean_gh}"
                          f" − {paren(xhat[index])} × {mean_ghx})",
                          float(grad[index]))
        (j,) = index
        g2, xh2 = g.reshape(-1, d), xhat.reshape(-1, d)
        if which == 1:
            terms = [f"{paren(p)}×{paren(q)}" for p, q in zip(g2[:, j], xh2[:, j])]
            return Worked(f"∂L/∂weight[{j}]", f"Σ over positions upstream[p,{j}]·x̂[p,{j}]",
                          sum_terms(terms), float(grad[index]))
        terms = [paren(p) for p in g2[:, j]]
        return Worked(f"∂L/∂bias[{j}]", f"Σ over positions upstream[p,{j}]", sum_terms(terms),
                      float(grad[index]))


class Embedding(Op):
    name = "embedding"
    formula = "y[b,t,:] = W[ids[b,t], :]   (look up one row per token)"
    derivative = "∂L/∂W[v] = Σ of upstream rows at positions whose id is v (repeats add up)"
    torch = "F.embedding({ids}, {weight})"
    inputs = ("ids", "weight")
    symbols = {"W": 1}
    differentiable = (False, True)

    @staticmethod
    def forward(ids, w):
        return w[ids], (ids, w.shape)

    @staticmethod
    def backward(g, saved):
        ids, shape = saved
        dw = np.zeros(shape)
        np.add.at(dw, ids.reshape(-1), g.reshape(-1, shape[1]))
        return None, dw

    @staticmethod
    def torch_forward(torch, ids, w):
        return torch.nn.functional.embedding(ids, w)

    @classmethod
    def worked_forward(cls, index, xs, y, attrs):
        ids, w = xs
        *pos, k = index
        v = int(ids[tuple(pos)])
        return Worked(f"y{idx(index)}", f"W[ids{idx(tuple(pos))}, {k}] = W[{v},{k}]",
                      fmt(w[v, k]), float(y[index]))

    @classmethod
    def worked_backward(cls, which, index, xs, y, g, grad, attrs):
        ids = xs[0]
        v, k = index
        hits = [tuple(p) for p in np.argwhere(ids == v)]
        terms = [f"upstream{idx(p + (k,))}={fmt(g[p + (k,)])}" for p in hits]
        numeric = sum_terms(terms) if terms else f"0 (token {v} does not occur)"
        return Worked(f"∂L/∂weight{idx(index)}", f"Σ upstream[p,{k}] over positions p with id {v}",
                      numeric, float(grad[index]))


class MaskedFill(Op):
    name = "masked_fill"
    formula = "y = value where mask, else x   (the causal mask sets future scores to −∞)"
    derivative = "∂y/∂x = 0 where mask, 1 elsewhere"
    torch = "{x}.masked_fill(mask, {value})"

    @staticmethod
    def forward(x, mask, value=-np.inf):
        return np.where(mask, value, x), mask

    @staticmethod
    def backward(g, mask):
        return (np.where(mask, 0.0, g),)

    @staticmethod
    def torch_forward(torch, x, mask, value=-np.inf):
        return x.masked_fill(torch.as_tensor(mask), value)

    @classmethod
    def worked_forward(cls, index, xs, y, attrs):
        masked = bool(np.broadcast_to(attrs["mask"], y.shape)[index])
        if masked:
            return Worked(f"y{idx(index)}", "value (masked)", fmt(attrs.get("value", -np.inf)),
                          float(y[index]))
        return Worked(f"y{idx(index)}", f"x{idx(index)} (not masked)", fmt(xs[0][index]),
                      float(y[index]))

    @classmethod
    def worked_backward(cls, which, index, xs, y, g, grad, attrs):
        masked = bool(np.broadcast_to(attrs["mask"], y.shape)[index])
        local = 0 if masked else 1
        why = "masked" if masked else "kept"
        return Worked(f"∂L/∂x{idx(index)}", f"upstream × {local} ({why})",
                      f"{paren(g[index])} × {local}", float(grad[index]))


class CrossEntropy(Op):
    name = "cross_entropy"
    formula = "L = −(1/N) Σₙ log softmax(z[n])[yₙ]   (log-softmax + NLL, mean over N tokens)"
    derivative = "∂L/∂z[n] = (softmax(z[n]) − onehot(yₙ)) / N   (p − y)"
    torch = "F.cross_entropy({logits}.view(-1, V), {targets}.view(-1))"
    inputs = ("logits", "targets")
    symbols = {"z": 0, "L": "output", "y": None}  # y here is the target, one-hot
    differentiable = (True, False)

    @staticmethod
    def forward(logits, targets):
        shifted = logits - logits.max(axis=-1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        flat = logp.reshape(-1, logp.shape[-1])
        t = targets.reshape(-1)
        loss = -flat[np.arange(t.size), t].mean()
        return np.asarray(loss), (logp, targets)

    @staticmethod
    def backward(g, saved):
        logp, targets = saved
        p = np.exp(logp)
        v = logp.shape[-1]
        flat = p.reshape(-1, v)
        t = targets.reshape(-1)
        flat[np.arange(t.size), t] -= 1.0
        return flat.reshape(logp.shape) * (g / t.size), None

    @staticmethod
    def torch_forward(torch, logits, targets):
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 targets.reshape(-1))

    @staticmethod
    def _logp(logits):
        shifted = logits - logits.max(axis=-1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))

    @classmethod
    def worked_forward(cls, index, xs, y, attrs):
        logits, targets = xs
        logp = cls._logp(logits).reshape(-1, logits.shape[-1])
        t = targets.reshape(-1)
        terms = [paren(logp[n, t[n]]) for n in range(t.size)]
        return Worked("L", "−(1/N) Σₙ log p[n, yₙ]", f"−(1/{t.size}) × ({sum_terms(terms)})",
                      float(y))

    @classmethod
    def worked_backward(cls, which, index, xs, y, g, grad, attrs):
        logits, targets = xs
        p = np.exp(cls._logp(logits))
        n = targets.size
        onehot = 1 if int(targets[index[:-1]]) == index[-1] else 0
        return Worked(f"∂L/∂logits{idx(index)}", "upstream × (p − onehot) / N",
                      f"{paren(g)} × ({fmt(p[index])} − {onehot}) / {n}", float(grad[index]))


class Argmax(Op):
    name = "argmax"
    formula = "y = argmaxᵢ x[i]   (index of the largest value, last axis)"
    derivative = "no gradient: a small change to x does not change which index wins"
    torch = "{x}.argmax(dim=-1)"
    differentiable = (False,)

    @staticmethod
    def forward(x):
        return np.argmax(x, axis=-1), None

    @staticmethod
    def backward(g, saved):
        return (None,)

    @staticmethod
    def torch_forward(torch, x):
        return x.argmax(dim=-1)

    @classmethod
    def worked_forward(cls, index, xs, y, attrs):
        row = xs[0][tuple(index)]
        best = int(np.argmax(row))
        return Worked(f"y{idx(index)}", "the index i of the largest x[…,i]",
                      f"x[…,{best}] = {fmt(row[best])} is the largest", float(y[index]),
                      result_joiner=" → ")
