# Exponential moving average (EMA) of a model's weights: a shadow copy of the generator
# whose parameters trail the trained ones, θ_ema ← d·θ_ema + (1 - d)·θ after every step.
# Sampling from the shadow gives smoother, better digits than the last raw iterate.
"""EMA of module weights (Polyak-style averaging of the generator in GAN training).

GAN training does not converge to a point: the generator's weights circle around a good
solution as the two players respond to each other. Averaging the iterates,

    θ_ema(t) = d·θ_ema(t-1) + (1 - d)·θ(t)     (≈ the mean of the last 1/(1-d) steps),

cancels much of that oscillation, so samples drawn with θ_ema are usually cleaner than
those drawn with θ(t) (Yazıcı et al., "The unusual effectiveness of averaging in GAN
training", 2019; used by ProGAN, StyleGAN, BigGAN). The averaged weights are never
trained themselves: they only serve sampling.

Buffers (BatchNorm's running mean/variance and batch counter) are not averaged but copied
from the trained module at each update: they already are moving averages of activation
statistics, and they must describe the activations of the current weights.
"""

from __future__ import annotations

import copy
from typing import Any

from .. import nn


class EMA:
    """A shadow copy of `module` whose parameters are an exponential moving average.

    ``ema = EMA(G, decay=0.999)``; after each optimizer step of G call ``ema.update()``;
    sample with ``ema.module`` (a deep copy of G, kept in eval mode, no gradients).

    update():  p_ema ← decay·p_ema + (1 - decay)·p   for every parameter (in place)
               b_ema ← b                             for every buffer
    """

    def __init__(self, module: nn.Module, decay: float = 0.999) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA: decay must be in [0, 1), got {decay}")
        self.source = module
        self.decay = float(decay)
        self.num_updates = 0
        self.module = _shadow_copy(module)

    def reset(self) -> None:
        """Restart the average at the source's current weights (θ_ema = θ), in place."""
        self.module.load_state_dict(self.source.state_dict())
        self.num_updates = 0

    def update(self) -> None:
        """One EMA step from the source module's current parameters and buffers."""
        d = self.decay
        pairs = zip(self.module.parameters(), self.source.parameters(), strict=True)
        for shadow, p in pairs:
            shadow.data *= d  # in place: no new arrays, works for NumPy and CuPy alike
            shadow.data += (1.0 - d) * p.data
            shadow._bump_version()  # (see Tensor._bump_version)
        buffers = zip(self.module.buffers(), self.source.buffers(), strict=True)
        for shadow_b, b in buffers:
            shadow_b.data[...] = b.data
            shadow_b._bump_version()
        self.num_updates += 1

    def state_dict(self) -> dict[str, Any]:
        return {
            "module": self.module.state_dict(),
            "decay": self.decay,
            "num_updates": self.num_updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.decay = float(state["decay"])
        self.num_updates = int(state["num_updates"])

    def __repr__(self) -> str:
        return (
            f"EMA(decay={self.decay}, num_updates={self.num_updates}, "
            f"module={type(self.module).__name__})"
        )


def _shadow_copy(module: nn.Module) -> nn.Module:
    """A deep copy of `module` in eval mode whose parameters need no gradient."""
    shadow = copy.deepcopy(module)
    for p in shadow.parameters():
        p.grad = None
        p.requires_grad = False
    shadow.eval()
    return shadow
