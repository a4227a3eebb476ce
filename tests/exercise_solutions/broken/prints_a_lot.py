def softmax_backward(p, g):
    for i in range(200_000):
        print(f"line {i} of a learner who prints a lot")
    return p * (g - (g * p).sum(axis=-1, keepdims=True))
