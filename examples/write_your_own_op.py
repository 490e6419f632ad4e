#!/usr/bin/env python3
# A worked example of adding a differentiable op to minigan: Swish/SiLU, y = x·σ(x), as a
# Function subclass with a hand-written backward; checked with minigan.gradcheck (and a
# deliberately wrong backward that gradcheck catches); then used inside a small model.
"""Write your own op: Swish (also called SiLU), y = x·σ(x), with its backward.

1. Derive the derivative on paper. By the product rule, with s = σ(x) and σ' = s(1 - s):

       dy/dx = s + x·s(1 - s) = s·(1 + x(1 - s))

2. Write a `Function` subclass. `forward(ctx, x)` and `backward(ctx, g)` work on raw
   arrays (NumPy on the cpu, CuPy on a GPU), not on Tensors. `backward` receives
   g = dL/dy and returns dL/dx = g·dy/dx, one gradient per input, each of its input's
   shape. Save in `ctx` whatever backward needs (here x and s, so no exp is recomputed).
3. Check it with `minigan.gradcheck` in float64: it compares your backward with central
   finite differences, element by element.
4. See gradcheck catch a wrong backward (the classic one: forgetting the product rule),
   with a report naming the worst element and both values.
5. Use it in a model, as a Module, and train.

Run:
  python examples/write_your_own_op.py
  python examples/write_your_own_op.py --steps 500 --seed 1
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

import minigan
from minigan import nn, optim
from minigan.autograd import Context, Function
from minigan.device import array_module_of
from minigan.gradcheck import GradcheckError, gradcheck_report
from minigan.nn import functional as F


# ----- 1 + 2: the op ------------------------------------------------------------------
def sigmoid_array(x: Any) -> Any:
    """σ(x) on a raw array without overflow: only exp(-|x|) <= 1 is ever computed."""
    xp = array_module_of(x)  # numpy or cupy, whichever holds x
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


class Swish(Function):
    """y = x·σ(x).  dy/dx = σ(x)·(1 + x·(1 - σ(x)))."""

    @staticmethod
    def forward(ctx: Context, x: Any) -> Any:
        s = sigmoid_array(x)
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        x, s = ctx.saved
        return g * s * (1 + x * (1 - s))


def swish(x: minigan.Tensor) -> minigan.Tensor:
    """Swish/SiLU as a differentiable op: Swish.apply records the graph node."""
    if x.dtype.kind != "f":
        raise TypeError(f"swish: expected a floating tensor, got {x.dtype}")
    return Swish.apply(x)


class SwishForgotProductRule(Swish):
    """The same forward with a WRONG backward: it treats σ(x) as a constant, giving
    dy/dx = σ(x) and dropping the x·σ'(x) term. Plausible, and wrong."""

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        _x, s = ctx.saved
        return g * s


def swish_wrong(x: minigan.Tensor) -> minigan.Tensor:
    return SwishForgotProductRule.apply(x)


class SwishLayer(nn.Module):
    """The op as a layer, usable in nn.Sequential (it has no parameters)."""

    def forward(self, x: minigan.Tensor) -> minigan.Tensor:
        return swish(x)


# ----- 3 + 4: checking it -----------------------------------------------------------
def check_forward() -> bool:
    """The forward against an independent NumPy formula, including large |x|."""
    x = np.array([-50.0, -3.0, -0.5, 0.0, 0.5, 3.0, 50.0])
    got = swish(minigan.tensor(x)).numpy()
    expected = x / (1 + np.exp(-x))
    ok = bool(np.allclose(got, expected, rtol=1e-12, atol=1e-12))
    print(f"forward matches x / (1 + exp(-x)): {ok}")
    return ok


def check_backward(rng: np.random.Generator) -> bool:
    """gradcheck the correct op alone, inside a layer, and against autograd's version."""
    x = minigan.tensor(rng.standard_normal((3, 4)) * 3, dtype="float64", requires_grad=True)
    w = minigan.tensor(rng.standard_normal((5, 4)), dtype="float64", requires_grad=True)
    b = minigan.tensor(rng.standard_normal(5), dtype="float64", requires_grad=True)

    ok = minigan.gradcheck(swish, [x])  # raises GradcheckError on a mismatch
    print(f"gradcheck(swish):                      {ok}")
    in_a_layer = minigan.gradcheck(lambda x, w, b: swish(minigan.linear_act(x, w, b)), [x, w, b])
    print(f"gradcheck(swish(linear(x, w, b))):     {in_a_layer}")

    # A third opinion: the same function composed from existing ops, differentiated by
    # autograd (two graph nodes instead of one, but no hand-written backward).
    x.zero_grad()
    swish(x).sum().backward()
    mine = x.grad.numpy().copy()
    x.zero_grad()
    (x * x.sigmoid()).sum().backward()
    same = bool(np.allclose(mine, x.grad.numpy(), rtol=1e-12, atol=1e-12))
    print(f"same gradient as autograd of x * sigmoid(x): {same}")
    return ok and in_a_layer and same


