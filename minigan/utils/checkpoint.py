# minigan/utils/checkpoint.py: the one file format minigan saves state in (checkpoints,
# module and optimizer state dicts): safetensors for arrays, JSON for everything else, a
# content hash; loading never runs code. Also the atomic_write helper other writers use.
"""Save and load nested state in a file format that cannot run code.

``save(obj, path)`` / ``load(path)`` (re-exported as ``minigan.save`` / ``minigan.load``)
store a module's ``state_dict()``, an optimizer's ``state_dict()`` or any nested state;
``save_checkpoint`` / ``load_checkpoint`` are the same for the dict of a training
checkpoint. Every file is written atomically (``atomic_write``: temp file + fsync + rename).

File format (version 2; a plain `safetensors <https://github.com/huggingface/safetensors>`_
file, readable with ``safetensors.numpy.load_file`` or ``safetensors.torch.load_file``):

* Every NumPy array in the state is one tensor, named by its path in the nested structure:
  dict keys and list/tuple indices joined with ``/``, each key escaped as in JSON Pointer
  (``~`` -> ``~0``, ``/`` -> ``~1``). A module's state dict therefore keeps its own keys
  (``net.0.weight``), and ``{"G": {"net.0.weight": w}}`` stores ``G/net.0.weight``.
  Supported dtypes: bool, int8-64, uint8-64, float16/32/64, complex64; arrays are stored
  little-endian, C order, bit-exact; 0-d and empty arrays are fine.
* Everything else goes into the safetensors header's ``__metadata__`` (string values):

  - ``format``: ``"minigan-checkpoint"``; ``version``: ``"2"``.
  - ``state``: the structure as JSON, one node per value: ``null``, ``true``/``false``,
    strings, ints with ``|v| < 2**53`` and finite floats as themselves; otherwise a
    one-key object: ``{"dict": {key: node, ...}}`` (str keys, order kept),
    ``{"list": [...]}``, ``{"tuple": [...]}``, ``{"tensor": name}`` (an array),
    ``{"scalar": name}`` (a NumPy scalar such as ``np.float32(0.5)``, stored as a 0-d
    tensor), ``{"int": "<decimal>"}`` (a big int, e.g. a PCG64 RNG state) and
    ``{"float": "nan" | "inf" | "-inf"}``.
  - ``sha256``: the content hash, hex: SHA-256 over length-prefixed fields (each field is
    its byte length as 8-byte little-endian, then the bytes): every other metadata key
    and value (UTF-8, keys sorted), then the number of tensors, then per tensor in
    name order its name, dtype name (``float32``), shape (JSON list) and raw bytes.

``load`` reads the header itself before handing the bytes to ``safetensors.numpy.load``,
checks the format tag and version, verifies the hash, and rebuilds the structure. Nothing
on this path unpickles or evaluates anything: a pickle (such as an old ``checkpoint.pkl``)
or any other file is refused with a ``CheckpointError`` naming the file and what is wrong;
so is a truncated file or one whose content does not match its hash.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "CheckpointError",
    "CheckpointNotFoundError",
    "CheckpointTypeError",
    "atomic_write",
    "remove_stale_temp_files",
    "load",
    "load_checkpoint",
    "save",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "minigan-checkpoint"
CHECKPOINT_VERSION = 2

# numpy dtypes a tensor may have (those safetensors' NumPy API reads back)
_DTYPES = frozenset(
    np.dtype(t).name
    for t in (
        np.bool_,
        np.int8,
        np.int16,
        np.int32,
        np.int64,
        np.uint8,
        np.uint16,
        np.uint32,
        np.uint64,
        np.float16,
        np.float32,
        np.float64,
        np.complex64,
    )
)
_MAX_SAFE_INT = 2**53  # ints at or beyond this go into {"int": "..."} (exact in any JSON reader)
_MAX_HEADER = 100_000_000  # safetensors' own limit on the header size
_INT_RE = re.compile(r"-?(0|[1-9][0-9]*)")
_TAGS = ("dict", "list", "tuple", "tensor", "scalar", "int", "float")
_SUPPORTED = (
    "dicts with str keys, lists, tuples, str, int, float, bool, None, NumPy arrays and "
    "NumPy scalars"
)


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, corrupted, or not a minigan checkpoint."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint file does not exist."""


