def softmax_backward(p, g):
    dx = p * (g - (g * p).sum(axis=-1, keepdims=True))
