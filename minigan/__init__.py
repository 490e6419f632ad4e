# minigan: a small from-scratch autograd + kernels library that trains GANs and VAEs on MNIST.
# This file is the public API: Tensor, factories, ops, no_grad, seeding, backend info and
# save/load of state (safetensors + JSON, never pickle).
from __future__ import annotations

# First of all, before NumPy loads: note the import order and set OPENBLAS_THREAD_TIMEOUT
# (why: minigan/_startup.py).
from . import _startup

_NUMPY_IMPORTED_FIRST = _startup.NUMPY_IMPORTED_FIRST
_OPENBLAS_TIMEOUT_PRESET = _startup.OPENBLAS_TIMEOUT_PRESET

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
from .ops import (  # every op (minigan.ops), but the operators [] and []= (getitem/setitem)
    abs,
    add,
    amax,
    amin,
    argmax,
    argmin,
    avg_pool2d,
    batch_norm,
    binary_cross_entropy_with_logits,
    broadcast_to,
    cat,
    chunk,
    clamp,
    clip,
    concat,
    conv2d,
    conv_transpose2d,
    cos,
    cumsum,
    div,
    elu,
    eq,
    exp,
    expand,
    flatten,
    flip,
    floor,
    gather,
    ge,
    gelu,
    gt,
    hardtanh,
    le,
    leaky_relu,
    linear_act,
    log,
    log_softmax,
    logsigmoid,
    logsumexp,
    lt,
    matmul,
    max,
    max_pool2d,
    maximum,
    mean,
    min,
    minimum,
    mul,
    ne,
    neg,
    one_hot,
    pad,
    permute,
    pow,
    prod,
    relu,
    reshape,
    rsqrt,
    sigmoid,
    sign,
    silu,
    sin,
    softmax,
    softplus,
    split,
    sqrt,
    square,
    squeeze,
    stack,
    std,
    sub,
    sum,
    tanh,
    transpose,
    unsqueeze,
    upsample_nearest,
    var,
    where,
)
from .random import get_rng_state, manual_seed, set_rng_state
from .tensor import Tensor, tensor
from .tracing import trace
from .utils.checkpoint import CheckpointError, load, save

__version__ = "0.1.0"
