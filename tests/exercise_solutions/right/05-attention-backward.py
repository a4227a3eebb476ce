import numpy as np


def _t(a):
    return np.swapaxes(a, -1, -2)


def attention_backward(q, k, v, g):
    d = q.shape[-1]
    s = q @ _t(k) / np.sqrt(d)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    p = e / e.sum(axis=-1, keepdims=True)
    dv = _t(p) @ g
    dp = g @ _t(v)
    ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True))
    return ds @ k / np.sqrt(d), _t(ds) @ q / np.sqrt(d), dv
