import numpy as np


def embedding_backward(ids, g, vocab_size):
    dW = np.zeros((vocab_size, g.shape[-1]))
    np.add.at(dW, ids.reshape(-1), g.reshape(-1, g.shape[-1]))
    return dW
