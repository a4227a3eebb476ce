def softmax_grad(p, g):
    return p
