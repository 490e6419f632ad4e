# Sampling in chunks: the one place that draws many images from a generator or a VAE a
# chunk at a time (sample mode, evaluation during training, examples/evaluate.py), so the
# memory stays bounded and every caller draws the same random numbers the same way.
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..autograd import no_grad
from ..utils import to_uint8

CHUNK = 1000


def in_chunks(n: int, size: int = CHUNK) -> list[tuple[int, int]]:
    """(start, count) of the chunks of at most `size` covering range(n)."""
    return [(start, min(size, n - start)) for start in range(0, n, size)]


def sample_in_chunks(draw: Callable[[int, int], np.ndarray], n: int) -> np.ndarray:
    """Concatenate `draw(start, count)` (uint8 images) over the chunks of range(n)."""
    chunks = [draw(start, count) for start, count in in_chunks(n)]
    return np.concatenate(chunks) if chunks else np.zeros((0, 28, 28), np.uint8)


def generate(G: Any, z: Any, labels: np.ndarray | None = None) -> np.ndarray:
    """Images (N, 28, 28) in [-1, 1] from G in eval mode (conditioned on labels if given)."""
    was_training = G.training
    G.eval()
    with no_grad():
        out = G(z) if labels is None else G(z, labels)
        images = out.numpy().reshape(-1, 28, 28)
    G.train(was_training)
    return images


def sample_gan(
    trainer: Any,
    n: int,
    device: str,
    labels: np.ndarray | None = None,
    noise: Callable[[int], Any] | None = None,
) -> np.ndarray:
    """n uint8 images (n, 28, 28) from `trainer.sample_generator` (its EMA copy when there
    is one), conditioned on `labels` if given; the latents of each chunk come from
    `noise(count)` (default: the trainer's, from the global RNG)."""

    def draw(start: int, count: int) -> np.ndarray:
        z = noise(count) if noise is not None else trainer.sample_noise(count, device)
        chunk_labels = None if labels is None else labels[start : start + count]
        return to_uint8(generate(trainer.sample_generator, z, chunk_labels))

    return sample_in_chunks(draw, n)


def sample_vae(model: Any, n: int, device: str) -> np.ndarray:
    """n uint8 images (n, 28, 28) decoded from z ~ N(0, I) (the model's mode unchanged)."""

    def draw(start: int, count: int) -> np.ndarray:
        with no_grad():
            probs = model.sample(count, device).numpy().reshape(count, 28, 28)
        return to_uint8(probs, "unit")

    return sample_in_chunks(draw, n)
