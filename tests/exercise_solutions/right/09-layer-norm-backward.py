import numpy as np


def layer_norm_backward(x, gamma, g, eps):
    d = x.shape[-1]
    mu = x.mean(axis=-1, keepdims=True)
    sigma = np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + eps)
    xhat = (x - mu) / sigma
    gh = g * gamma
    dx = (gh - gh.mean(axis=-1, keepdims=True)
          - xhat * (gh * xhat).mean(axis=-1, keepdims=True)) / sigma
    return dx, (g * xhat).reshape(-1, d).sum(axis=0), g.reshape(-1, d).sum(axis=0)
