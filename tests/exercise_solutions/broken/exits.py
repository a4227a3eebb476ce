import sys


def softmax_backward(p, g):
    sys.exit(3)
