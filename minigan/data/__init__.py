# minigan/data/__init__.py: the public data API (IDX reader, MNIST loader,
# DataLoader, pixel scaling and the dataset error types).
"""Datasets for minigan: read IDX/MNIST files and iterate over them in batches."""

from .idx import DatasetError, DatasetNotFoundError, read_idx
from .loader import DataLoader, scale_images
from .mnist import (
    DATA_DIR_ENV,
    MNIST_FILES,
    MNIST_MD5,
    NUM_CLASSES,
    UnrecognisedDataWarning,
    default_data_dir,
    load_idx_dataset,
    load_mnist,
)

__all__ = [
    "DATA_DIR_ENV",
    "MNIST_FILES",
    "MNIST_MD5",
    "NUM_CLASSES",
    "DataLoader",
    "DatasetError",
    "DatasetNotFoundError",
    "UnrecognisedDataWarning",
    "default_data_dir",
    "load_idx_dataset",
    "load_mnist",
    "read_idx",
    "scale_images",
]