class CheckpointTypeError(CheckpointError, TypeError):
    """The state to save holds a value the format cannot store (the message names it)."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: atomic_write's temp files: TEMP_PREFIX + target name + random part + TEMP_SUFFIX, next to
#: the target. A process killed while writing (SIGKILL, power loss) leaves one behind; the
#: target itself is untouched. `remove_stale_temp_files` removes them.
TEMP_PREFIX = ".minigan-tmp."
TEMP_SUFFIX = ".tmp"
#: when this process (its minigan import) started: temp files older than this were left
#: by an earlier process
_PROCESS_START = time.time()


def remove_stale_temp_files(directory: str | os.PathLike) -> list[Path]:
    """Remove the temp files ``atomic_write`` left in ``directory`` (not recursively) when an
    earlier process was killed while writing: those named TEMP_PREFIX...TEMP_SUFFIX and last
    modified before this process started (a write in progress in this process, or one
    started since, is kept). Returns the removed paths."""
    removed = []
    try:
        candidates = list(Path(directory).glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"))
    except OSError:
        return removed
    for tmp in candidates:
        try:
            if tmp.is_file() and not tmp.is_symlink() and tmp.stat().st_mtime < _PROCESS_START:
                tmp.unlink()
                removed.append(tmp)
        except OSError:  # gone already, or not ours to remove
            continue
    return removed


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open a temporary file next to ``path`` for binary writing; publish it on success.

    The data goes to a temp file in the same directory (named ``.minigan-tmp.NAME.XXXX.tmp``,
    see ``remove_stale_temp_files``), is flushed and fsynced, and
    only then renamed over ``path`` with ``os.replace`` (atomic on POSIX and Windows).
    If the ``with`` body raises, the temp file is removed and any existing ``path``
    is left untouched. The parent directory is created if needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        dir=path.parent, prefix=f"{TEMP_PREFIX}{path.name}.", suffix=TEMP_SUFFIX
    )
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


def _safetensors_numpy() -> Any:
    try:
        import safetensors.numpy  # noqa: PLC0415 - only the save/load paths need it
    except ImportError as exc:
        raise ImportError(
            "minigan saves and loads checkpoints as safetensors files: pip install safetensors"
        ) from exc
    return safetensors.numpy


# ----- encoding -------------------------------------------------------------------------


def _show(path: tuple[Any, ...]) -> str:
    """A key path as Python would index it: state["opt"]["m"][0]."""
    return "state" + "".join(f"[{k!r}]" if isinstance(k, str) else f"[{k}]" for k in path)


def _tensor_name(path: tuple[Any, ...]) -> str:
    return "/".join(str(k).replace("~", "~0").replace("/", "~1") for k in path)


class _Encoder:
    """Splits a nested value into a JSON tree and a dict of named arrays."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.tensors: dict[str, np.ndarray] = {}
        self._open: set[int] = set()  # ids of the containers on the current path

    def fail(self, path: tuple[Any, ...], what: str) -> CheckpointTypeError:
        return CheckpointTypeError(f"{self.file}: cannot save {_show(path)}: {what}")

    def array(self, value: np.ndarray, path: tuple[Any, ...], tag: str) -> dict[str, str]:
        if value.dtype.name not in _DTYPES or value.dtype.fields is not None:
            raise self.fail(
                path,
                f"NumPy dtype {value.dtype} is not supported (supported: "
                f"{', '.join(sorted(_DTYPES))})",
            )
        name = _tensor_name(path)
        if name == "__metadata__":
            raise self.fail(path, "the key '__metadata__' is reserved by safetensors")
        arr = value if value.flags.c_contiguous else np.array(value, order="C")  # keeps 0-d
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        self.tensors[name] = arr
        return {tag: name}

    def encode(self, value: Any, path: tuple[Any, ...]) -> Any:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str):
            return str(value)
        if isinstance(value, np.ndarray):
            return self.array(value, path, "tensor")
        if isinstance(value, np.generic):
            return self.array(np.asarray(value), path, "scalar")
        if isinstance(value, int):
            value = int(value)
            return value if abs(value) < _MAX_SAFE_INT else {"int": str(value)}
        if isinstance(value, float):
            value = float(value)
            if math.isfinite(value):
                return value
            return {"float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
        if isinstance(value, dict | list | tuple):
            if id(value) in self._open:
                raise self.fail(path, "it contains itself")
            self._open.add(id(value))
            try:
                if isinstance(value, dict):
                    out = {}
                    for k, v in value.items():
                        if not isinstance(k, str):
                            raise self.fail(
                                path, f"dict keys must be str, found {type(k).__name__} {k!r}"
                            )
                        out[str(k)] = self.encode(v, (*path, str(k)))
                    return {"dict": out}
                items = [self.encode(v, (*path, i)) for i, v in enumerate(value)]
                return {"tuple" if isinstance(value, tuple) else "list": items}
            finally:
                self._open.discard(id(value))
        what = f"{type(value).__module__}.{type(value).__qualname__}"
        hint = ""
        if hasattr(value, "__cuda_array_interface__"):
            hint = " (a GPU array: copy it to NumPy first)"
        elif hasattr(value, "numpy"):
            hint = " (a minigan Tensor: save t.numpy() or a module's state_dict())"
        raise self.fail(
            path,
            f"values of type {what} cannot be stored{hint}; a checkpoint holds {_SUPPORTED}",
        )


def _field(h: Any, data: bytes | memoryview) -> None:
    h.update(len(data).to_bytes(8, "little"))
    h.update(data)


def _content_hash(metadata: dict[str, str], tensors: dict[str, np.ndarray]) -> str:
    """The sha256 stored in (and checked against) a file: see the module docstring."""
    h = hashlib.sha256()
    keys = sorted(k for k in metadata if k != "sha256")
    _field(h, str(len(keys)).encode())
    for key in keys:
        _field(h, key.encode("utf-8", "surrogatepass"))
        _field(h, metadata[key].encode("utf-8", "surrogatepass"))
    _field(h, str(len(tensors)).encode())
    for name in sorted(tensors):
        arr = tensors[name]
        _field(h, name.encode("utf-8", "surrogatepass"))
        _field(h, arr.dtype.name.encode())
        _field(h, json.dumps(list(arr.shape)).encode())
        _field(h, np.ascontiguousarray(arr).reshape(-1).view(np.uint8).data)
    return h.hexdigest()


def _encode_file(obj: Any, path: Path) -> bytes:
    encoder = _Encoder(path)
    try:
        tree = encoder.encode(obj, ())
    except RecursionError:
        raise CheckpointTypeError(f"{path}: cannot save the state: nested too deeply") from None
    metadata = {
        "format": CHECKPOINT_FORMAT,
        "version": str(CHECKPOINT_VERSION),
        "state": json.dumps(tree, allow_nan=False, separators=(",", ":")),
    }
    metadata["sha256"] = _content_hash(metadata, encoder.tensors)
    return _safetensors_numpy().save(encoder.tensors, metadata=metadata)


def save(obj: Any, path: str | os.PathLike) -> Path:
    """Save ``obj`` to ``path`` (atomically) in minigan's safetensors format; return the path.

    ``obj`` is a module's ``state_dict()``, an optimizer's ``state_dict()``, or any nesting
    of dicts (str keys), lists, tuples, str, int (any size), float (nan/inf too), bool,
    None, NumPy arrays and NumPy scalars (for a minigan Tensor or a GPU array save
    ``t.numpy()``; state dicts already hold NumPy copies). Arrays are stored bit-exact;
    ``load`` returns the same structure. The file holds only data (safetensors + JSON,
    see the module docstring), so loading it cannot run code. The name is up to you
    (``.safetensors`` is the convention); it is a plain safetensors file, so its arrays
    also load with ``safetensors.numpy.load_file`` or ``safetensors.torch.load_file``.

    Example::

        minigan.save(model.state_dict(), "generator.safetensors")
        model.load_state_dict(minigan.load("generator.safetensors"))

    Raises:
        CheckpointTypeError: ``obj`` holds a value of another type (or an array of an
            unsupported dtype); the message names its key path. Nothing is written.
    """
    path = Path(path)
    data = _encode_file(obj, path)
    with atomic_write(path) as f:
        f.write(data)
    return path


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Save a training checkpoint (a dict) to ``path`` atomically and return the path.

    The same format as ``save``; ``load_checkpoint(save_checkpoint(state, p)) == state``.
    """
    if not isinstance(state, dict):
        raise CheckpointTypeError(
            f"{path}: checkpoint state must be a dict, got {type(state).__name__}"
        )
    return save(state, path)


# ----- decoding -------------------------------------------------------------------------


def _looks_like_pickle(data: bytes) -> bool:
    """Pickle protocol 2-5 starts with PROTO (0x80, version); 0 and 1 end with STOP ('.')."""
    if len(data) >= 2 and data[0] == 0x80 and 1 <= data[1] <= 5:
        return True
    return data.rstrip(b"\r\n")[-1:] == b"." and data[:1] in (
        b"(",
        b"}",
        b"]",
        b")",
        b"c",
        b"N",
        b"I",
        b"L",
        b"S",
        b"V",
        b"F",
        b"K",
        b"J",
        b"M",
    )


def _not_safetensors(path: Path, data: bytes) -> CheckpointError:
    if _looks_like_pickle(data):
        return CheckpointError(
            f"{path}: this looks like a pickle; minigan never unpickles files (unpickling "
            "runs whatever code the file carries). minigan checkpoints are safetensors files "
            "written by minigan.save / save_checkpoint; a checkpoint.pkl from an older "
            "minigan cannot be loaded (retrain, or, only for a file you wrote yourself, "
            "convert it once: pickle.load it in a trusted session and minigan.save the state)"
        )
    if not data:
        return CheckpointError(
            f"{path}: the file is empty (0 bytes): truncated (an interrupted copy, or a disk "
            "that filled up?); use an earlier checkpoint"
        )
    kinds = {
        b"PK\x03\x04": "a zip archive (a PyTorch .pt/.pth file or a NumPy .npz?)",
        b"\x93NUMPY": "a NumPy .npy file",
        b"\x89PNG": "a PNG image",
    }
    what = next((v for k, v in kinds.items() if data.startswith(k)), None)
    if what is None and len(data) < 9:
        return CheckpointError(
            f"{path}: the file is only {len(data)} bytes: truncated, or not a minigan checkpoint"
        )
    return CheckpointError(
        f"{path}: not a minigan checkpoint: {what or 'not a safetensors file'} (minigan "
        "checkpoints are safetensors files written by minigan.save / save_checkpoint)"
    )


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _strict_json(text: str | bytes) -> Any:
    def no_constants(name: str) -> Any:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, object_pairs_hook=_json_object, parse_constant=no_constants)


def _parse_header(path: Path, data: bytes) -> tuple[dict[str, Any], int]:
    """The safetensors header (checked for truncation) and where the tensor data starts."""
    n = int.from_bytes(data[:8], "little") if len(data) >= 8 else 0
    if len(data) < 9 or data[8:9] != b"{" or n > _MAX_HEADER or n < 2:
        raise _not_safetensors(path, data)
    if 8 + n > len(data):
        raise CheckpointError(
            f"{path}: the file is truncated: its header says {n} bytes of metadata but only "
            f"{len(data) - 8} bytes follow (an interrupted copy?); use an earlier checkpoint"
        )
    try:
        header = _strict_json(data[8 : 8 + n].decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(
            f"{path}: the file is corrupted: its safetensors header is not valid JSON ({exc})"
        ) from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: the file is corrupted: its header is not a JSON object")
    metadata = header.get("__metadata__")
    if not isinstance(metadata, dict) or metadata.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path}: a safetensors file, but not a minigan checkpoint (its metadata has no "
            f"format tag {CHECKPOINT_FORMAT!r}); read plain safetensors files with "
            "safetensors.numpy.load_file"
        )
    if metadata.get("version") != str(CHECKPOINT_VERSION):
        raise CheckpointError(
            f"{path}: minigan checkpoint format version {metadata.get('version')!r} is not "
            f"supported (this minigan reads version {CHECKPOINT_VERSION})"
        )
    for key in ("state", "sha256"):
        if not isinstance(metadata.get(key), str):
            raise CheckpointError(f"{path}: the file is corrupted: its metadata has no {key!r}")
    end = 0
    for name, info in header.items():
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if name != "__metadata__" and not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        ):
            raise CheckpointError(f"{path}: the file is corrupted: bad header entry {name!r}")
        if name != "__metadata__":
            end = max(end, offsets[1])
    have = len(data) - 8 - n
    if end > have:
        raise CheckpointError(
            f"{path}: the file is truncated: its tensors need {end} bytes of data but only "
            f"{have} are there (an interrupted copy, or a disk that filled up?); use an "
            "earlier checkpoint"
        )
    if end < have:
        raise CheckpointError(
            f"{path}: the file is corrupted: {have - end} unexpected bytes after the tensor data"
        )
    return header, 8 + n


class _Decoder:
    """Rebuilds the structure from the JSON tree and the tensors; rejects anything else."""

    def __init__(self, file: Path, tensors: dict[str, np.ndarray]) -> None:
        self.file = file
        self.tensors = tensors
        self.used: set[str] = set()

    def bad(self, why: str) -> CheckpointError:
        return CheckpointError(f"{self.file}: the file is corrupted: malformed state ({why})")

    def tensor(self, name: Any) -> np.ndarray:
        if not isinstance(name, str) or name not in self.tensors:
            raise self.bad(f"no tensor named {name!r}")
        if name in self.used:
            raise self.bad(f"tensor {name!r} is used twice")
        self.used.add(name)
        return self.tensors[name]

    def decode(self, node: Any) -> Any:
        if node is None or isinstance(node, bool | int | float | str):
            return node
        if not (isinstance(node, dict) and len(node) == 1):
            raise self.bad(f"unexpected node {str(node)[:80]}")
        ((tag, body),) = node.items()
        if tag == "dict" and isinstance(body, dict):
            return {k: self.decode(v) for k, v in body.items()}
        if tag in ("list", "tuple") and isinstance(body, list):
            items = [self.decode(v) for v in body]
            return items if tag == "list" else tuple(items)
        if tag == "tensor":
            return self.tensor(body)
        if tag == "scalar":
            arr = self.tensor(body)
            if arr.ndim != 0:
                raise self.bad(f"scalar {body!r} has shape {arr.shape}")
            return arr[()]
        if tag == "int" and isinstance(body, str) and _INT_RE.fullmatch(body):
            return int(body)
        if tag == "float" and body in ("nan", "inf", "-inf"):
            return float(body)
        raise self.bad(f"unexpected node {str(node)[:80]}")


def load(path: str | os.PathLike) -> Any:
    """Load what ``save`` wrote: the same structure, arrays as NumPy arrays.

    Never runs code from the file: it is parsed as safetensors + JSON only.

    Raises:
        CheckpointNotFoundError: ``path`` does not exist.
        CheckpointError: the file cannot be read, is a pickle or any other non-minigan
            file, is truncated, has an unsupported format version, or its content does
            not match its stored hash (corrupted). The message names the file.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise CheckpointNotFoundError(f"{path}: checkpoint file not found") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read checkpoint ({exc})") from exc
    header, _ = _parse_header(path, data)
    metadata = header["__metadata__"]
    try:
        tensors = _safetensors_numpy().load(data)
    except ImportError:
        raise
    except Exception as exc:  # safetensors' SafetensorError: offsets, dtypes, ...
        raise CheckpointError(
            f"{path}: the file is corrupted: safetensors cannot read it ({exc})"
        ) from None
    if not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(f"{path}: the file is corrupted: non-string metadata")
    actual = _content_hash(metadata, tensors)
    if actual != metadata["sha256"]:
        raise CheckpointError(
            f"{path}: the file is corrupted: content hash sha256:{actual} does not match the "
            f"sha256:{metadata['sha256'][:64]} stored in it (a flipped bit, a bad copy or an "
            "edit?); use an earlier checkpoint"
        )
    decoder = _Decoder(path, tensors)
    try:
        value = decoder.decode(_strict_json(metadata["state"]))
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise decoder.bad(f"{type(exc).__name__}: {exc}") from None
    unused = sorted(set(tensors) - decoder.used)
    if unused:
        raise decoder.bad(f"tensors not referenced by the state: {', '.join(unused[:5])}")
    return value


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load the state dict saved by ``save_checkpoint`` (or a dict saved by ``save``).

    Never runs code from the file (see ``load``).

    Raises:
        CheckpointNotFoundError: ``path`` does not exist.
        CheckpointError: the file is a pickle or not a minigan checkpoint, is truncated or
            corrupted (hash mismatch), or has an unsupported version. The message names
            the file.
    """
    state = load(path)
    if not isinstance(state, dict):
        raise CheckpointError(
            f"{path}: holds a {type(state).__name__} saved with minigan.save, not a training "
            "checkpoint (a dict); read it with minigan.load"
        )
    return state
