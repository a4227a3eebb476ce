"""The numerics of transformer-tutor: NumPy only, float64, every op recorded.

``Tape`` records any small graph; ``Transformer`` is the encoder–decoder model built
on it; ``Timeline`` is a cursor over a recorded run. Torch is never imported here
except by ``engine.pytorch.twin``, lazily.

The names below are imported when first used, so that importing a small part of the
engine (``engine.memory`` at every start, ``engine.expr`` for the lesson list) does not
import NumPy and the model before the first screen needs them.
"""

__version__ = "0.1.0"

__all__ = ["Tape", "Tensor", "Node", "BackwardStep", "Contribution", "ModelConfig",
           "Transformer", "Run", "Decoding", "__version__"]


def __getattr__(name: str):
    if name == "ModelConfig":
        from engine.config import ModelConfig as value
    elif name == "Transformer":
        from engine.model import Transformer as value
    elif name == "Run":
        from engine.model import Run as value
    elif name == "Decoding":
        from engine.model import Decoding as value
    elif name == "Tape":
        from engine.tape import Tape as value
    elif name == "Tensor":
        from engine.tape import Tensor as value
    elif name == "Node":
        from engine.tape import Node as value
    elif name == "BackwardStep":
        from engine.tape import BackwardStep as value
    elif name == "Contribution":
        from engine.tape import Contribution as value
    else:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
