# What minigan notes about the process before anything of it imports NumPy: whether NumPy
# was imported first and whether the user set OPENBLAS_THREAD_TIMEOUT, and the setting of
# OPENBLAS_THREAD_TIMEOUT itself. minigan/__init__.py imports this module first; it sits
# below every other module (it imports nothing), so backend/cpu_threads.py can read it
# without importing the package's top (which would be an upward import).
"""Import-time facts about the process, recorded before NumPy is loaded by minigan.

OpenBLAS's worker threads busy-wait after each GEMM (about 0.1 s by default), holding the
cores that the numba kernels' threads need next: a 2-thread MLP-GAN step was measured 8x
slower than a 1-thread one. A short timeout puts them to sleep at once. OpenBLAS reads it
when it loads, i.e. when NumPy is first imported, so it only applies when minigan is
imported first; backend/cpu_threads.py copes with the other case. A value the user set
is kept.
"""

from __future__ import annotations

import os
import sys

NUMPY_IMPORTED_FIRST = "numpy" in sys.modules
OPENBLAS_TIMEOUT_PRESET = "OPENBLAS_THREAD_TIMEOUT" in os.environ
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
