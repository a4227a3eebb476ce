"""The mistake: a reshape straight to (B, h, T, dk), with no transpose."""


def split_heads(x, n_heads):
    b, t, d = x.shape
    return x.reshape(b, n_heads, t, d // n_heads)
