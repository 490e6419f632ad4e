#!/usr/bin/env python3
# Per-op profile of one training step on the CPU: builds a model the way the examples do
# (minigan.training.build_gan / build_vae with the examples' default recipe), runs a few
# warm-up steps, then records one step with minigan.trace() and prints its per-op summary
# (calls, forward / backward / optimizer milliseconds, implementation), slowest first.
"""Profile one training step, op by op (``make profile-cpu`` writes docs/profile-cpu.md).

Examples:
  python tools/profile_step.py --model dcgan --threads 1
  python tools/profile_step.py --model all --threads 1 --markdown docs/profile-cpu.md

The step is the one the examples train with: for a GAN, GANTrainer.step (D update and G
update, batch 128); for a VAE, forward, negative ELBO, backward and Adam. Timings are those
of this machine, now; run it on a quiet machine.
"""

from __future__ import annotations

# minigan before NumPy, so that OpenBLAS's idle threads sleep (see minigan/__init__.py)
import minigan

# isort: split
import argparse
import datetime
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from minigan import backend
from minigan.backend import cpu_threads
from minigan.models import vae_loss
from minigan.training import build_gan, build_vae

BATCH = 128
GAN_RECIPE = {
    "latent_dim": 100,
    "g_activation": "leaky_relu",
    "g_batchnorm": True,
    "d_dropout": 0.3,
    "lr": 2e-4,
    "beta1": 0.5,
    "label_smoothing": 0.1,
    "n_critic": 1,
    "width": 64,
    "ema": 0.0,
}
MODELS = ("mlp", "dcgan", "cgan-mlp", "cgan-dcgan", "vae-mlp", "vae-conv")


def make_step(model: str, seed: int = 0) -> Callable[[], object]:
    """A closure running one training step of `model` on a fixed random batch."""
    minigan.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if model.startswith("vae-"):
        arch = model.removeprefix("vae-")
        vae, opt = build_vae({"arch": arch, "latent_dim": 20, "hidden": 400, "lr": 1e-3}, "cpu")
        x = minigan.tensor(rng.uniform(0, 1, (BATCH, 784)).astype(np.float32))

        def vae_step() -> object:
            opt.zero_grad()
            logits, mu, logvar = vae(x)
            loss = vae_loss(logits, x, mu, logvar)
            loss.backward()
            opt.step()
            return loss

        return vae_step
    _, _, trainer = build_gan({**GAN_RECIPE, "arch": model}, "cpu")
    shape = (BATCH, 1, 28, 28) if "dcgan" in model else (BATCH, 784)
    real = minigan.tensor(rng.uniform(-1, 1, shape).astype(np.float32))
    if model.startswith("cgan"):
        labels = minigan.tensor(np.arange(BATCH) % 10)
        return lambda: trainer.step(real, labels)
    return lambda: trainer.step(real)


def profile(model: str, warmup: int = 2, repeats: int = 5) -> tuple[float, str]:
    """(median step time in ms over `repeats` untraced steps, the traced step's summary)."""
    step = make_step(model)
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    with minigan.trace() as recorded:
        step()
    return statistics.median(times) * 1e3, recorded.summary_table()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=(*MODELS, "all"), default="dcgan")
    parser.add_argument("--threads", type=int, default=None, help="threads (default: cores)")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps (default: 5)")
    parser.add_argument("--markdown", metavar="PATH", help="also write the profile here")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats {args.repeats}: expected >= 1")
    threads = cpu_threads.set_num_threads(args.threads)
    backend.prepare_cpu_kernels()
    info = minigan.backend_info()["cpu"]
    header = (
        f"{datetime.date.today()}, {platform.processor() or platform.machine()}, "
        f"{cpu_threads.available_cores()} cores, {threads} thread(s), batch {BATCH}, "
        f"cpu kernels: {info['implementation']}"
    )
    sections = [f"Profile of one training step ({header})"]
    for model in MODELS if args.model == "all" else (args.model,):
        median_ms, table = profile(model, repeats=args.repeats)
        sections.append(f"## {model}: {median_ms:.1f} ms per step (median of {args.repeats})")
        sections.append("```\n" + table + "\n```")
    text = "\n\n".join(sections) + "\n"
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
