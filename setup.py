# Packaging for minigan. Installs the pure-Python package everywhere.
# The compiled CUDA extension `minigan._C` (hand-written kernels in csrc/) is added by
# `cuda_extensions()` below; until it is built, every op runs on the NumPy reference (cpu)
# or the CuPy fallbacks (cuda).
from __future__ import annotations

from setuptools import find_packages, setup


def cuda_extensions() -> list:
    """The nvcc-built `minigan._C` extension (csrc/). Empty until the CUDA kernels land.

    Planned switches: MINIGAN_BUILD_CUDA=1 forces the build (failing loudly), =0 skips it;
    unset builds it when nvcc (CUDA_HOME, PATH, /usr/local/cuda) and pybind11 are found.
    """
    return []


setup(
    name="minigan",
    version="0.1.0",
    description=(
        "A small from-scratch autograd + hand-written-kernel library that trains GANs and "
        "VAEs on MNIST"
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["minigan", "minigan.*"]),
    python_requires=">=3.10",
    install_requires=["numpy>=1.24", "tqdm>=4.60", "Pillow>=9.0"],
    extras_require={
        "test": ["pytest>=7", "pytest-benchmark>=4", "hypothesis>=6"],
        "cuda": ["cupy-cuda13x"],
        "numba": ["numba>=0.58"],
        "dev": ["ruff>=0.5", "pytest>=7", "pytest-benchmark>=4", "hypothesis>=6"],
    },
    ext_modules=cuda_extensions(),
    zip_safe=False,
)
