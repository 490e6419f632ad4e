# The MLP GAN: a generator z -> image, a discriminator image -> logit, and `GANTrainer`,
# which runs the alternating discriminator/generator updates of one training step.
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from .. import nn
from ..autograd import no_grad
from ..creation import full, randn
from ..nn import functional as F
from ..optim.optimizer import Optimizer
from ..tensor import Tensor

_ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "tanh": nn.Tanh}


def _activation(name: str, slope: float) -> nn.Module:
    if name not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(_ACTIVATIONS)}")
    return nn.LeakyReLU(slope) if name == "leaky_relu" else _ACTIVATIONS[name]()


class MLPGenerator(nn.Module):
    """G(z): latent_dim -> hidden... -> out_dim, tanh output in [-1, 1].

    The seed architecture is 100 -> 256 -> 512 -> 1024 -> 784. Each hidden block is
    Linear -> [BatchNorm1d] -> activation; `activation="relu"` without BatchNorm is the
    plain seed model (it tends to collapse), LeakyReLU(0.2) with BatchNorm is our default.
    """

    def __init__(
        self,
        latent_dim: int = 100,
        hidden: Sequence[int] = (256, 512, 1024),
        out_dim: int = 784,
        activation: str = "leaky_relu",
        slope: float = 0.2,
        batchnorm: bool = True,
    ) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        layers: list[nn.Module] = []
        width = latent_dim
        for h in hidden:
            layers.append(nn.Linear(width, h))
            if batchnorm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(_activation(activation, slope))
            width = h
        layers += [nn.Linear(width, out_dim), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """D(x): in_dim -> hidden... -> 1 logit (no sigmoid: the loss fuses it).

    The seed architecture is 784 -> 512 -> 256 -> 1 with LeakyReLU(0.2); optional Dropout
    after each hidden activation regularises D so that it does not win too early.
    """

    def __init__(
        self,
        in_dim: int = 784,
        hidden: Sequence[int] = (512, 256),
        slope: float = 0.2,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(slope)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Temporarily stop gradients into `module`'s parameters (they still flow through it).

    Used in the generator step: D's weight gradients would be thrown away, so they are not
    computed at all (the fused kernels skip dW/db when `needs_input_grad` is False).
    """
    params = list(module.parameters())
    for p in params:
        p.requires_grad = False
    try:
        yield
    finally:
        for p in params:
            p.requires_grad = True


class GANTrainer:
    """One GAN training step = n_critic discriminator updates + one generator update.

    Discriminator: minimise BCE(D(x), s) + BCE(D(G(z)), 0), where s = 1 - label_smoothing
      (one-sided label smoothing: only real targets are softened).
    Generator (non-saturating loss): minimise BCE(D(G(z)), 1), i.e. maximise log D(G(z)),
      which gives strong gradients early in training when D easily spots fakes.
    The fake batch of the last critic step is reused for the generator step (its graph
    through G is kept), so G runs forward once per step when n_critic = 1.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        opt_g: Optimizer,
        opt_d: Optimizer,
        latent_dim: int = 100,
        n_critic: int = 1,
        label_smoothing: float = 0.0,
    ) -> None:
        if n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.G, self.D = generator, discriminator
        self.opt_g, self.opt_d = opt_g, opt_d
        self.latent_dim = latent_dim
        self.n_critic = n_critic
        self.label_smoothing = label_smoothing

    def sample_noise(self, n: int, device: str) -> Tensor:
        return randn(n, self.latent_dim, device=device)

    def step(self, real: Tensor) -> dict[str, Tensor]:
        """Update D then G on one batch of real images (N, 784) in [-1, 1].

        Returns the losses and D's mean outputs as 0-d tensors (kept on the device, so the
        caller decides when to pay for a host copy). d_real = mean σ(D(x)) and d_fake =
        mean σ(D(G(z))) are those of the (last) discriminator step: D in training mode
        (dropout active) and before D's update, as in the usual DCGAN logs.
        """
        n, device = real.shape[0], real.device
        real_target = full((n, 1), 1.0 - self.label_smoothing, dtype=real.dtype, device=device)
        fake_target = full((n, 1), 0.0, dtype=real.dtype, device=device)
        ones = full((n, 1), 1.0, dtype=real.dtype, device=device)
        for _ in range(self.n_critic):
            fake = self.G(self.sample_noise(n, device))
            self.opt_d.zero_grad()
            logits_real = self.D(real)
            logits_fake = self.D(fake.detach())
            d_loss = F.bce_with_logits(logits_real, real_target) + F.bce_with_logits(
                logits_fake, fake_target
            )
            d_loss.backward()
            self.opt_d.step()
        self.opt_g.zero_grad()
        with frozen(self.D):
            logits_gen = self.D(fake)
            g_loss = F.bce_with_logits(logits_gen, ones)
            g_loss.backward()
        self.opt_g.step()
        with no_grad():
            d_real = logits_real.sigmoid().mean()
            d_fake = logits_fake.sigmoid().mean()
        return {
            "d_loss": d_loss.detach(),
            "g_loss": g_loss.detach(),
            "d_real": d_real,
            "d_fake": d_fake,
        }

    def state_dict(self) -> dict:
        return {
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
