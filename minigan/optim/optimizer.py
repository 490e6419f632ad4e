# minigan/optim/optimizer.py: the Optimizer base class: holds the Parameters, their
# per-parameter state arrays and the hyper-parameters; zero_grad; state_dict round-trip
# (NumPy arrays, so a resumed run continues bit for bit on any device).
from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..device import device_of, to_numpy
from ..nn.module import Parameter
from ..tensor import Tensor


def _to_numpy(value: Any) -> Any:
    """Arrays (numpy or cupy) as NumPy copies; other values unchanged."""
    if isinstance(value, np.ndarray) or device_of(value) == "cuda":
        return to_numpy(value, copy=True)
    return value


class Optimizer:
    """Base class: updates a fixed list of Parameters from their ``.grad``.

    Subclasses list their hyper-parameter names in ``hyperparameters`` (stored as plain
    attributes, so ``opt.lr = 1e-4`` works) and keep per-parameter state in
    ``self.state[i]``, a dict of arrays on the parameter's device and ints.
    Updates work on the raw arrays (``p.data``), so they never record a graph.

    A parameter whose ``.grad`` is None is skipped by ``step()`` (PyTorch's rule: it may
    simply not have been used this step). A step in which *no* parameter has a gradient
    updates nothing and warns, once per optimizer: that is almost always a forgotten
    ``loss.backward()`` (or a ``zero_grad()`` in the wrong place).
    """

    hyperparameters: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Parameter]) -> None:
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params must be an iterable of Parameters, got one Tensor")
        params = list(params)
        if not params:
            raise ValueError(f"{name}: got an empty parameter list")
        for i, p in enumerate(params):
            if not isinstance(p, Parameter):
                raise TypeError(
                    f"{name}: params[{i}] is a {type(p).__name__}, expected a nn.Parameter"
                )
            if not p.requires_grad:
                raise ValueError(f"{name}: params[{i}] (shape {p.shape}) has requires_grad=False")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}: a parameter appears more than once")
        self.params: list[Parameter] = params
        self.state: list[dict[str, Any]] = [{} for _ in params]
        self._warned_no_grad = False

    def zero_grad(self) -> None:
        """Set every parameter's gradient to None (the next backward writes a fresh one)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        raise NotImplementedError

    def _any_gradient(self) -> bool:
        """True if some parameter has a gradient; else warn (once per optimizer) and
        return False, so that step() skips the whole update."""
        if any(p.grad is not None for p in self.params):
            return True
        if not self._warned_no_grad:
            self._warned_no_grad = True
            warnings.warn(
                f"{type(self).__name__}.step(): no parameter has a gradient, so nothing was "
                "updated. Did you forget loss.backward() before step()? (Parameters without "
                "a gradient are skipped, as in PyTorch; this warning is shown once per "
                "optimizer.)",
                UserWarning,
                stacklevel=3,
            )
        return False

    def _check_hyperparameters(self) -> None:
        """Raise ValueError for invalid hyper-parameters (subclasses extend)."""

    # ----- state dict -------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """{"type", "hyperparameters", "state": [per-parameter dicts of NumPy arrays/ints]}."""
        return {
            "type": type(self).__name__,
            "hyperparameters": {k: getattr(self, k) for k in self.hyperparameters},
            "shapes": [p.shape for p in self.params],
            "state": [{k: _to_numpy(v) for k, v in s.items()} for s in self.state],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore hyper-parameters and per-parameter state saved by ``state_dict``.

        Arrays are copied onto each parameter's device with its dtype. The optimizer must
        hold the same number of parameters, with the same shapes, in the same order.
        """
        name = type(self).__name__
        if state.get("type") != name:
            raise ValueError(f"{name}.load_state_dict: state is from {state.get('type')!r}")
        saved = state["state"]
        if len(saved) != len(self.params):
            raise ValueError(
                f"{name}.load_state_dict: state has {len(saved)} parameters, the optimizer "
                f"has {len(self.params)}"
            )
        problems = []
        for i, (p, s) in enumerate(zip(self.params, saved, strict=True)):
            for key, v in s.items():
                if hasattr(v, "shape") and np.ndim(v) > 0 and tuple(v.shape) != p.shape:
                    problems.append(f"param {i} {key}: expected shape {p.shape}, got {v.shape}")
        if problems:
            raise ValueError(f"{name}.load_state_dict: " + "; ".join(problems))
        old = {k: getattr(self, k) for k in self.hyperparameters}
        for k, v in state["hyperparameters"].items():
            if k not in self.hyperparameters:
                raise ValueError(f"{name}.load_state_dict: unknown hyper-parameter {k!r}")
            setattr(self, k, v)
        try:
            self._check_hyperparameters()
        except ValueError:
            for k, v in old.items():
                setattr(self, k, v)
            raise
        self.state = [
            {k: self._restore(v, p) for k, v in s.items()}
            for p, s in zip(self.params, saved, strict=True)
        ]

    @staticmethod
    def _restore(value: Any, p: Parameter) -> Any:
        """A saved array as a fresh array on p's device with p's dtype (ints unchanged)."""
        if hasattr(value, "shape") and np.ndim(value) > 0:
            return Tensor(np.array(value, copy=True), dtype=p.dtype, device=p.device).data
        return value

    def __repr__(self) -> str:
        hp = ", ".join(f"{k}={getattr(self, k)}" for k in self.hyperparameters)
        return f"{type(self).__name__}({len(self.params)} parameters, {hp})"
