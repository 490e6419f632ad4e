# minigan: a small from-scratch autograd + kernels library that trains GANs and VAEs on MNIST.
# This file is the public API: Tensor, factories, ops, no_grad, seeding, backend info and
# save/load of state (safetensors + JSON, never pickle).
from __future__ import annotations

from . import nn, ops, optim, viz  # noqa: E402 - after the core they build on
from .autograd import enable_grad, is_grad_enabled, no_grad
from .backend import backend_info
from .creation import (
    arange,
    from_dlpack,
    full,
    ones,
    ones_like,
    rand,
    randn,
    randn_like,
    zeros,
    zeros_like,
)
from .device import cuda_is_available, resolve_device
from .gradcheck import GradcheckError, gradcheck
from .ops import (
    abs,
    add,
    batch_norm,
    binary_cross_entropy_with_logits,
    clip,
    concat,
    conv2d,
    conv_transpose2d,
    div,
    exp,
    flatten,
    leaky_relu,
    linear_act,
    log,
    matmul,
    max,
    maximum,
    mean,
    minimum,
    mul,
    neg,
    permute,
    pow,
    relu,
    reshape,
    sigmoid,
    softplus,
    sqrt,
    stack,
    sub,
    sum,
    tanh,
    transpose,
)
from .random import get_rng_state, manual_seed, set_rng_state
from .tensor import Tensor, tensor
from .tracing import trace
from .utils.checkpoint import CheckpointError, load, save

__version__ = "0.1.0"
