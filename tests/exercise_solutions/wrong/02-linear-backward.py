"""The mistake: a mean over positions where the bias gradient is a sum."""
import numpy as np


def linear_backward(x, W, g):
    x2 = x.reshape(-1, x.shape[-1])
    g2 = g.reshape(-1, g.shape[-1])
    return g @ W, g2.T @ x2, g2.mean(axis=0)
