"""The mistake: the frequency exponent uses 2·(column) instead of the even column 2i."""
import numpy as np


def positional_encoding(T, d_model):
    pos = np.arange(T)[:, None]
    cols = np.arange(0, d_model, 2)
    angle = pos / 10000.0 ** (2 * cols / d_model)
    pe = np.zeros((T, d_model))
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle)
    return pe
