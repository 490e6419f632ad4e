# Scoring a generator while it trains: the --eval-every / --eval-n options, when an epoch
# is scored, and the scores (FID, classifier score, label accuracy) of images drawn from
# noise of its own, so that scoring never changes the training's random stream.
from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ..tensor import tensor
from .builders import gan_num_classes
from .option_table import Option
from .sampling import sample_gan

#: the options of the per-epoch sample-quality evaluation (changeable on resume)
EVAL_OPTIONS = (
    Option(
        "--eval-every",
        1,
        "every K epochs, score --eval-n generated images (FID vs the MNIST test set, "
        "classifier score, label accuracy for conditional models) into the metrics; "
        "0 = never (default: 1)",
        metavar="K",
        low=0,
        note=" (0 = never)",
    ),
    Option("--eval-n", 2000, "images scored each time (default: 2000)", low=2),
)
EVAL_TITLE = "sample quality (minigan.metrics)"

#: offset of the seed of the evaluation's own noise (the run's seed + this)
EVAL_SEED_OFFSET = 777


def eval_due(args: argparse.Namespace, epoch: int) -> bool:
    """Whether the epoch `epoch` (0-based) ends with an evaluation (every --eval-every)."""
    return bool(args.eval_every) and (epoch + 1) % args.eval_every == 0


def score_generator(trainer: Any, config: dict[str, Any], n: int, device: str) -> dict[str, float]:
    """{"eval_fid", "eval_score"(, "eval_label_accuracy")} of n samples of a GAN trainer's
    sampling generator (a conditional one asked for the labels 0, 1, ..., 9, 0, ...).

    The latents come from a NumPy generator seeded with the run's seed + 777, so scoring
    draws nothing from minigan's RNG (exact resume still holds) and every evaluation of a
    run uses the same noise.
    """
    from ..metrics import evaluate_images  # noqa: PLC0415 - loads the classifier once used

    rng = np.random.default_rng(config["seed"] + EVAL_SEED_OFFSET)
    k = gan_num_classes(config)
    labels = (np.arange(n) % k) if k else None

    def noise(m: int) -> Any:
        z = rng.standard_normal((m, config["latent_dim"])).astype(np.float32)
        return tensor(z, device=device)

    scores = evaluate_images(sample_gan(trainer, n, device, labels, noise), labels=labels)
    return {f"eval_{key}": float(value) for key, value in scores.items()}


def scores_text(row: dict[str, Any]) -> str:
    """The scores of a metrics row for its epoch line ("; FID 123.45, score 6.78"), or ""."""
    if "eval_fid" not in row:
        return ""
    return f"; FID {row['eval_fid']:.2f}, score {row['eval_score']:.2f}"
