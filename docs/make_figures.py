# docs/make_figures.py: draws the computation-graph pictures used in the docs with
# minigan.viz: a small MLP's loss (graph_mlp.svg) and the generator loss of one MLP-GAN
# training step (graph_gan_step.svg), both after backward so gradient norms show.
"""Regenerate the graph figures of the docs.

Usage (from the repository root)::

    python docs/make_figures.py            # writes docs/images/graph_*.svg
    python docs/make_figures.py --out /tmp --html

Seeded, so the pictures only change when the library does.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import minigan
from minigan import nn
from minigan.models import MLPDiscriminator, MLPGenerator
from minigan.models.gan import frozen
from minigan.nn import functional as F
from minigan.tensor import Tensor

HERE = Path(__file__).resolve().parent


def mlp_graph() -> tuple[Tensor, dict[str, Tensor]]:
    """A 10 -> 32 -> 1 classifier on a batch of 16, BCE loss, after backward."""
    minigan.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 1))
    x = minigan.randn(16, 10)
    x.name = "x (batch)"
    target = minigan.rand(16, 1)
    logits = model(x)
    logits.name = "logits"
    loss = F.binary_cross_entropy_with_logits(logits, target)
    loss.name = "loss"
    loss.backward()
    return loss, dict(model.named_parameters())


def gan_generator_step(
    latent_dim: int = 100, batch: int = 64
) -> tuple[Tensor, dict[str, Tensor], nn.Module]:
    """The generator half of one MLP-GAN training step (as in ``GANTrainer.step``): D is
    frozen while G's loss BCE(D(G(z)), 1) back-propagates through it into G's parameters.

    Returns the loss (after backward), the named parameters of both networks, and D: draw
    inside ``frozen(D)`` to show D's weights as the constants the engine saw.
    """
    minigan.manual_seed(0)
    G = MLPGenerator(latent_dim=latent_dim, hidden=(64, 64))
    D = MLPDiscriminator(hidden=(64,))
    params = {f"G.{k}": p for k, p in G.named_parameters()}
    params.update({f"D.{k}": p for k, p in D.named_parameters()})
    z = minigan.randn(batch, latent_dim)
    z.name = "z (noise)"
    with frozen(D):
        fake = G(z)
        fake.name = "fake = G(z)"
        logits = D(fake)
        logits.name = "D(G(z))"
        g_loss = F.binary_cross_entropy_with_logits(logits, minigan.ones(batch, 1))
        g_loss.name = "g_loss"
        g_loss.backward()
    return g_loss, params, D


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "images", help="output folder")
    parser.add_argument("--html", action="store_true", help="also write .html pages")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    suffixes = (".svg", ".html") if args.html else (".svg",)

    loss, params = mlp_graph()
    for suffix in suffixes:
        path = minigan.viz.save_graph(loss, args.out / f"graph_mlp{suffix}", params=params)
        print(f"wrote {path} ({path.stat().st_size / 1024:.1f} KB)")

    g_loss, params, D = gan_generator_step()
    with frozen(D):
        for suffix in suffixes:
            path = minigan.viz.save_graph(
                g_loss, args.out / f"graph_gan_step{suffix}", params=params
            )
            print(f"wrote {path} ({path.stat().st_size / 1024:.1f} KB)")


if __name__ == "__main__":
    main()
