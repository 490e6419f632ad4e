# tests/test_import_layers.py: minigan's modules import only downwards. Every module under
# minigan/ is parsed with `ast` (every import statement, also those inside functions) and
# each import of another minigan module is checked against the layer table below; the
# module graph must have no cycle. A planted upward import and a planted cycle show the
# checker catches both.
"""The layer order of minigan's modules, enforced.

The README's order (tensor/autograd <- ops <- nn/optim <- models <- training <- examples;
the backends below ops) refined to every top-level module of the package. A module may
import modules of its own layer or of a lower one, never of a higher one; within a layer
the module graph must still be acyclic. Imports under ``if TYPE_CHECKING:`` are skipped:
they never run (they only name types for annotations).
"""

from __future__ import annotations

import ast
import pathlib
from collections.abc import Iterator

import pytest

import minigan

PACKAGE_DIR = pathlib.Path(minigan.__file__).parent

# Lowest first. A name covers the module and everything below it (minigan.nn covers
# minigan.nn.layers, ...). "minigan" itself is the package's __init__, the public API.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("startup", ("minigan._startup",)),
    ("kernels", ("minigan._C", "minigan._C_emu", "minigan.backend")),
    ("device", ("minigan.device",)),
    ("autograd", ("minigan.autograd",)),
    ("tensor", ("minigan.tensor", "minigan.random")),
    (
        "tensor tools",
        ("minigan.creation", "minigan.gradcheck", "minigan.tracing", "minigan.utils"),
    ),
    ("data", ("minigan.data",)),
    ("ops", ("minigan.ops",)),
    ("nn", ("minigan.nn",)),
    ("optim and pictures", ("minigan.optim", "minigan.viz")),
    ("models and metrics", ("minigan.models", "minigan.metrics")),
    ("training", ("minigan.training",)),
    ("public API", ("minigan",)),
]


def layer_of(module: str) -> int:
    """The index in LAYERS of the most specific entry covering `module`."""
    best, best_len = None, -1
    for i, (_, names) in enumerate(LAYERS):
        for name in names:
            # "minigan" (the package's __init__) covers itself only
            covers = module == name or (name != "minigan" and module.startswith(name + "."))
            if covers and len(name) > best_len:
                best, best_len = i, len(name)
    if best is None:
        raise KeyError(f"{module} is in no layer of LAYERS: add it to the table")
    return best


