import numpy as np


def sgd_step(w, g, lr):
    return w - lr * g
