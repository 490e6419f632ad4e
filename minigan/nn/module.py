# minigan/nn/module.py: Parameter (a trainable leaf tensor), Module (the base class of every
# layer: registration of parameters, buffers and submodules; train/eval; state_dict) and
# Sequential (a chain of modules that fuses Linear + activation into one kernel call).
from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from ..device import to_numpy
from ..tensor import Tensor


class Parameter(Tensor):
    """A tensor that a Module trains: a leaf with ``requires_grad=True`` by default.

    Assigning a Parameter as an attribute of a Module registers it, so it shows up in
    ``parameters()`` and ``state_dict()``. Like ``minigan.tensor``, it wraps a NumPy array
    of a float dtype without copying: pass ``arr.copy()`` if the caller's array must not
    change when the optimizer updates the parameter in place.
    """

    __slots__ = ()

    def __init__(
        self, data: Any, requires_grad: bool = True, dtype: Any = None, device: str | None = None
    ) -> None:
        super().__init__(data, requires_grad=requires_grad, dtype=dtype, device=device)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class StateDictError(KeyError, ValueError):
    """``load_state_dict`` found missing, unexpected or mis-shaped keys (all listed at once).

    A KeyError (keys are wrong) and a ValueError (values are wrong), so either catches it.
    """

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` skipped."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _to_numpy_copy(t: Tensor) -> np.ndarray:
    """A NumPy copy of a tensor's values (from the GPU for cuda tensors)."""
    return to_numpy(t.data, copy=True)


def _moved(data: Any, device: str | None, dtype: Any) -> Any:
    """`data` on `device` with `dtype` (the same array when nothing changes)."""
    t = Tensor._from_op(data, requires_grad=False)
    return t.to(device=device, dtype=dtype).data


class Module:
    """Base class of layers and models.

    Subclasses call ``super().__init__()`` first, then assign Parameters, Modules and
    (through ``register_buffer``) non-trainable tensors such as running statistics as
    attributes, and define ``forward``. ``module(x)`` calls ``forward(x)``.

    Names are dotted paths in registration order ("0.weight", "encoder.fc.bias"), which
    is also the order of ``parameters()`` and ``state_dict()``.
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    # ----- registration -----------------------------------------------------------------
    def _registry(self) -> tuple[dict, dict, dict]:
        try:
            return self._parameters, self._buffers, self._modules
        except AttributeError:
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() before assigning attributes"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        params, buffers, modules = (
            self.__dict__.get("_parameters"),
            self.__dict__.get("_buffers"),
            self.__dict__.get("_modules"),
        )
        if isinstance(value, Parameter | Module) and params is None:
            self._registry()  # raises the "call super().__init__()" error
        if isinstance(value, Parameter):
            self._forget(name)
            params[name] = value
        elif isinstance(value, Module):
            self._forget(name)
            modules[name] = value
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"{type(self).__name__}.{name} is a Parameter; assign a Parameter or None, "
                    f"not {type(value).__name__}"
                )
            params[name] = None
        elif modules is not None and name in modules:
            if value is not None:
                raise TypeError(
                    f"{type(self).__name__}.{name} is a submodule; assign a Module or None, "
                    f"not {type(value).__name__}"
                )
            modules[name] = None
        elif buffers is not None and name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"{type(self).__name__}.{name} is a buffer; assign a Tensor or None, "
                    f"not {type(value).__name__}"
                )
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str) -> None:
        """Remove `name` from every registry and the instance dict (before re-registering)."""
        for registry in self._registry():
            registry.pop(name, None)
        self.__dict__.pop(name, None)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: look in the registries.
        for key in ("_parameters", "_buffers", "_modules"):
            registry = self.__dict__.get(key)
            if registry is not None and name in registry:
                return registry[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for registry in self._registry():
            if name in registry:
                del registry[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register a Parameter (or None, for an optional one such as a missing bias)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter({name!r}): expected a Parameter or None")
        self._forget(name)
        self._registry()[0][name] = param

    def register_buffer(self, name: str, tensor: Tensor | None) -> None:
        """Register non-trainable state (e.g. running statistics) saved in state_dict.

        Buffers move with ``to(device)`` and are listed by ``buffers()``, but the optimizer
        never sees them.
        """
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"register_buffer({name!r}): expected a Tensor or None, got {type(tensor).__name__}"
            )
        if isinstance(tensor, Parameter):
            raise TypeError(f"register_buffer({name!r}): use a plain Tensor, not a Parameter")
        self._forget(name)
        self._registry()[1][name] = tensor

    # ----- traversal --------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) for the direct submodules."""
        for name, m in self._registry()[2].items():
            if m is not None:
                yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for self ("") and every descendant, each module once."""
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            kids = [(f"{name}.{k}" if name else k, m) for k, m in module.named_children()]
            stack.extend(reversed(kids))  # depth-first, in registration order

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def _named_tensors(self, which: int, dedup: bool) -> Iterator[tuple[str, Tensor]]:
        """Parameters (which=0) or buffers (which=1) of every module, with dotted names.

        Order: a module's own entries, then each child's, recursively (PyTorch's order).
        """
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [("", self)]
        while stack:
            prefix, module = stack.pop()
            for name, t in module._registry()[which].items():
                if t is None or (dedup and id(t) in seen):
                    continue
                seen.add(id(t))
                yield prefix + name, t
            kids = [(f"{prefix}{k}.", m) for k, m in module.named_children()]
            stack.extend(reversed(kids))

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter), each Parameter once even when shared."""
        yield from self._named_tensors(0, dedup=True)  # type: ignore[misc]

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, buffer tensor), each buffer once."""
        yield from self._named_tensors(1, dedup=True)

    def buffers(self) -> Iterator[Tensor]:
        for _, b in self.named_buffers():
            yield b

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Total number of scalar parameters (shared Parameters counted once)."""
        return sum(p.size for p in self.parameters() if p.requires_grad or not trainable_only)

    # ----- modes, gradients, devices ----------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (``.training``) on this module and every descendant."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode: BatchNorm uses running statistics, Dropout is the identity."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (``.grad = None``)."""
        for p in self.parameters():
            p.grad = None

    def to(self, device: str | None = None, dtype: Any = None) -> Module:
        """Move every parameter and buffer to `device` (and floating ones to `dtype`), in place.

        The Parameter objects stay the same (an optimizer holding them keeps working); only
        their ``.data`` (and ``.grad``) are replaced. Integer buffers keep their dtype.
        """
        for t in list(self.parameters()) + list(self.buffers()):
            new_dtype = dtype if (dtype is not None and t.dtype.kind == "f") else None
            moved = _moved(t.data, device, new_dtype)
            if moved is not t.data:  # graphs built on the old array cannot be used any more
                t.data = moved
                t._bump_version()
            if t.grad is not None:
                t.grad.data = _moved(t.grad.data, device, new_dtype)
        return self

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self) -> Module:
        return self.to("cuda")

    def float(self) -> Module:
        """Floating parameters and buffers to float32."""
        return self.to(dtype=np.float32)

    def double(self) -> Module:
        """Floating parameters and buffers to float64 (for gradient checks)."""
        return self.to(dtype=np.float64)

    # ----- calling ----------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ----- state dict -------------------------------------------------------------------
    def _state_entries(self) -> Iterator[tuple[str, Tensor]]:
        """Every parameter then every buffer of each module, under all of its names."""
        stack: list[tuple[str, Module]] = [("", self)]
        while stack:
            prefix, module = stack.pop()
            params, buffers, _ = module._registry()
            for registry in (params, buffers):
                for name, t in registry.items():
                    if t is not None:
                        yield prefix + name, t
            kids = [(f"{prefix}{k}.", m) for k, m in module.named_children()]
            stack.extend(reversed(kids))

    def state_dict(self) -> dict[str, np.ndarray]:
        """A dict {dotted name: NumPy copy} of all parameters and buffers, in order."""
        return {name: _to_numpy_copy(t) for name, t in self._state_entries()}

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy values from `state` (NumPy arrays or Tensors) into the existing tensors.

        Values are cast to each tensor's dtype and copied onto its device; the tensors
        themselves (and an optimizer's references to them) are kept. Everything is checked
        before anything is copied: one StateDictError (a KeyError and a ValueError) lists
        all missing keys, unexpected keys (both only when ``strict``) and mis-shaped keys
        (always). Returns the missing and unexpected keys.
        """
        own = dict(self._state_entries())
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        mis_shaped = []
        for key, t in own.items():
            if key in state:
                value = state[key]
                got = value.shape if isinstance(value, Tensor) else tuple(np.shape(value))
                if got != t.shape:
                    mis_shaped.append(f"{key}: expected shape {t.shape}, got {got}")
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {', '.join(missing)}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {', '.join(unexpected)}")
        if mis_shaped:
            problems.append(f"mis-shaped keys: {'; '.join(mis_shaped)}")
        if problems:
            raise StateDictError(f"{type(self).__name__}.load_state_dict: " + " | ".join(problems))
        for key, t in own.items():
            if key in state:
                t.data[...] = Tensor(state[key], dtype=t.dtype, device=t.device).data
                t._bump_version()  # an in-place write (see Tensor._bump_version)
        return IncompatibleKeys(missing, unexpected)

    # ----- printing ---------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside this module's parentheses in repr (override in layers)."""
        return ""

    def __repr__(self) -> str:
        kids = list(self.named_children())
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not kids:
            return head + ")"
        lines = [head]
        for name, m in kids:
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"


class Sequential(Module):
    """Modules applied one after another: ``Sequential(a, b, c)(x) == c(b(a(x)))``.

    Indexable (``seq[0]``, slices give a new Sequential), has ``len``, iterates over its
    modules, and grows with ``append``. Children are named "0", "1", ...

    Fusion: a ``Linear`` without its own activation that is immediately followed by a
    ``ReLU``, ``LeakyReLU``, ``Tanh`` or ``Sigmoid`` module is run as ONE fused call
    ``linear_act(x, W, b, act)`` computing act(x Wᵀ + b) in a single pass (the GEMM
    epilogue of the CUDA kernel), instead of a linear op followed by an activation op.
    The math, the parameters and the gradients are the same; set ``fuse = False`` on the
    Sequential to run the modules one by one. A ``LeakyReLU`` with a negative slope is not
    fused (the fused backward reads the slope's side off the sign of the output).
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        self.fuse = True
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> Sequential:
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.append: expected a Module, got {type(module).__name__}")
        setattr(self, str(len(self)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._modules.values()))

    def __getitem__(self, index: int | slice) -> Any:
        mods = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*mods[index])
        try:
            return mods[index]
        except IndexError:
            raise IndexError(
                f"Sequential index {index} out of range (length {len(mods)})"
            ) from None

    def forward(self, x: Any) -> Any:
        mods = list(self._modules.values())
        i = 0
        while i < len(mods):
            m = mods[i]
            nxt = mods[i + 1] if i + 1 < len(mods) else None
            if self.fuse and _can_fuse(m, nxt):
                x = m.forward_with_activation(
                    x, nxt.fused_act, getattr(nxt, "negative_slope", 0.01)
                )
                i += 2
            else:
                x = m(x)
                i += 1
        return x


def _can_fuse(layer: Module, act: Module | None) -> bool:
    """True for a Linear(activation="none") followed by a fusable activation module.

    Duck-typed to keep this file free of imports from layers.py: Linear has
    ``forward_with_activation``, fusable activations carry a ``fused_act`` name.
    """
    return (
        act is not None
        and getattr(layer, "activation", None) == "none"
        and hasattr(layer, "forward_with_activation")
        and isinstance(getattr(act, "fused_act", None), str)
        # the fused kernel reads leaky_relu's derivative off the output's sign: slope >= 0
        and getattr(act, "negative_slope", 0.0) >= 0
    )
