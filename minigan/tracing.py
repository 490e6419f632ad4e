# Tracing: `minigan.trace()` (defined here, in minigan.tracing) records every op run inside
# a `with` block, forward and backward (op name, shapes, device, dtype, which implementation
# ran and wall time), plus
# the optimizer's fused kernel calls, and shows them as a table, a per-op summary or JSON.
#
# How it works: entering the block appends a hook to `autograd.op_hooks` (the engine calls
# it around every Function.forward and backward) and, while any trace is active, one hook to
# `backend.kernel_hooks` (the dispatcher `backend.kernel` passes every kernel lookup through
# it), so kernel lookups are seen too: that is how fused ops name their kernels and how
# Adam's `adam_step`, which runs outside autograd, is recorded. Leaving the block, normally
# or through an exception, removes both again. Nothing of minigan is replaced while tracing.
"""Record what ran, where, with which implementation, and how long it took.

Example::

    with minigan.trace() as t:
        loss = model(x).mean()
        loss.backward()
    print(t)                # one line per op call, forward and backward, and a footer
    t.summary()             # {"LinearAct": {"count": 4, "total_ms": ...}, ...}
    t.save_json("trace.json")

The footer of the table repeats `minigan.backend_info()`: which implementation runs the
fused kernels on each device, and why (for example why cuda ran the CuPy fallback).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any

from . import autograd, backend

# The autograd Functions that call the backend's kernels (minigan/ops/fused.py, and the
# activations of minigan/ops/activation.py): their implementation is the backend chosen for
# the device, not the array module.
FUSED_OPS = frozenset(
    {"LinearAct", "Conv2d", "ConvTranspose2d", "BatchNorm", "SigmoidBCE"}
    | {"ReLU", "LeakyReLU", "Tanh", "Sigmoid"}
)

# Kernels of the contract that run outside autograd, and the phase their records get.
_KERNEL_PHASES = {"adam_step": "optimizer"}

_ARRAY_MODULE = {"cpu": "numpy", "cuda": "cupy"}

# Traces currently recording (outermost first).
_active: list[Trace] = []


def _shape(obj: Any) -> list[int] | None:
    """The shape of a tensor or array as a JSON-friendly list (None if it has none)."""
    shape = getattr(obj, "shape", None)
    return None if shape is None else [int(s) for s in shape]


def _device(obj: Any) -> str:
    from .device import device_of  # noqa: PLC0415 - tiny helper, keep the import local

    data = getattr(obj, "data", obj)
    return device_of(data)


def _synchronize(device: str) -> None:
    """Wait for the current CUDA stream so that a wall clock measures finished work."""
    if device == "cuda":
        from .device import cupy_module  # noqa: PLC0415 - cupy only when cuda is in use

        cupy_module().cuda.get_current_stream().synchronize()


def _implementation_name(device: str, dtype: Any = None) -> str:
    """Name of the fused-kernel implementation on `device` ("numpy", "cupy", "ext")."""
    try:
        return backend.implementation(device, dtype or None)[0]
    except RuntimeError:  # no implementation: the op itself would have failed
        return "none"


def _kernel_hook(name: str, device: str, dtype: Any, fn: Callable[..., Any]) -> Any:
    """The hook in `backend.kernel_hooks` while tracing: note each kernel lookup in the
    open op records, or (outside any op, e.g. Adam's step) return a wrapper that times the
    call and records it."""
    inside_op = False
    for tr in _active:
        if tr._stack:
            tr._stack[-1]["kernels"].append(name)
            inside_op = True
    if inside_op:
        return fn  # the op's own record times it
    phase = _KERNEL_PHASES.get(name, "kernel")
    tracers = list(_active)

    def timed(*args: Any, **kwargs: Any) -> Any:
        for tr in tracers:
            if tr.sync:
                _synchronize(device)
                break
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        for tr in tracers:
            if tr.sync:
                _synchronize(device)
                break
        ms = (time.perf_counter() - start) * 1e3
        # The first argument is what the kernel updates (Adam: the list of parameters).
        first = args[0] if args else []
        shapes = [_shape(a) for a in _flat([first]) if hasattr(a, "shape")]
        dtype = next((str(a.dtype) for a in _flat(args) if hasattr(a, "dtype")), "")
        for tr in tracers:
            if tr._recording:
                tr._add(
                    phase,
                    name,
                    shapes,
                    None,
                    device,
                    dtype,
                    _implementation_name(device, dtype),
                    ms,
                    kernels=[name],
                )
        return result

    return timed


def _flat(args: Sequence[Any]) -> Iterator[Any]:
    for arg in args:
        if isinstance(arg, list | tuple):
            yield from arg
        else:
            yield arg


class Trace:
    """The recorder behind `minigan.trace()`; use it as a context manager.

    Attributes:
      records: one dict per op call, in the order they finished, with keys
        index, phase ("forward", "backward", "optimizer" or "kernel"), op, input_shapes
        (the op's tensor inputs), output_shape, grad_shapes (backward only: the gradient
        computed for each input, None where it was skipped), device, dtype, impl ("numpy",
        "cupy" or "ext"), kernels (backend kernel functions it called) and ms (wall time).
      sync: whether the CUDA stream is synchronized before and after each op so that ms
        is the op's real GPU time. Slows the run (the GPU can no longer run ahead of
        Python); without it, ms on cuda is only the launch time. No effect on cpu.
    """

    def __init__(self, sync: bool = True, kernels: bool = True) -> None:
        self.sync = bool(sync)
        self.kernels = bool(kernels)
        self.records: list[dict[str, Any]] = []
        self._stack: list[dict[str, Any]] = []
        self._recording = False

    # ----- context manager --------------------------------------------------------------
    def __enter__(self) -> Trace:
        if self._recording:
            raise RuntimeError("this trace is already recording; create a new minigan.trace()")
        self._recording = True
        self._stack = []
        autograd.op_hooks.append(self._hook)
        if self.kernels and _kernel_hook not in backend.kernel_hooks:
            backend.kernel_hooks.append(_kernel_hook)
        _active.append(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._recording = False
        self._stack = []
        if self._hook in autograd.op_hooks:
            autograd.op_hooks.remove(self._hook)
        if self in _active:
            _active.remove(self)
        if not any(tr.kernels for tr in _active) and _kernel_hook in backend.kernel_hooks:
            backend.kernel_hooks.remove(_kernel_hook)

    # ----- recording --------------------------------------------------------------------
    def _hook(self, event: str, name: str, info: Any) -> None:
        """Called by the autograd engine around every forward and backward."""
        if event == "forward_start":
            device = _device(info[0]) if info else "cpu"
            self._open("forward", name, device)
        elif event == "backward_start":
            self._open("backward", name, _device(info[0]))
        elif event == "forward_end":
            stop = time.perf_counter()
            inputs, out = info
            entry = self._close("forward", name, stop)
            if entry is not None:
                self._add(
                    "forward",
                    name,
                    [_shape(t) for t in inputs],
                    _shape(out),
                    entry["device"],
                    str(out.dtype),
                    self._impl(name, entry),
                    entry["ms"],
                    kernels=entry["kernels"],
                )
        elif event == "backward_end":
            stop = time.perf_counter()
            tensor, grads = info
            entry = self._close("backward", name, stop)
            if entry is not None:
                node = tensor._node
                parents = node.parents if node is not None else ()
                self._add(
                    "backward",
                    name,
                    [_shape(t) for t in parents],
                    _shape(tensor),
                    entry["device"],
                    str(tensor.dtype),
                    self._impl(name, entry),
                    entry["ms"],
                    kernels=entry["kernels"],
                    grad_shapes=[None if g is None else _shape(g) for g in grads],
                )

    def _open(self, phase: str, name: str, device: str) -> None:
        if self.sync:
            _synchronize(device)
        self._stack.append(
            {
                "phase": phase,
                "op": name,
                "device": device,
                "kernels": [],
                "start": time.perf_counter(),
            }
        )

    def _close(self, phase: str, name: str, stop: float) -> dict[str, Any] | None:
        """Pop the matching open call (entries above it belong to calls that raised)."""
        for i in range(len(self._stack) - 1, -1, -1):
            entry = self._stack[i]
            if entry["phase"] == phase and entry["op"] == name:
                del self._stack[i:]
                if self.sync and entry["device"] == "cuda":
                    _synchronize("cuda")
                    stop = time.perf_counter()
                entry["ms"] = (stop - entry["start"]) * 1e3
                return entry
        return None

    @staticmethod
    def _impl(name: str, entry: dict[str, Any]) -> str:
        if name in FUSED_OPS or entry["kernels"]:
            return _implementation_name(entry["device"], entry.get("dtype") or None)
        return _ARRAY_MODULE.get(entry["device"], entry["device"])

    def _add(
        self,
        phase: str,
        op: str,
        input_shapes: list[Any],
        output_shape: list[int] | None,
        device: str,
        dtype: str,
        impl: str,
        ms: float,
        kernels: list[str] | None = None,
        grad_shapes: list[Any] | None = None,
    ) -> None:
        record: dict[str, Any] = {
            "index": len(self.records),
            "phase": phase,
            "op": op,
            "input_shapes": input_shapes,
            "output_shape": output_shape,
            "device": device,
            "dtype": dtype,
            "impl": impl,
            "kernels": list(kernels or []),
            "ms": ms,
        }
        if grad_shapes is not None:
            record["grad_shapes"] = grad_shapes
        self.records.append(record)

    # ----- reports ----------------------------------------------------------------------
    def summary(self) -> dict[str, dict[str, Any]]:
        """Per op name: count (calls, forward and backward together), forward and backward
        call counts, total_ms / forward_ms / backward_ms and the implementations seen.

        Ordered by total time, largest first.
        """
        agg: dict[str, dict[str, Any]] = {}
        for r in self.records:
            s = agg.setdefault(
                r["op"],
                {
                    "count": 0,
                    "forward": 0,
                    "backward": 0,
                    "other": 0,
                    "total_ms": 0.0,
                    "forward_ms": 0.0,
                    "backward_ms": 0.0,
                    "impl": [],
                },
            )
            s["count"] += 1
            s["total_ms"] += r["ms"]
            if r["phase"] in ("forward", "backward"):
                s[r["phase"]] += 1
                s[r["phase"] + "_ms"] += r["ms"]
            else:
                s["other"] += 1
            if r["impl"] not in s["impl"]:
                s["impl"].append(r["impl"])
        return dict(sorted(agg.items(), key=lambda kv: -kv[1]["total_ms"]))

    def summary_table(self) -> str:
        """The summary as fixed-width text: one line per op, slowest first."""
        head = (
            f"{'op':<18} {'impl':<10} {'fwd':>5} {'bwd':>5} {'other':>5} "
            f"{'fwd ms':>10} {'bwd ms':>10} {'total ms':>10}"
        )
        lines = [head, "-" * len(head)]
        for op, s in self.summary().items():
            lines.append(
                f"{_cut(op, 18):<18} {_cut('/'.join(s['impl']), 10):<10} {s['forward']:>5} "
                f"{s['backward']:>5} {s['other']:>5} {s['forward_ms']:>10.3f} "
                f"{s['backward_ms']:>10.3f} {s['total_ms']:>10.3f}"
            )
        return "\n".join(lines)

    def table(self, max_rows: int | None = None) -> str:
        """A fixed-width text table: one row per recorded call, then totals and the
        backend footer (which implementation runs the fused kernels per device, and why).

        Forward rows show the input shapes and the output shape. Backward rows show, under
        "inputs", the gradient computed for each input ("-" where it was skipped because
        that input needs no gradient) and, under "output", the incoming gradient's shape.
        `max_rows` keeps the first rows only (the totals still count every call).
        """
        head = (
            f"{'#':>4}  {'phase':<9} {'op':<16} {'impl':<6} {'device':<6} {'dtype':<8} "
            f"{'inputs':<34} {'output':<14} {'ms':>9}"
        )
        lines = [head, "-" * len(head)]
        rows = self.records if max_rows is None else self.records[:max_rows]
        for r in rows:
            shapes = r.get("grad_shapes", r["input_shapes"])
            inputs = ", ".join(_fmt_shape(s) for s in shapes)
            lines.append(
                f"{r['index']:>4}  {r['phase']:<9} {_cut(r['op'], 16):<16} "
                f"{_cut(r['impl'], 6):<6} {r['device']:<6} {_cut(r['dtype'], 8):<8} "
                f"{_cut(inputs, 34):<34} {_cut(_fmt_shape(r['output_shape']), 14):<14} "
                f"{r['ms']:>9.3f}"
            )
        if max_rows is not None and len(self.records) > max_rows:
            lines.append(f"  ... {len(self.records) - max_rows} more rows")
        lines.append("-" * len(head))
        totals = {}
        for r in self.records:
            n, ms = totals.get(r["phase"], (0, 0.0))
            totals[r["phase"]] = (n + 1, ms + r["ms"])
        parts = [f"{phase} {n} calls {ms:.3f} ms" for phase, (n, ms) in totals.items()]
        lines.append("total: " + (" | ".join(parts) if parts else "nothing recorded"))
        clock = (
            "sync=True: the CUDA stream is synchronized around each cuda op"
            if self.sync
            else "sync=False: no cuda sync, cuda times are launch times only"
        )
        lines.append(f"times: wall clock in ms ({clock})")
        lines += self._backend_footer()
        return "\n".join(lines)

    @staticmethod
    def _backend_footer() -> list[str]:
        lines = []
        forced = os.environ.get("MINIGAN_BACKEND", "").strip()
        for device, info in backend.backend_info().items():
            lines.append(f"backend {device}: {info['implementation']} ({info['reason']})")
        if forced:
            lines.append(f"MINIGAN_BACKEND={forced}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-friendly data: records, summary, backend info, settings."""
        return {
            "records": self.records,
            "summary": self.summary(),
            "backend": backend.backend_info(),
            "sync": self.sync,
        }

    def save_json(self, path: str | os.PathLike[str]) -> None:
        """Write `to_dict()` as JSON (records round-trip: json.load(...)["records"])."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=1)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        state = "recording" if self._recording else "stopped"
        return f"<minigan Trace: {len(self.records)} records, {state}>"

    def __len__(self) -> int:
        return len(self.records)


def _fmt_shape(shape: Sequence[int] | None) -> str:
    if shape is None:
        return "-"
    if len(shape) == 0:
        return "()"
    return "x".join(str(s) for s in shape)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def trace(sync: bool = True, kernels: bool = True) -> Trace:
    """Record every op run inside a `with` block (forward and backward) and its timing.

    `with minigan.trace() as t: ...` then `print(t)`, `t.summary()`, `t.records`,
    `t.save_json(path)`. `sync=True` (default) synchronizes the CUDA stream around each op
    so the times are real GPU times; this slows the run. `kernels=True` also watches the
    backend's kernel lookups, which names the kernels each fused op called and records
    the optimizer's fused `adam_step` calls (phase "optimizer").
    """
    return Trace(sync=sync, kernels=kernels)
