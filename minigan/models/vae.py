# The MLP variational autoencoder (784 -> 400 -> (mu, logvar) 20 -> 400 -> 784 logits) and
# its loss, the negative ELBO: summed BCE reconstruction + Gaussian KL, per sample.
from __future__ import annotations

from .. import nn
from ..creation import randn
from ..nn import functional as F
from ..tensor import Tensor


class MLPVAE(nn.Module):
    """q(z|x) = N(mu(x), exp(logvar(x))), p(x|z) = Bernoulli(sigmoid(decoder(z))).

    Encoder: 784 -> hidden (ReLU) -> mu, logvar (latent_dim each).
    Decoder: latent_dim -> hidden (ReLU) -> 784 logits (sigmoid gives pixel means).
    Sampling uses the reparameterisation z = mu + exp(logvar / 2) * eps, eps ~ N(0, I),
    so gradients flow to mu and logvar through a deterministic path.
    """

    def __init__(self, in_dim: int = 784, hidden: int = 400, latent_dim: int = 20) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU())
        self.to_mu = nn.Linear(hidden, latent_dim)
        self.to_logvar = nn.Linear(hidden, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, in_dim)
        )

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.encoder(x)
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z: Tensor) -> Tensor:
        """Pixel logits for latent codes z."""
        return self.decoder(z)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Returns (reconstruction logits, mu, logvar)."""
        mu, logvar = self.encode(x)
        eps = randn(*mu.shape, dtype=mu.dtype, device=mu.device)
        z = mu + (logvar * 0.5).exp() * eps
        return self.decode(z), mu, logvar

    def sample(self, n: int, device: str = "cpu") -> Tensor:
        """n images (n, 784) in [0, 1] decoded from z ~ N(0, I)."""
        z = randn(n, self.latent_dim, device=device)
        return self.decode(z).sigmoid()

    def reconstruct(self, x: Tensor) -> Tensor:
        """Reconstructions in [0, 1] of x through the posterior mean (no sampling noise)."""
        mu, _ = self.encode(x)
        return self.decode(mu).sigmoid()


def vae_loss(logits: Tensor, x: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """Negative ELBO per sample: [Σ BCE(sigmoid(logits), x) + KL(q(z|x) || N(0, I))] / N.

    KL = -1/2 Σ (1 + logvar - mu² - exp(logvar)).
    """
    n = x.shape[0]
    recon = F.bce_with_logits(logits, x, reduction="sum")
    kl = F.gaussian_kl(mu, logvar, reduction="sum")
    return (recon + kl) / n
