import numpy as np


def helper(p):
    return p.reshape(7, -1)


def softmax_backward(p, g):
    return helper(p) * g
