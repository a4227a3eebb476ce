def softmax_backward(p, g):
    return (p * g).sum(axis=-1)
