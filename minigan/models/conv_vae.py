# The convolutional VAE for 28×28 MNIST: a strided-convolution encoder to (mu, logvar)
# and a transposed-convolution decoder back to 784 pixel logits. It trains with the same
# loss as the MLP VAE (`vae_loss`) and shares its sampling/interpolation helpers.
"""Convolutional variational autoencoder.

Encoder (spatial size in brackets):

    x (N, 1, 28, 28) (or flat (N, 784))                                       [28×28]
    Conv(1 → 32, k4 s2 p1) → ReLU                                              [14×14]
    Conv(32 → 64, k4 s2 p1) → ReLU                                             [7×7]
    flatten (N, 64·7·7 = 3136) → Linear → mu,  Linear → logvar   (latent_dim each)

Decoder:

    z (N, latent_dim) → Linear(latent_dim → 3136) → ReLU → unflatten (N, 64, 7, 7)
    ConvTranspose(64 → 32, k4 s2 p1) → ReLU                                    [14×14]
    ConvTranspose(32 → 1, k4 s2 p1) → logits, flattened to (N, 784)            [28×28]

Convolutions share weights across positions, so the encoder sees strokes wherever they
are and the decoder paints them locally: it reconstructs sharper digits than the MLP VAE
with fewer parameters. The loss is the same negative ELBO (``vae_loss``).
"""

from __future__ import annotations

from .. import nn, ops
from ..tensor import Tensor
from .vae import VAE

IMAGE_SIZE = 28
_FEATURES = (64, 7, 7)


class ConvVAE(VAE):
    """q(z|x) from a conv encoder, p(x|z) = Bernoulli(sigmoid(conv decoder(z)))."""

    def __init__(self, latent_dim: int = 20) -> None:
        super().__init__()
        if latent_dim < 1:
            raise ValueError(f"ConvVAE: latent_dim must be >= 1, got {latent_dim}")
        self.latent_dim = latent_dim
        flat = _FEATURES[0] * _FEATURES[1] * _FEATURES[2]
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 32, 4, 2, 1),  # 14×14
            nn.ReLU(),
            nn.Conv2d(32, 64, 4, 2, 1),  # 7×7
            nn.ReLU(),
            nn.Flatten(),
        )
        self.to_mu = nn.Linear(flat, latent_dim)
        self.to_logvar = nn.Linear(flat, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, flat),
            nn.ReLU(),
            nn.Unflatten(1, _FEATURES),
            nn.ConvTranspose2d(64, 32, 4, 2, 1),  # 14×14
            nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 4, 2, 1),  # 28×28
            nn.Flatten(),
        )

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(mu, logvar), each (N, latent_dim), for images (N, 784) or (N, 1, 28, 28)."""
        side = IMAGE_SIZE
        if x.ndim == 2 and x.shape[1] == side * side:
            x = ops.reshape(x, (x.shape[0], 1, side, side))
        if x.ndim != 4 or x.shape[1:] != (1, side, side):
            raise ValueError(
                f"ConvVAE: expected images (N, 1, {side}, {side}) or (N, {side * side}), "
                f"got {x.shape}"
            )
        h = self.encoder(x)
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z: Tensor) -> Tensor:
        """Pixel logits (N, 784) for latent codes z (N, latent_dim)."""
        return self.decoder(z)

    def extra_repr(self) -> str:
        return f"latent_dim={self.latent_dim}"
