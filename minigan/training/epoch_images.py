# The pictures the example models draw at the end of every epoch, from inputs fixed for the
# whole run (so the epochs' pictures can be compared): the GAN's grid of samples and the
# VAE's samples, test reconstructions, interpolation strip and 2-d latent manifold.
from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor, tensor
from .builders import NUM_CLASSES, gan_num_classes

#: offset of the seed of the fixed inputs (the run's seed + this); a NumPy generator of
#: their own, so drawing them leaves the training's random stream untouched
FIXED_SEED_OFFSET = 12345
NUM_FIXED = 64  # samples in an unconditional grid (8 x 8)
INTERPOLATION_STEPS = 10
MANIFOLD_SIDE = 20

#: name -> (images (N, 28, 28) with values in [0, 1], the grid's width)
Pictures = dict[str, tuple[np.ndarray, int]]


def gan_fixed_inputs(config: dict[str, Any], device: str) -> tuple[Tensor, np.ndarray | None, int]:
    """The latents (and labels) of a GAN's per-epoch grid, and the grid's width.

    Unconditional: 64 latent vectors, an 8x8 grid. Conditional: a 10x10 grid with one row
    per digit and the same 10 latent vectors in every row (so a column keeps its "style").
    """
    rng = np.random.default_rng(config["seed"] + FIXED_SEED_OFFSET)
    if not gan_num_classes(config):
        z = rng.standard_normal((NUM_FIXED, config["latent_dim"])).astype(np.float32)
        return tensor(z, device=device), None, 8
    k = NUM_CLASSES
    columns = rng.standard_normal((k, config["latent_dim"])).astype(np.float32)
    z = np.tile(columns, (k, 1))  # row r, column c -> columns[c]
    labels = np.repeat(np.arange(k), k)  # row r -> digit r
    return tensor(z, device=device), labels, k


class VAEPictures:
    """A VAE's per-epoch pictures (`pictures(model)`), from inputs fixed for the run: 64
    latents, the first 32 test images (reconstructed), the first two (interpolated)."""

    def __init__(self, config: dict[str, Any], x_test: np.ndarray, device: str) -> None:
        rng = np.random.default_rng(config["seed"] + FIXED_SEED_OFFSET)
        z = rng.standard_normal((NUM_FIXED, config["latent_dim"])).astype(np.float32)
        self.z = tensor(z, device=device)
        self.x_test = x_test
        self.x_show = tensor(x_test[:32], device=device)
        self.x_ends = (tensor(x_test[:1], device=device), tensor(x_test[1:2], device=device))
        self.manifold = config["latent_dim"] == 2

    def __call__(self, model: Any) -> Pictures:
        """samples (from the fixed latents), reconstructions (odd columns are the inputs),
        interpolation (the two test digits at the ends, the decoded path between their
        means in between) and, for a 2-d latent space, the decoded manifold."""
        with no_grad():
            model.eval()
            samples = model.decode(self.z).sigmoid().numpy().reshape(-1, 28, 28)
            recon = model.reconstruct(self.x_show).numpy().reshape(-1, 28, 28)
            path = model.interpolate(*self.x_ends, steps=INTERPOLATION_STEPS).numpy()
            manifold = model.manifold_grid(MANIFOLD_SIDE).numpy() if self.manifold else None
            model.train()
        x = self.x_test
        pairs = np.stack([x[:32].reshape(-1, 28, 28), recon], axis=1).reshape(-1, 28, 28)
        strip = np.concatenate([x[:1], path, x[1:2]]).reshape(-1, 28, 28)
        pictures = {"samples": (samples, 8), "reconstructions": (pairs, 8)}
        pictures["interpolation"] = (strip, len(strip))
        if manifold is not None:
            pictures["manifold"] = (manifold.reshape(-1, 28, 28), MANIFOLD_SIDE)
        return pictures
