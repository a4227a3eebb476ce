"""The mistake: a step along the gradient instead of against it."""


def sgd_step(w, g, lr):
    return w + lr * g