def _is_type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement of a module (functions and classes included), except those
    under `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if _is_type_checking_block(node):
            stack.extend(node.orelse)  # type: ignore[attr-defined]
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def imported_modules(source: str, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The minigan modules that `source` (the text of `module`) imports.

    `from X import name` counts as importing X.name when that is a module in `known`,
    else X itself.
    """
    package = module.split(".") if is_package else module.split(".")[:-1]
    out = set()
    for node in _import_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "minigan")
            continue
        if node.level:
            base = package[: len(package) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        if target.split(".")[0] != "minigan":
            continue
        for alias in node.names:
            full = f"{target}.{alias.name}"
            out.add(full if full in known else target)
    return out


def package_modules() -> dict[str, tuple[pathlib.Path | None, bool]]:
    """{module name: (source path or None for compiled modules, is a package)}."""
    mods: dict[str, tuple[pathlib.Path | None, bool]] = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        parts = ("minigan",) + path.relative_to(PACKAGE_DIR).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        mods[name] = (path, is_package)
    for path in PACKAGE_DIR.glob("*.so"):
        mods["minigan." + path.name.split(".")[0]] = (None, False)
    for name in ("minigan._C", "minigan._C_emu"):  # compiled; may not be built here
        mods.setdefault(name, (None, False))
    return mods


def import_graph(sources: dict[str, tuple[str, bool]]) -> dict[str, set[str]]:
    """{module: the minigan modules it imports} for {module: (source, is a package)}."""
    known = set(sources)
    return {
        m: imported_modules(src, m, is_pkg, known) - {m} for m, (src, is_pkg) in sources.items()
    }


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a module of a higher layer, as a readable line."""
    problems = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            lo, hi = layer_of(module), layer_of(target)
            if hi > lo:
                problems.append(
                    f"{module} (layer {LAYERS[lo][0]!r}) imports {target} (layer "
                    f"{LAYERS[hi][0]!r}, higher)"
                )
    return problems


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (a list of modules, first == last), or None.

    A module imports its parent packages too (Python runs their __init__ first), but that
    is not an edge here: only import statements are.
    """
    color: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in sorted(graph):
        if color.get(start):
            continue
        path: list[str] = []
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph.get(start, ()))))]
        color[start] = 1
        path.append(start)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                color[node] = 2
                continue
            if color.get(child) == 1:
                return path[path.index(child) :] + [child]
            if not color.get(child):
                color[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(graph.get(child, ())))))
    return None


def repo_graph() -> dict[str, set[str]]:
    sources = {}
    for name, (path, is_pkg) in package_modules().items():
        sources[name] = (path.read_text(encoding="utf-8") if path else "", is_pkg)
    return import_graph(sources)


# ----- the repository --------------------------------------------------------------------
def test_every_module_is_in_a_layer():
    for module in package_modules():
        layer_of(module)  # raises KeyError naming the module


def test_minigan_imports_only_downwards():
    problems = upward_imports(repo_graph())
    assert not problems, "upward imports:\n" + "\n".join(problems)


def test_minigan_has_no_import_cycle():
    graph = repo_graph()
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_two_circles_of_issue_12_are_gone():
    graph = repo_graph()
    assert not any(m.startswith("minigan.ops") for m in graph["minigan.tensor"])
    assert "minigan.tensor" not in graph["minigan.autograd"]
    assert "minigan.nn.layers" not in graph["minigan.nn.init"]


def test_the_graph_sees_imports_inside_functions():
    # minigan.tracing imports minigan.device inside a function: the graph must have it.
    assert "minigan.device" in repo_graph()["minigan.tracing"]


# ----- the checker catches planted defects -----------------------------------------------
def _planted(extra: dict[str, tuple[str, bool]]) -> dict[str, set[str]]:
    sources = {
        "minigan.tensor": ("from . import autograd\n", False),
        "minigan.autograd": ("import contextlib\n", False),
        "minigan.ops": ("from ..tensor import Tensor\n", True),
        "minigan.ops.shape": ("from ..autograd import Function\nfrom ..tensor import T\n", False),
        "minigan.nn": ("from .. import ops\n", True),
        "minigan.device": ("", False),
    }
    sources.update(extra)
    return import_graph(sources)


def test_checker_accepts_a_clean_graph():
    graph = _planted({})
    assert upward_imports(graph) == [] and find_cycle(graph) is None


def test_checker_catches_an_upward_import_inside_a_function():
    source = (
        "from . import autograd\n\n"
        "def to(self):\n"
        "    from .ops.shape import ToDevice  # the circle issue 12 removed\n"
        "    return ToDevice\n"
    )
    graph = _planted({"minigan.tensor": (source, False)})
    problems = upward_imports(graph)
    assert len(problems) == 1 and "minigan.tensor" in problems[0]
    assert "minigan.ops.shape" in problems[0]
    cycle = find_cycle(graph)
    assert cycle is not None and set(cycle) == {"minigan.ops.shape", "minigan.tensor"}


def test_checker_catches_a_cycle_within_one_layer():
    graph = _planted(
        {
            "minigan.nn.init": ("from .layers import Linear\n", False),
            "minigan.nn.layers": ("from . import init\n", False),
        }
    )
    assert upward_imports(graph) == []  # same layer: allowed by the table...
    cycle = find_cycle(graph)  # ...but a circle
    assert cycle is not None and set(cycle) == {"minigan.nn.init", "minigan.nn.layers"}


def test_checker_skips_type_checking_imports_only():
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from .tensor import Tensor\n"
        "else:\n"
        "    from . import device\n"
    )
    graph = _planted({"minigan.autograd": (source, False)})
    assert graph["minigan.autograd"] == {"minigan.device"}


def test_unknown_module_is_an_error():
    with pytest.raises(KeyError, match="minigan.newthing"):
        layer_of("minigan.newthing")
