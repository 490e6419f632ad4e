# minigan/optim/sgd.py: stochastic gradient descent with momentum, Nesterov momentum
# and L2 weight decay (PyTorch torch.optim.SGD semantics, no dampening).
from __future__ import annotations

from collections.abc import Iterable

from ..nn.module import Parameter
from .optimizer import Optimizer


class SGD(Optimizer):
    """p ← p - lr·d, per parameter, with g = grad + weight_decay·p and

    - no momentum: d = g
    - momentum μ: b ← μ·b + g (b = g on the first step); d = b, or d = g + μ·b (nesterov).

    This is PyTorch's formulation (lr multiplies the buffer, not the gradient inside it).
    """

    hyperparameters = ("lr", "momentum", "weight_decay", "nesterov")

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(params)
        self.lr, self.momentum = float(lr), float(momentum)
        self.weight_decay, self.nesterov = float(weight_decay), bool(nesterov)
        self._check_hyperparameters()

    def _check_hyperparameters(self) -> None:
        if self.lr < 0:
            raise ValueError(f"SGD: invalid lr {self.lr} (must be >= 0)")
        if self.momentum < 0:
            raise ValueError(f"SGD: invalid momentum {self.momentum} (must be >= 0)")
        if self.weight_decay < 0:
            raise ValueError(f"SGD: invalid weight_decay {self.weight_decay} (must be >= 0)")
        if self.nesterov and self.momentum <= 0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")

    def step(self) -> None:
        """One update of every parameter that has a gradient (in place on p.data, which
        bumps p's version: a backward through a graph built before the step raises, as in
        PyTorch); a step with no gradient at all warns once (see Optimizer)."""
        if not self._any_gradient():
            return
        for p, state in zip(self.params, self.state, strict=True):
            if p.grad is None:
                continue
            d = p.grad.data
            if self.weight_decay != 0:
                d = d + self.weight_decay * p.data
            if self.momentum != 0:
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = d.copy()
                    state["momentum_buffer"] = buf
                else:
                    buf *= self.momentum
                    buf += d
                d = d + self.momentum * buf if self.nesterov else buf
            p.data -= self.lr * d
            p._bump_version()  # an in-place write: graphs that used p before it now raise
