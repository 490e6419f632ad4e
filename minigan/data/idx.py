# minigan/data/idx.py: the IDX file reader (the format MNIST ships in) and the
# dataset error types shared by everything under minigan.data.
"""Read IDX files, raw or gzip-compressed, into numpy arrays.

IDX layout (all integers big-endian)::

    byte 0-1   0x00 0x00             (zero bytes)
    byte 2     element type          (0x08 = uint8, see ``IDX_DTYPES``)
    byte 3     ndim                  (number of dimensions)
    then       ndim x uint32         (the size of each dimension)
    then       the payload           (prod(dims) elements, row-major)

Whether a file is gzip-compressed is decided by its first two bytes (1f 8b), not by
its name, so a decompressed file that kept its ``.gz`` name still loads.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = [
    "FIX_HINT",
    "IDX_DTYPES",
    "DatasetError",
    "DatasetNotFoundError",
    "idx_magic",
    "read_idx",
    "read_idx_md5",
]

#: Type byte -> element dtype. IDX stores multi-byte numbers big-endian ('>').
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

#: How to repair a bad or missing data file; appended to error messages.
FIX_HINT = (
    "To fix it, re-copy the file (for MNIST: from ../shared/data/mnist into "
    "data/mnist), "
    "or point --data-dir / the MINIGAN_DATA_DIR environment variable at a good copy."
)

_GZIP_MAGIC = b"\x1f\x8b"


class DatasetError(ValueError):
    """A data file is unreadable, corrupt, or does not match what was expected."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """A data file or data directory does not exist."""


def _read_bytes(path: Path) -> bytes:
    """Return the file's bytes, decompressed if it starts with the gzip magic."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DatasetNotFoundError(f"{path}: file not found. {FIX_HINT}") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read file ({exc}). {FIX_HINT}") from exc
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        # BadGzipFile is an OSError; a cut-off stream raises EOFError; bit rot inside
        # the deflate data raises zlib.error or a CRC mismatch (BadGzipFile).
        raise DatasetError(
            f"{path}: corrupt gzip stream ({type(exc).__name__}: {exc}); "
            f"the file is damaged or incompletely copied. {FIX_HINT}"
        ) from exc


def _parse(path: Path, data: bytes) -> np.ndarray:
    """Check the IDX header of ``data`` and return the payload as a native array."""
    if len(data) < 4:
        raise DatasetError(
            f"{path}: file is only {len(data)} bytes, too short for an IDX header "
            f"(4 bytes). {FIX_HINT}"
        )
    zero, type_byte, ndim = data[0:2], data[2], data[3]
    if zero != b"\x00\x00" or type_byte not in IDX_DTYPES:
        raise DatasetError(
            f"{path}: not an IDX file: magic bytes are {data[:4].hex(' ')}, expected "
            f"00 00 <type> <ndim> with type one of "
            f"{', '.join(f'{t:02x}' for t in IDX_DTYPES)}. {FIX_HINT}"
        )
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DatasetError(
            f"{path}: truncated IDX header: {ndim} dimensions need {header_len} header "
            f"bytes but the file has {len(data)}. {FIX_HINT}"
        )
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[type_byte]
    expected = math.prod(dims) * dtype.itemsize
    found = len(data) - header_len
    if found != expected:
        what = "truncated" if found < expected else "has trailing bytes"
        raise DatasetError(
            f"{path}: payload {what}: shape {dims} of {dtype.name} needs {expected} "
            f"bytes after the header but found {found}. {FIX_HINT}"
        )
    array = np.frombuffer(data, dtype=dtype, count=math.prod(dims), offset=header_len)
    # astype() copies, giving a writable array in native byte order.
    return array.astype(dtype.newbyteorder("="), copy=True).reshape(dims)


def idx_magic(array: np.ndarray) -> int:
    """The IDX magic number (``0x0000TTDD``: type byte, ndim) that would store ``array``."""
    native = {dt.newbyteorder("="): t for t, dt in IDX_DTYPES.items()}
    return (native.get(array.dtype.newbyteorder("="), 0) << 8) | array.ndim


def read_idx_md5(path: str | os.PathLike) -> tuple[np.ndarray, str]:
    """Read an IDX file like ``read_idx`` and also return the md5 of its uncompressed bytes.

    Format errors (bad magic, truncation, ...) are raised whatever the md5; the caller
    decides what a known or unknown md5 means (``minigan.data.load_mnist``).
    """
    path = Path(path)
    data = _read_bytes(path)
    return _parse(path, data), hashlib.md5(data).hexdigest()


def read_idx(path: str | os.PathLike, expected_md5: str | None = None) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a new, writable numpy array.

    Args:
        path: the file to read. Compression is detected from the content.
        expected_md5: if given, the md5 hex digest the *uncompressed* file must have.

    Returns:
        An array of shape ``dims`` from the header, in native byte order (``uint8``
        for MNIST).

    Raises:
        DatasetNotFoundError: the file does not exist.
        DatasetError: unreadable, corrupt gzip, bad magic, truncated or oversized
            payload, or md5 mismatch. The message names the file and the fix.
    """
    path = Path(path)
    data = _read_bytes(path)
    if expected_md5 is not None:
        actual = hashlib.md5(data).hexdigest()
        if actual != expected_md5.strip().lower():
            raise DatasetError(
                f"{path}: md5 mismatch: the uncompressed content hashes to {actual}, "
                f"expected {expected_md5}. The file is corrupt or is a different "
                f"dataset (pass verify=False to load a different dataset on "
                f"purpose). {FIX_HINT}"
            )
    return _parse(path, data)
