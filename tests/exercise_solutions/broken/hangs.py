def softmax_backward(p, g):
    while True:
        pass
