# minigan.optim: optimizers that update nn.Parameters in place from their gradients.
from __future__ import annotations

from .adam import Adam
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["SGD", "Adam", "Optimizer"]
