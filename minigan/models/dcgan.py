# DCGAN for 28×28 MNIST (Radford et al. 2016, shapes adapted to 28 = 7·2·2): a
# transposed-convolution generator z -> (1, 28, 28) and a strided-convolution
# discriminator image -> logit, both optionally conditioned on a class label.
"""DCGAN generator and discriminator for 28×28 single-channel images.

Generator (w = width, 64 by default), spatial size in brackets:

    z (N, latent) viewed as (N, latent, 1, 1)                                  [1×1]
    ConvTranspose(latent → 4w, k7 s1 p0) → BatchNorm2d → ReLU                  [7×7]
    ConvTranspose(4w → 2w, k4 s2 p1)     → BatchNorm2d → ReLU                  [14×14]
    ConvTranspose(2w → 1,  k4 s2 p1)     → tanh                                [28×28]

Discriminator:

    x (N, 1, 28, 28) (or flat (N, 784))                                        [28×28]
    Conv(1 → w,   k4 s2 p1) → LeakyReLU(0.2)                                   [14×14]
    Conv(w → 2w,  k4 s2 p1) → BatchNorm2d → LeakyReLU(0.2)                     [7×7]
    Conv(2w → 4w, k3 s2 p1) → BatchNorm2d → LeakyReLU(0.2)                     [4×4]
    Conv(4w → 1,  k4 s1 p0) → logit (N, 1)                                     [1×1]

Sizes: a Conv gives (H + 2p - k) // s + 1, a ConvTranspose (H - 1)·s - 2p + k.
Convolutions followed by BatchNorm have no bias (BatchNorm's β replaces it; a bias there
would be subtracted right away with the batch mean). Init (DCGAN paper): conv weights
~ N(0, 0.02²), biases 0, BatchNorm γ ~ N(1, 0.02²), β = 0 (``nn.init.dcgan_init_``).

Conditional (num_classes = K > 0): G reads [z, onehot(y)] as (latent + K, 1, 1); D reads
the image with K constant label maps stacked on its channels, (N, 1 + K, 28, 28).
"""

from __future__ import annotations

from typing import Any

from .. import nn, ops
from ..tensor import Tensor
from .conditioning import check_labels, one_hot, one_hot_maps

IMAGE_SIZE = 28


class DCGANGenerator(nn.Module):
    """G(z[, y]) -> images (N, 1, 28, 28) in [-1, 1]; see the module docstring."""

    def __init__(self, latent_dim: int = 100, width: int = 64, num_classes: int = 0) -> None:
        super().__init__()
        if width < 1 or latent_dim < 1 or num_classes < 0:
            raise ValueError(
                f"DCGANGenerator: need latent_dim >= 1, width >= 1, num_classes >= 0, got "
                f"{latent_dim}, {width}, {num_classes}"
            )
        self.latent_dim, self.width, self.num_classes = latent_dim, width, num_classes
        w = width
        self.net = nn.Sequential(
            nn.ConvTranspose2d(latent_dim + num_classes, 4 * w, 7, 1, 0, bias=False),  # 7×7
            nn.BatchNorm2d(4 * w),
            nn.ReLU(),
            nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1, bias=False),  # 14×14
            nn.BatchNorm2d(2 * w),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * w, 1, 4, 2, 1),  # 28×28
            nn.Tanh(),
        )
        nn.init.dcgan_init_(self)

    def forward(self, z: Tensor, labels: Any = None) -> Tensor:
        """z (N, latent_dim) or (N, latent_dim, 1, 1) [and labels (N,)] -> (N, 1, 28, 28)."""
        n = z.shape[0]
        check_labels(self, labels, n)
        if z.ndim == 4:
            z = ops.reshape(z, (n, -1))
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(
                f"DCGANGenerator: expected z of shape (N, {self.latent_dim}), got {z.shape}"
            )
        if labels is not None:
            z = ops.concat([z, one_hot(labels, self.num_classes, z.dtype, z.device)], axis=1)
        return self.net(ops.reshape(z, (n, z.shape[1], 1, 1)))

    def extra_repr(self) -> str:
        return f"latent_dim={self.latent_dim}, width={self.width}, num_classes={self.num_classes}"


class DCGANDiscriminator(nn.Module):
    """D(x[, y]) -> logits (N, 1) for images (N, 1, 28, 28) or (N, 784)."""

    def __init__(self, width: int = 64, num_classes: int = 0, slope: float = 0.2) -> None:
        super().__init__()
        if width < 1 or num_classes < 0:
            raise ValueError(
                f"DCGANDiscriminator: need width >= 1, num_classes >= 0, got {width}, {num_classes}"
            )
        self.width, self.num_classes = width, num_classes
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(1 + num_classes, w, 4, 2, 1),  # 14×14
            nn.LeakyReLU(slope),
            nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False),  # 7×7
            nn.BatchNorm2d(2 * w),
            nn.LeakyReLU(slope),
            nn.Conv2d(2 * w, 4 * w, 3, 2, 1, bias=False),  # 4×4
            nn.BatchNorm2d(4 * w),
            nn.LeakyReLU(slope),
            nn.Conv2d(4 * w, 1, 4, 1, 0),  # 1×1
        )
        nn.init.dcgan_init_(self)

    def forward(self, x: Tensor, labels: Any = None) -> Tensor:
        n = x.shape[0]
        check_labels(self, labels, n)
        side = IMAGE_SIZE
        if x.ndim == 2 and x.shape[1] == side * side:
            x = ops.reshape(x, (n, 1, side, side))
        if x.ndim != 4 or x.shape[1:] != (1, side, side):
            raise ValueError(
                f"DCGANDiscriminator: expected images (N, 1, {side}, {side}) or "
                f"(N, {side * side}), got {x.shape}"
            )
        if labels is not None:
            maps = one_hot_maps(labels, self.num_classes, side, side, x)
            x = ops.concat([x, maps], axis=1)
        return ops.reshape(self.net(x), (n, 1))

    def extra_repr(self) -> str:
        return f"width={self.width}, num_classes={self.num_classes}"
