# minigan: a small from-scratch autograd + kernels library that trains GANs and VAEs on MNIST.
# This file is the public API: Tensor, factories, ops, no_grad, seeding, backend info and
# save/load of state (safetensors + JSON, never pickle).
from __future__ import annotations

import os as _os
import sys as _sys

# OpenBLAS's worker threads busy-wait after each GEMM (about 0.1 s by default), holding the
# cores that the numba kernels' threads need next: a 2-thread MLP-GAN step was measured 8x
# slower than a 1-thread one. A short timeout puts them to sleep at once. OpenBLAS reads it
# when it loads, i.e. when NumPy is first imported, so it only applies when minigan is
# imported first; backend/cpu_threads.py copes with the other case. A value the user set
# is kept.
_NUMPY_IMPORTED_FIRST = "numpy" in _sys.modules
_OPENBLAS_TIMEOUT_PRESET = "OPENBLAS_THREAD_TIMEOUT" in _os.environ
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

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
