"""The numerics of transformer-tutor: NumPy only, float64, every op recorded.

``Tape`` records any small graph; ``Transformer`` is the encoder–decoder model built
on it; ``Timeline`` is a cursor over a recorded run. Torch is never imported here
except by ``engine.pytorch.twin``, lazily.
"""

from engine.config import ModelConfig
from engine.model import Decoding, Run, Transformer
from engine.tape import BackwardStep, Contribution, Node, Tape, Tensor

__version__ = "0.1.0"

__all__ = ["Tape", "Tensor", "Node", "BackwardStep", "Contribution", "ModelConfig",
           "Transformer", "Run", "Decoding", "__version__"]
