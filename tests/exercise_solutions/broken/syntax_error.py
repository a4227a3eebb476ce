def softmax_backward(p, g)
    return p