def catch_the_bug(rng: np.random.Generator) -> bool:
    """gradcheck the wrong backward: print the report, and show the exception."""
    x = minigan.tensor(rng.standard_normal((3, 4)) * 3, dtype="float64", requires_grad=True)
    report = gradcheck_report(swish_wrong, [x])
    print(report)  # the per-input table: worst element, analytic vs numeric value
    try:
        minigan.gradcheck(swish_wrong, [x])
    except GradcheckError as err:
        worst = err.result.inputs[0]
        print(
            f"caught GradcheckError: element {worst.worst_element} has analytic "
            f"{worst.analytic_at_worst:.6f} but the finite difference says "
            f"{worst.numeric_at_worst:.6f}"
        )
        # gradcheck differentiates S = sum(y * r) for a fixed random r (one backward
        # checks all elements at once), so both reported values are r * dy/dx.
        x_bad = x.numpy()[worst.worst_element]
        s = 1 / (1 + np.exp(-x_bad))
        right = s * (1 + x_bad * (1 - s))
        r = worst.numeric_at_worst / right
        print(
            f"  both are r * dy/dx with r = {r:.4f} (gradcheck's random projection); "
            f"divided by r, at x = {x_bad:.4f}:\n"
            f"  backward gave {worst.analytic_at_worst / r:.6f} = σ(x) (the buggy formula), "
            f"the truth is {right:.6f} = σ(x)(1 + x(1 - σ(x)))"
        )
        return not report.ok
    print("the wrong backward was NOT caught")
    return False


# ----- 5: using it ------------------------------------------------------------------
def two_circles(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Points on a circle of radius 1 (label 1) or 2 (label 0), with noise: a problem
    no linear model can solve."""
    angle = rng.uniform(0, 2 * np.pi, n)
    label = rng.integers(0, 2, n)
    radius = np.where(label == 1, 1.0, 2.0) + rng.normal(0, 0.15, n)
    points = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return points.astype(np.float32), label.astype(np.float32).reshape(-1, 1)


def train(steps: int, lr: float, rng: np.random.Generator) -> float:
    """Train a 2 -> 16 -> 16 -> 1 MLP with Swish activations; return the accuracy."""
    model = nn.Sequential(
        nn.Linear(2, 16), SwishLayer(), nn.Linear(16, 16), SwishLayer(), nn.Linear(16, 1)
    )
    opt = optim.Adam(model.parameters(), lr=lr)
    points, labels = two_circles(512, rng)
    x, t = minigan.tensor(points), minigan.tensor(labels)
    for step in range(steps + 1):
        opt.zero_grad()
        logits = model(x)
        loss = F.binary_cross_entropy_with_logits(logits, t)
        if step % max(steps // 4, 1) == 0:
            acc = float(((logits.numpy() > 0) == (labels > 0.5)).mean())
            print(f"step {step:4d}: loss {loss.item():.4f}, accuracy {acc:.3f}")
        if step < steps:
            loss.backward()  # runs Swish.backward twice per step, once per layer
            opt.step()
    print(f"ops in the model's graph: {graph_ops(logits)}")
    return acc


def graph_ops(t: minigan.Tensor) -> dict[str, int]:
    """How many nodes of each op the graph behind `t` holds (Swish is one of them)."""
    counts: dict[str, int] = {}
    stack, seen = [t], set()
    while stack:
        t = stack.pop()
        if t._node is None or id(t) in seen:
            continue
        seen.add(id(t))
        counts[t._node.name] = counts.get(t._node.name, 0) + 1
        stack.extend(t._node.parents)
    return counts


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--steps", type=int, default=300, help="training steps of the toy model (default: 300)"
    )
    parser.add_argument("--lr", type=float, default=0.01, help="Adam learning rate (default: 0.01)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.steps < 0:
        parser.error(f"--steps must be >= 0, got {args.steps}")
    minigan.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    print("== 1-3. the op, and gradcheck on the correct backward ==")
    correct = check_forward() and check_backward(rng)
    print("\n== 4. a wrong backward, caught by gradcheck ==")
    caught = catch_the_bug(rng)
    print("\n== 5. Swish inside a small model (two circles) ==")
    train(args.steps, args.lr, rng)

    if not (correct and caught):
        print("\nunexpected: the correct op failed a check, or the bug went unnoticed")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
