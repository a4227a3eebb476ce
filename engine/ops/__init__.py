"""The primitive ops, each with forward, backward (VJP), formula, local derivative
and PyTorch spelling side by side. ``OPS`` maps an op's name to its class."""

from engine.ops.base import Op, Worked, fmt, unbroadcast
from engine.ops.elementwise import Add, Divide, Exp, Log, Multiply, Negate, Power, Relu, Scale, Subtract, Tanh
from engine.ops.linalg import Linear, MatMul, Mean, Sum
from engine.ops.nn import Argmax, CrossEntropy, Embedding, LayerNorm, MaskedFill, Softmax
from engine.ops.shape import MergeHeads, Reshape, SplitHeads, Transpose

ALL_OPS = (Add, Subtract, Multiply, Divide, Negate, Power, Scale, Exp, Log, Tanh, Relu,
           MatMul, Linear, Sum, Mean, Transpose, Reshape, SplitHeads, MergeHeads,
           Softmax, LayerNorm, Embedding, MaskedFill, CrossEntropy, Argmax)
OPS = {op.name: op for op in ALL_OPS}

__all__ = ["OPS", "ALL_OPS", "Op", "Worked", "fmt", "unbroadcast"] + [op.__name__ for op in ALL_OPS]
