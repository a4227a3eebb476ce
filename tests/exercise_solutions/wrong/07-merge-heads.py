"""The mistake: a reshape with no transpose first."""


def merge_heads(x):
    b, h, t, dk = x.shape
    return x.reshape(b, t, h * dk)
