# minigan/optim/adam.py: Adam (PyTorch torch.optim.Adam semantics, L2 weight decay).
# The arithmetic is the backend's fused `adam_step` kernel, called once per device per
# step with the lists of every parameter that has a gradient.
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import backend
from ..device import array_module_of
from ..nn.module import Parameter
from .optimizer import Optimizer


class Adam(Optimizer):
    """Adam. For each parameter p with gradient g and its own step count t (1, 2, ...):

        g ← g + weight_decay·p
        m ← β1·m + (1-β1)·g          v ← β2·v + (1-β2)·g²
        p ← p - lr · (m / (1-β1^t)) / (√(v / (1-β2^t)) + eps)

    m (``exp_avg``) and v (``exp_avg_sq``) live on the parameter's device. Parameters
    are grouped by (device, dtype, t) (one group per device in practice: t only differs when
    a parameter skipped steps without a gradient), and each group is ONE call of
    ``backend.kernel("adam_step", device)``, which updates the arrays in place.
    """

    hyperparameters = ("lr", "betas", "eps", "weight_decay")

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params)
        self.lr, self.eps, self.weight_decay = float(lr), float(eps), float(weight_decay)
        self.betas = (float(betas[0]), float(betas[1]))
        self._check_hyperparameters()

    def _check_hyperparameters(self) -> None:
        self.betas = tuple(float(b) for b in self.betas)  # type: ignore[assignment]
        if self.lr < 0:
            raise ValueError(f"Adam: invalid lr {self.lr} (must be >= 0)")
        if self.eps < 0:
            raise ValueError(f"Adam: invalid eps {self.eps} (must be >= 0)")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"Adam: invalid betas {self.betas} (each must be in [0, 1))")
        if self.weight_decay < 0:
            raise ValueError(f"Adam: invalid weight_decay {self.weight_decay} (must be >= 0)")

    def step(self) -> None:
        """One Adam update of every parameter that has a gradient (in place on p.data, by
        the fused kernel; each updated p's version is bumped, so a backward through a
        graph built before the step raises, as in PyTorch); a step with no gradient at all
        warns once (see Optimizer)."""
        if not self._any_gradient():
            return
        groups: dict[tuple[str, Any, int], list[list[Any]]] = {}
        updated: list[Parameter] = []
        for p, state in zip(self.params, self.state, strict=True):
            if p.grad is None:
                continue
            updated.append(p)
            if not state:
                xp = array_module_of(p.data)
                state["step"] = 0
                state["exp_avg"] = xp.zeros_like(p.data)
                state["exp_avg_sq"] = xp.zeros_like(p.data)
            state["step"] += 1
            lists = groups.setdefault((p.device, p.dtype, state["step"]), [[], [], [], []])
            for lst, arr in zip(
                lists, (p.data, p.grad.data, state["exp_avg"], state["exp_avg_sq"]), strict=True
            ):
                lst.append(arr)
        beta1, beta2 = self.betas
        for (device, dtype, step), (ps, gs, ms, vs) in groups.items():
            kernel = backend.kernel("adam_step", device, dtype)
            kernel(ps, gs, ms, vs, step, self.lr, beta1, beta2, self.eps, self.weight_decay)
        for p in updated:
            p._bump_version()  # written in place: graphs that used p before now raise
