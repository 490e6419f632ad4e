# minigan/utils/checkpoint.py: crash-safe checkpoint save/load (pickle) and the
# atomic_write helper that other writers in minigan.utils also use.
"""Save and load training checkpoints without ever leaving a half-written file.

A checkpoint file is a pickle (protocol 5) of::

    {"format": "minigan-checkpoint", "version": 1, "state": <your dict>}

``load_checkpoint`` checks that header and returns ``state``, so
``load_checkpoint(save_checkpoint(state, p))`` equals ``state``.

Security: unpickling runs code chosen by whoever wrote the file. Only load
checkpoints you (or someone you trust) created.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "CheckpointError",
    "CheckpointNotFoundError",
    "atomic_write",
    "load_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "minigan-checkpoint"
CHECKPOINT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, or not a minigan checkpoint."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint file does not exist."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open a temporary file next to ``path`` for binary writing; publish it on success.

    The data goes to a temp file in the same directory, is flushed and fsynced, and
    only then renamed over ``path`` with ``os.replace`` (atomic on POSIX and Windows).
    If the ``with`` body raises, the temp file is removed and any existing ``path``
    is left untouched. The parent directory is created if needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_name, 0o666 & ~_umask())  # mkstemp makes 0600; use normal perms
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    # Make the rename durable (POSIX only; Windows cannot open directories).
    if os.name == "posix":
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Pickle ``state`` to ``path`` atomically and return the path.

    ``state`` may nest dicts, lists, numbers and numpy arrays. Convert GPU arrays to
    numpy first so the checkpoint loads on any machine.
    """
    if not isinstance(state, dict):
        raise TypeError(f"checkpoint state must be a dict, got {type(state).__name__}")
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "state": state,
    }
    path = Path(path)
    with atomic_write(path) as f:
        pickle.dump(payload, f, protocol=5)
    return path


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load the state dict saved by ``save_checkpoint``.

    Only load trusted files: unpickling can execute arbitrary code.

    Raises:
        CheckpointNotFoundError: ``path`` does not exist.
        CheckpointError: the file is truncated, not a pickle, or not a minigan
            checkpoint (of a version this code understands). The message names the file.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            payload = pickle.load(f)
    except FileNotFoundError:
        raise CheckpointNotFoundError(f"{path}: checkpoint file not found") from None
    except EOFError as exc:
        raise CheckpointError(
            f"{path}: checkpoint is empty or truncated (interrupted copy, or a disk "
            "that filled up?); use an earlier checkpoint"
        ) from exc
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read checkpoint ({exc})") from exc
    except Exception as exc:  # UnpicklingError, missing classes, garbage bytes, ...
        hint = "truncated" if "truncated" in str(exc) else "corrupt or not a checkpoint"
        raise CheckpointError(
            f"{path}: cannot unpickle checkpoint, file is {hint} ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path}: not a minigan checkpoint (no '{CHECKPOINT_FORMAT}' header); "
            "was it written by save_checkpoint?"
        )
    version = payload.get("version")
    if version != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version!r} is not supported "
            f"(this minigan reads version {CHECKPOINT_VERSION})"
        )
    state = payload.get("state")
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: checkpoint header is present but the state is missing")
    return state
