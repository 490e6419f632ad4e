# The VAE base class (reparameterised forward, sampling, reconstruction, latent
# interpolation, the 2-d manifold grid), the MLP variational autoencoder
# (784 -> 400 -> (mu, logvar) 20 -> 400 -> 784 logits) and the loss shared by every VAE,
# the negative ELBO: summed BCE reconstruction + Gaussian KL, per sample.
from __future__ import annotations

from statistics import NormalDist

from .. import nn
from ..creation import randn
from ..nn import functional as F
from ..tensor import Tensor


class VAE(nn.Module):
    """What every VAE here shares, given `encode(x) -> (mu, logvar)`, `decode(z) -> logits`
    (N, 784) and `latent_dim`.

    q(z|x) = N(mu(x), exp(logvar(x))), p(x|z) = Bernoulli(sigmoid(decode(z))).
    Training samples z with the reparameterisation z = mu + exp(logvar / 2) * eps,
    eps ~ N(0, I), so gradients flow to mu and logvar through a deterministic path.
    """

    latent_dim: int

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def decode(self, z: Tensor) -> Tensor:
        raise NotImplementedError

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

    def interpolate(self, x_a: Tensor, x_b: Tensor, steps: int = 10) -> Tensor:
        """Images (steps, 784) in [0, 1] decoded along the line between two posterior means.

        z_t = (1 - t)·mu(x_a) + t·mu(x_b) for t = 0, 1/(steps-1), ..., 1; the ends are
        exactly mu(x_a) and mu(x_b), so the first and last images are the reconstructions
        of x_a and x_b. x_a and x_b are single images, (784,), (1, 784) or (1, 1, 28, 28).
        """
        if steps < 2:
            raise ValueError(f"interpolate: steps must be >= 2, got {steps}")
        mus = []
        for name, x in (("x_a", x_a), ("x_b", x_b)):
            if x.ndim >= 2 and x.shape[0] != 1:
                raise ValueError(f"interpolate: {name} must be one image, got shape {x.shape}")
            x = x.reshape(1, *x.shape) if x.ndim in (1, 3) else x
            mus.append(self.encode(x)[0])
        mu_a, mu_b = mus
        ts = [i / (steps - 1) for i in range(steps)]
        t = Tensor([[v] for v in ts], dtype=mu_a.dtype, device=mu_a.device)  # (steps, 1)
        z = (1.0 - t) * mu_a + t * mu_b  # (steps, latent) by broadcasting
        return self.decode(z).sigmoid()

    def manifold_grid(self, n: int = 20) -> Tensor:
        """The decoded 2-d latent space: (n·n, 784) images in [0, 1], an n×n grid.

        Grid cell (row r, column c) decodes z = (Φ⁻¹(p_c), Φ⁻¹(p_{n-1-r})) with
        p_i = (i + 1/2) / n and Φ⁻¹ the standard normal inverse CDF: equal steps in
        probability under the prior N(0, I), so each cell covers the same prior mass
        (z₁ grows to the right, z₂ grows upwards). Needs latent_dim == 2.
        """
        if self.latent_dim != 2:
            raise ValueError(
                f"manifold_grid needs a 2-d latent space, got latent_dim={self.latent_dim}"
            )
        if n < 1:
            raise ValueError(f"manifold_grid: n must be >= 1, got {n}")
        q = [NormalDist().inv_cdf((i + 0.5) / n) for i in range(n)]
        points = [[q[c], q[n - 1 - r]] for r in range(n) for c in range(n)]
        like = next(self.parameters())
        return self.decode(Tensor(points, dtype=like.dtype, device=like.device)).sigmoid()


class MLPVAE(VAE):
    """The MLP VAE.

    Encoder: 784 -> hidden (ReLU) -> mu, logvar (latent_dim each).
    Decoder: latent_dim -> hidden (ReLU) -> 784 logits (sigmoid gives pixel means).
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
        """(mu, logvar), each (N, latent_dim), for images x (N, 784) (or (N, 1, 28, 28))."""
        if x.ndim != 2:
            x = x.reshape(x.shape[0], -1)
        h = self.encoder(x)
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z: Tensor) -> Tensor:
        """Pixel logits (N, 784) for latent codes z (N, latent_dim)."""
        return self.decoder(z)


def vae_loss(logits: Tensor, x: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """Negative ELBO per sample: [Σ BCE(sigmoid(logits), x) + KL(q(z|x) || N(0, I))] / N.

    KL = -1/2 Σ (1 + logvar - mu² - exp(logvar)).
    """
    n = x.shape[0]
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kl = F.gaussian_kl(mu, logvar, reduction="sum")
    return (recon + kl) / n
