# Class conditioning for the conditional GANs: integer labels -> one-hot vectors (to
# concatenate to z or to a flattened image) or constant one-hot feature maps (to
# concatenate to image channels), and the label checks every conditional model shares.
"""Label conditioning helpers.

A conditional generator models p(x | y) by reading y next to z: G([z, onehot(y)]). A
conditional discriminator scores the pair: D([x, onehot(y)]), so a sharp "7" shown with
label 3 is a fake it can reject, which forces G to draw the digit it was asked for.

Labels are constants (no gradient flows into them). They may be given as an integer
Tensor or any integer array (NumPy on cpu; moved to the model's device here).
"""

from __future__ import annotations

from typing import Any

from ..creation import arange, ones, rand
from ..tensor import Tensor


def _as_label_tensor(labels: Any, device: str) -> Tensor:
    """`labels` as an int64 Tensor of shape (N,) on `device` (TypeError for non-integers)."""
    t = labels if isinstance(labels, Tensor) else Tensor(labels)
    if t.dtype.kind not in "iu":
        raise TypeError(f"labels must be integers, got dtype {t.dtype}")
    if t.ndim != 1:
        raise ValueError(f"labels must have shape (N,), got {t.shape}")
    return Tensor(t.data, dtype="int64", device=device)  # a copy/move only when needed


def one_hot(labels: Any, num_classes: int, dtype: Any = "float32", device: str = "cpu") -> Tensor:
    """The (N, num_classes) matrix Y with Y[n, k] = 1 if labels[n] == k else 0.

    Computed as a comparison of the labels (N, 1) against the classes 0..K-1 (1, K), so it
    is one broadcast op on either device. Labels outside 0..K-1 are a ValueError on cpu; on
    cuda the check is skipped (it would cost a device-to-host copy in every training step)
    and such a label gives an all-zero row.
    """
    if num_classes < 1:
        raise ValueError(f"one_hot: num_classes must be >= 1, got {num_classes}")
    idx = _as_label_tensor(labels, device)
    if (
        device == "cpu"
        and idx.size
        and (int(idx.data.min()) < 0 or int(idx.data.max()) >= num_classes)
    ):
        raise ValueError(
            f"one_hot: labels must be in 0..{num_classes - 1}, got values in "
            f"{int(idx.data.min())}..{int(idx.data.max())}"
        )
    classes = arange(num_classes, device=device)
    hits = idx.data[:, None] == classes.data[None, :]
    return Tensor(hits.astype(dtype), dtype=dtype, device=device)


def one_hot_maps(labels: Any, num_classes: int, height: int, width: int, like: Tensor) -> Tensor:
    """(N, K, height, width) constant feature maps: map k is all ones where labels[n] == k.

    Concatenated to an image's channels this hands the label to every position a
    convolution looks at. Built as onehot (N, K, 1, 1) · ones (1, 1, H, W) (broadcast).
    """
    y = one_hot(labels, num_classes, like.dtype, like.device)
    plane = ones(1, 1, height, width, dtype=like.dtype, device=like.device)
    return y.reshape(y.shape[0], num_classes, 1, 1) * plane


def check_labels(model: Any, labels: Any, n: int) -> None:
    """Raise a clear ValueError unless `labels` fits `model` (its `num_classes`) and batch n.

    Conditional models (num_classes > 0) need labels of shape (n,); unconditional models
    refuse them (silently ignoring labels would hide a wrong --arch).
    """
    name = type(model).__name__
    k = getattr(model, "num_classes", 0)
    if k and labels is None:
        raise ValueError(
            f"{name} is conditional (num_classes={k}): call it with labels, an integer "
            f"Tensor or array of shape (N,) with values in 0..{k - 1}"
        )
    if not k and labels is not None:
        raise ValueError(f"{name} is unconditional (num_classes=0): labels must be None")
    if labels is not None:
        shape = tuple(labels.shape) if hasattr(labels, "shape") else (len(labels),)
        if shape != (n,):
            raise ValueError(
                f"{name}: labels must have shape ({n},) for a batch of {n}, got {shape}"
            )


def sample_labels(n: int, num_classes: int, device: str = "cpu") -> Tensor:
    """n labels drawn uniformly from 0..K-1 with minigan's global generator for `device`.

    y = floor(K·u), u ~ U[0, 1) in float64 (clipped to K-1 against rounding), so the draw
    stays on the device and is reproducible with ``manual_seed`` / resumable from the RNG
    state of a checkpoint.
    """
    if num_classes < 1:
        raise ValueError(f"sample_labels: num_classes must be >= 1, got {num_classes}")
    u = rand(n, dtype="float64", device=device)
    y = (u.data * num_classes).astype("int64").clip(0, num_classes - 1)
    return Tensor(y, device=device)
