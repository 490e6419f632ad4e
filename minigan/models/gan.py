# The MLP GAN: a generator z -> image, a discriminator image -> logit (both optionally
# conditioned on a class label), and `GANTrainer`, which runs the alternating
# discriminator/generator updates of one training step for any such pair (MLP or DCGAN),
# with an optional EMA of the generator's weights.
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from .. import nn, ops
from ..autograd import no_grad
from ..creation import full, randn
from ..nn import functional as F
from ..optim.optimizer import Optimizer
from ..tensor import Tensor
from .conditioning import check_labels, one_hot, sample_labels
from .ema import EMA

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

    Conditional (num_classes = K > 0): G(z, y) = net([z, onehot(y)]), so the first layer
    reads latent_dim + K numbers; `forward` then needs labels y of shape (N,).
    """

    def __init__(
        self,
        latent_dim: int = 100,
        hidden: Sequence[int] = (256, 512, 1024),
        out_dim: int = 784,
        activation: str = "leaky_relu",
        slope: float = 0.2,
        batchnorm: bool = True,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes}")
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        layers: list[nn.Module] = []
        width = latent_dim + num_classes
        for h in hidden:
            layers.append(nn.Linear(width, h))
            if batchnorm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(_activation(activation, slope))
            width = h
        layers += [nn.Linear(width, out_dim), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, labels: Any = None) -> Tensor:
        """Images (N, out_dim) in [-1, 1] for latents z (N, latent_dim) [and labels (N,)]."""
        check_labels(self, labels, z.shape[0])
        if labels is not None:
            z = ops.concat([z, one_hot(labels, self.num_classes, z.dtype, z.device)], axis=1)
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """D(x): in_dim -> hidden... -> 1 logit (no sigmoid: the loss fuses it).

    The seed architecture is 784 -> 512 -> 256 -> 1 with LeakyReLU(0.2); optional Dropout
    after each hidden activation regularises D so that it does not win too early.

    Conditional (num_classes = K > 0): D(x, y) = net([flatten(x), onehot(y)]), the first
    layer reads in_dim + K numbers. Images may come flat (N, in_dim) or as (N, 1, 28, 28).
    """

    def __init__(
        self,
        in_dim: int = 784,
        hidden: Sequence[int] = (512, 256),
        slope: float = 0.2,
        dropout: float = 0.0,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes}")
        self.in_dim = in_dim
        self.num_classes = num_classes
        layers: list[nn.Module] = []
        width = in_dim + num_classes
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(slope)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor, labels: Any = None) -> Tensor:
        """Logits (N, 1) for images x (N, in_dim) or (N, C, H, W) [and labels (N,)]."""
        check_labels(self, labels, x.shape[0])
        if x.ndim == 4:
            x = ops.reshape(x, (x.shape[0], -1))
        if labels is not None:
            x = ops.concat([x, one_hot(labels, self.num_classes, x.dtype, x.device)], axis=1)
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

    Conditional models (G.num_classes = K > 0): D scores the real pairs (x, y) and the fake
    pairs (G(z, ỹ), ỹ) with ỹ drawn uniformly from 0..K-1, and G is trained on
    BCE(D(G(z, ỹ), ỹ), 1), so it must produce a convincing image *of the asked class*.

    ``ema``: an `EMA` of the generator, updated after every generator step;
    ``sample_generator`` is then the averaged copy (use it to draw samples).
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
        ema: EMA | None = None,
    ) -> None:
        if n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        k_g = getattr(generator, "num_classes", 0)
        k_d = getattr(discriminator, "num_classes", 0)
        if k_g != k_d:
            raise ValueError(
                f"generator and discriminator must agree on num_classes, got {k_g} and {k_d}"
            )
        if ema is not None and ema.source is not generator:
            raise ValueError("ema must be an EMA of this trainer's generator (EMA(generator))")
        self.G, self.D = generator, discriminator
        self.opt_g, self.opt_d = opt_g, opt_d
        self.latent_dim = latent_dim
        self.n_critic = n_critic
        self.label_smoothing = label_smoothing
        self.num_classes = k_g
        self.ema = ema

    @property
    def sample_generator(self) -> nn.Module:
        """The generator to draw samples from: the EMA copy when enabled, else G."""
        return self.ema.module if self.ema is not None else self.G

    def sample_noise(self, n: int, device: str) -> Tensor:
        return randn(n, self.latent_dim, device=device)

    def sample_labels(self, n: int, device: str) -> Tensor:
        """Labels for a fake batch: uniform over the classes (global generator, on device)."""
        return sample_labels(n, self.num_classes, device)

    def step(self, real: Tensor, labels: Any = None) -> dict[str, Tensor]:
        """Update D then G on one batch of real images in [-1, 1], (N, 784) (or, for the
        DCGAN, (N, 1, 28, 28)).

        `labels` (N,) are the classes of the real images; required for conditional models
        and refused for unconditional ones.

        Returns the losses and D's mean outputs as 0-d tensors (kept on the device, so the
        caller decides when to pay for a host copy). d_real = mean σ(D(x)) and d_fake =
        mean σ(D(G(z))) are those of the (last) discriminator step: D in training mode
        (dropout active) and before D's update, as in the usual DCGAN logs.
        """
        n, device = real.shape[0], real.device
        if self.num_classes and labels is None:
            raise ValueError(
                f"GANTrainer.step: the models are conditional (num_classes={self.num_classes});"
                " pass the labels of the real batch"
            )
        if not self.num_classes and labels is not None:
            raise ValueError("GANTrainer.step: the models are unconditional; labels must be None")
        real_target = full((n, 1), 1.0 - self.label_smoothing, dtype=real.dtype, device=device)
        fake_target = full((n, 1), 0.0, dtype=real.dtype, device=device)
        ones = full((n, 1), 1.0, dtype=real.dtype, device=device)
        fake_labels = None
        for _ in range(self.n_critic):
            z = self.sample_noise(n, device)
            if self.num_classes:
                fake_labels = self.sample_labels(n, device)
            fake = _call(self.G, z, fake_labels)
            self.opt_d.zero_grad()
            logits_real = _call(self.D, real, labels)
            logits_fake = _call(self.D, fake.detach(), fake_labels)
            bce = F.binary_cross_entropy_with_logits
            d_loss = bce(logits_real, real_target) + bce(logits_fake, fake_target)
            d_loss.backward()
            self.opt_d.step()
        self.opt_g.zero_grad()
        with frozen(self.D):
            logits_gen = _call(self.D, fake, fake_labels)
            g_loss = F.binary_cross_entropy_with_logits(logits_gen, ones)
            g_loss.backward()
        self.opt_g.step()
        if self.ema is not None:
            self.ema.update()
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
        state = {
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
        }
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore models and optimizers (and the EMA; restarted from G if `state` has none)."""
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if self.ema is not None:
            if "ema" in state:
                self.ema.load_state_dict(state["ema"])
            else:
                self.ema.reset()


def _call(module: nn.Module, x: Tensor, labels: Any) -> Tensor:
    """module(x) for unconditional models (any Module, e.g. a plain Sequential), else
    module(x, labels)."""
    return module(x) if labels is None else module(x, labels)
