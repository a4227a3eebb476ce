import numpy as np


def softmax_backward(p, g):
    return np.ones((1 << 17, 1 << 17))
