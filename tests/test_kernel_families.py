# tests/test_kernel_families.py: enforces docs/adding-a-kernel-family.md. For every kernel
# family of the contract (derived from minigan.backend.KERNEL_FUNCTIONS: "linear_act_forward"
# -> "linear_act"), the suite fails unless each step of that page is done: NumPy reference,
# shared argument checks, CuPy implementation, CUDA kernel + launcher + binding,
# KernelExtension method (GPU and emulator), an emulated test, a gradcheck test and a
# benchmark. The checks read the sources (ASTs of the Python files, the text of csrc/), so
# they need no GPU and no build; a fake family, injected with monkeypatch, shows that each
# missing step fails with a message naming it.
"""Every kernel family has every step of docs/adding-a-kernel-family.md.

What "has the step" means, precisely (all paths relative to the repository root):

1. NumPy reference: ``minigan/backend/numpy_ref.py`` defines ``def <fn>`` at top level, with
   a docstring (where the math goes), for every contract function ``<fn>`` of the family.
2. argument checks: every implementation of ``<fn>`` that exists (numpy_ref, cupy_kernels, numba,
   ``KernelExtension.<fn>``) calls ``checks.<something>_args(...)``, a function defined at
   top level in ``minigan/backend/checks.py``.
3. CuPy implementation: ``minigan/backend/cupy_kernels.py`` defines ``def <fn>`` at top level.
4. numba implementation: ``minigan/backend/numba_cpu.py`` defines ``def <fn>`` at top level, or
   imports it (``from .<module> import <fn>``) from a backend module that does; with a
   docstring.
5. CUDA kernel, launcher and binding: ``csrc/bindings.cpp`` has ``m.def("<fn>", ...)``; a
   launcher ``<fn>(...)`` or ``<fn>_<variant>(...)`` (as ``batchnorm_forward_train``) is
   declared in ``csrc/minigan.h`` and defined (``<type> <name>(...) {`` at the start of a
   line) in a ``csrc/*.cu`` file; and each compiled module that imports (minigan._C,
   minigan._C_emu) has ``<fn>``.
6. KernelExtension method: class ``KernelExtension`` in ``minigan/backend/cuda_ext.py``
   defines ``def <fn>``; ``cuda_ext.py`` binds ``<fn> = GPU.<fn>`` and ``emu_ext.py``
   ``<fn> = EMU.<fn>`` at top level.
7. emulated test: a test function in ``tests/`` takes a fixture that is parametrized with an
   ``"emu"`` param and refers to ``emu_ext`` (the CUDA emulator), and refers to ``<fn>``.
8. gradcheck test (families with a gradient, i.e. a function ending in ``_backward``): a test
   function in ``tests/`` calls ``gradcheck`` (or ``gradcheck_report``) and refers to the
   family, one of its functions, or an op that runs them (a public function of
   ``minigan/ops/*.py`` that calls ``.apply`` of a class naming one of the functions).
9. benchmark: a ``bench_*`` function in ``benchmarks/*.py`` is named ``bench_<family>`` (or
   ``bench_<family>_...``) or refers to one of the family's functions.

"Refers to X" means: X occurs as an identifier, an attribute name or a string constant in
the function (decorators included) or in anything at the top level of the same file that
it uses, followed transitively (helper functions and classes, module-level constants such as
parameter lists). "Calls X" is the same for the callee of a call expression.
"""

from __future__ import annotations

import ast
import copy
import functools
import importlib
import re
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from minigan import backend

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "adding-a-kernel-family.md"
COMPILED_MODULES = ("minigan._C", "minigan._C_emu")

NUMPY_REF = "minigan/backend/numpy_ref.py"
CUPY = "minigan/backend/cupy_kernels.py"
NUMBA = "minigan/backend/numba_cpu.py"
CUDA_EXT = "minigan/backend/cuda_ext.py"
EMU_EXT = "minigan/backend/emu_ext.py"
CHECKS = "minigan/backend/checks.py"
BINDINGS = "csrc/bindings.cpp"
HEADER = "csrc/minigan.h"


# ----------------------------------------------------------------------------------
# What the checks read: a snapshot of the sources
# ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sources:
    """Parsed Python files and C++ texts by repository-relative path, and the attribute names
    of each compiled module that imports. The fake-family tests add to a copy of it."""

    python: dict[str, ast.Module]
    text: dict[str, str]
    compiled: dict[str, frozenset[str]] = field(default_factory=dict)

    def with_python(self, path: str, source: str) -> Sources:
        """A copy with `source` appended to the Python file `path` (created if absent)."""
        tree = copy.deepcopy(self.python.get(path, ast.Module(body=[], type_ignores=[])))
        tree.body.extend(ast.parse(textwrap.dedent(source)).body)
        return replace(self, python={**self.python, path: tree})

    def with_method(self, path: str, cls: str, source: str) -> Sources:
        """A copy with the method `source` added to class `cls` of the Python file `path`."""
        tree = copy.deepcopy(self.python[path])
        target = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
        target.body.extend(ast.parse(textwrap.dedent(source)).body)
        return replace(self, python={**self.python, path: tree})

    def with_text(self, path: str, text: str) -> Sources:
        """A copy with `text` appended to the C++ file `path` (created if absent)."""
        return replace(self, text={**self.text, path: self.text.get(path, "") + text})

    def with_compiled(self, names: Iterable[str]) -> Sources:
        """A copy in which every compiled module also has `names`."""
        compiled = {m: attrs | frozenset(names) for m, attrs in self.compiled.items()}
        return replace(self, compiled=compiled)

    def files(self, prefix: str, suffix: str = ".py") -> list[str]:
        return sorted(p for p in self.python if p.startswith(prefix) and p.endswith(suffix))


@functools.cache
def load_sources() -> Sources:
    """The repository as it is now."""
    python = {}
    for pattern in ("minigan/backend/*.py", "minigan/ops/*.py", "tests/*.py", "benchmarks/*.py"):
        for path in sorted(ROOT.glob(pattern)):
            rel = path.relative_to(ROOT).as_posix()
            python[rel] = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
    text = {
        path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
        for pattern in ("csrc/*.cu", "csrc/*.h", "csrc/*.cuh", "csrc/*.cpp")
        for path in sorted(ROOT.glob(pattern))
    }
    compiled = {}
    for name in COMPILED_MODULES:
        try:
            compiled[name] = frozenset(dir(importlib.import_module(name)))
        except ImportError:
            continue  # not built: nothing to compare
    return Sources(python, text, compiled)


# ----------------------------------------------------------------------------------
# Reading a Python file: top-level definitions, what a function refers to and calls
# ----------------------------------------------------------------------------------


def _local_names(node: ast.AST) -> tuple[set[str], set[str]]:
    """(names node refers to: identifiers, attribute names, string constants; names of the
    callees of the calls in it)."""
    refs: set[str] = set()
    calls: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            refs.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            refs.add(sub.attr)
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            refs.add(sub.value)
        if isinstance(sub, ast.Call):
            func = sub.func
            if isinstance(func, ast.Name):
                calls.add(func.id)
            elif isinstance(func, ast.Attribute):
                calls.add(func.attr)
    return refs, calls


class FileIndex:
    """The top level of one Python file: its functions, classes and assigned names, and the
    transitive closure of what a top-level definition refers to and calls."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.top: dict[str, ast.AST] = {}
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                self.top[node.name] = node
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.top[target.id] = node.value
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                if node.value is not None:
                    self.top[node.target.id] = node.value

    def functions(self) -> list[ast.FunctionDef]:
        return [n for n in self.tree.body if isinstance(n, ast.FunctionDef)]

    def closure(self, node: ast.AST) -> tuple[set[str], set[str]]:
        """(refs, calls) of `node` and of every top-level definition it uses, transitively."""
        refs, calls = _local_names(node)
        seen: set[str] = set()
        todo = [name for name in refs if name in self.top]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            more_refs, more_calls = _local_names(self.top[name])
            calls |= more_calls
            todo += [n for n in more_refs - refs if n in self.top]
            refs |= more_refs
        return refs, calls


@functools.cache
def _index(tree: ast.Module) -> FileIndex:
    return FileIndex(tree)


def top_def(tree: ast.Module | None, name: str) -> ast.FunctionDef | None:
    """The top-level `def name` of a file (None if absent)."""
    if tree is None:
        return None
    found = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    return found[-1] if found else None


def method_def(tree: ast.Module | None, cls: str, name: str) -> ast.FunctionDef | None:
    """`def name` in the top-level class `cls` of a file (None if absent)."""
    for node in [] if tree is None else tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls:
            found = [n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == name]
            return found[-1] if found else None
    return None


def top_level_assigns(tree: ast.Module | None) -> dict[str, str]:
    """{name: its value's source} for `name = <expression>` at the top level of a file."""
    out = {}
    for node in [] if tree is None else tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = ast.unparse(node.value)
    return out


# ----------------------------------------------------------------------------------
# The steps
# ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    name: str
    functions: tuple[str, ...]

    @property
    def has_gradient(self) -> bool:
        """Whether the family computes gradients (then its gradients must be gradchecked)."""
        return any(fn.endswith("_backward") for fn in self.functions)


def check_numpy_reference(family: Family, src: Sources) -> list[str]:
    """Step 1: numpy_ref.py defines every function, with a docstring."""
    problems = []
    for fn in family.functions:
        node = top_def(src.python.get(NUMPY_REF), fn)
        if node is None:
            problems.append(f"{NUMPY_REF} does not define {fn}")
        elif not ast.get_docstring(node):
            problems.append(f"numpy_ref.{fn} has no docstring (its math)")
    return problems


def numba_def(fn: str, src: Sources) -> tuple[str, ast.FunctionDef | None]:
    """Where numba_cpu.py's `fn` is defined: numba_cpu.py itself, or the backend module it
    imports `fn` from (``from .numba_conv import fn``); (where, None) when neither."""
    tree = src.python.get(NUMBA)
    node = top_def(tree, fn)
    if node is not None or tree is None:
        return f"numba_cpu.{fn}", node
    for stmt in tree.body:
        if (
            isinstance(stmt, ast.ImportFrom)
            and stmt.level == 1
            and stmt.module
            and any(alias.name == fn and alias.asname is None for alias in stmt.names)
        ):
            path = f"minigan/backend/{stmt.module}.py"
            return f"{stmt.module}.{fn}", top_def(src.python.get(path), fn)
    return f"numba_cpu.{fn}", None


def _implementations(fn: str, src: Sources) -> dict[str, ast.FunctionDef]:
    numba_where, numba_node = numba_def(fn, src)
    found = {
        f"numpy_ref.{fn}": top_def(src.python.get(NUMPY_REF), fn),
        f"cupy_kernels.{fn}": top_def(src.python.get(CUPY), fn),
        numba_where: numba_node,
        f"KernelExtension.{fn}": method_def(src.python.get(CUDA_EXT), "KernelExtension", fn),
    }
    return {where: node for where, node in found.items() if node is not None}


def check_argument_checks(family: Family, src: Sources) -> list[str]:
    """Step 2: every existing implementation calls a checks.<...>_args that checks.py defines."""
    defined = {n.name for n in _index(src.python[CHECKS]).functions()}
    problems = []
    for fn in family.functions:
        for where, node in _implementations(fn, src).items():
            called = {
                sub.func.attr
                for sub in ast.walk(node)
                if isinstance(sub, ast.Call)
                and isinstance(sub.func, ast.Attribute)
                and isinstance(sub.func.value, ast.Name)
                and sub.func.value.id == "checks"
                and sub.func.attr.endswith("_args")
            }
            if not called & defined:
                problems.append(
                    f"{where} calls no checks.<...>_args function defined in {CHECKS}"
                    + (f" (it calls {sorted(called)})" if called else "")
                )
    return problems


def check_cupy(family: Family, src: Sources) -> list[str]:
    """Step 3: cupy_kernels.py defines every function."""
    return [
        f"{CUPY} does not define {fn}"
        for fn in family.functions
        if top_def(src.python.get(CUPY), fn) is None
    ]


def check_numba(family: Family, src: Sources) -> list[str]:
    """Step 4: numba_cpu.py defines every function (or imports it from the backend module
    that defines it), with a docstring."""
    problems = []
    for fn in family.functions:
        where, node = numba_def(fn, src)
        if node is None:
            problems.append(f"{NUMBA} neither defines {fn} nor imports it from a module that does")
        elif not ast.get_docstring(node):
            problems.append(f"{where} has no docstring")
    return problems


def _defines_cpp(text: str, name: str) -> bool:
    """A function definition `<type> name(...) {` starting at the beginning of a line."""
    pattern = rf"^\w[^;{{}}]*?\b{re.escape(name)}\s*\([^;{{}}]*\)\s*\{{"
    return re.search(pattern, text, re.M) is not None


def check_cuda(family: Family, src: Sources) -> list[str]:
    """Step 4: binding, declared and defined launcher, compiled modules up to date."""
    problems = []
    bindings = src.text.get(BINDINGS, "")
    header = src.text.get(HEADER, "")
    kernel_files = [text for path, text in src.text.items() if path.endswith(".cu")]
    for fn in family.functions:
        if not re.search(rf'\bm\.def\(\s*"{re.escape(fn)}"', bindings):
            problems.append(f'{BINDINGS} has no m.def("{fn}", ...)')
        # The launcher: minigan::<fn>, or minigan::<fn>_<variant> (batchnorm_forward_train).
        declared = re.findall(rf"\b({re.escape(fn)}(?:_\w+)?)\s*\(", header)
        if not any(_defines_cpp(text, name) for name in declared for text in kernel_files):
            problems.append(
                f"no launcher {fn}(...) (or {fn}_<variant>) is declared in {HEADER} and "
                "defined in a csrc/*.cu file"
                + (f" (declared: {sorted(set(declared))})" if declared else "")
            )
        for module, names in src.compiled.items():
            if fn not in names:
                problems.append(f"{module} (compiled) has no {fn}: rebuild it")
    return problems


def check_kernel_extension(family: Family, src: Sources) -> list[str]:
    """Step 5: KernelExtension methods, bound to GPU in cuda_ext.py and to EMU in emu_ext.py."""
    problems = []
    gpu = top_level_assigns(src.python.get(CUDA_EXT))
    emu = top_level_assigns(src.python.get(EMU_EXT))
    for fn in family.functions:
        if method_def(src.python.get(CUDA_EXT), "KernelExtension", fn) is None:
            problems.append(f"class KernelExtension in {CUDA_EXT} has no method {fn}")
        if gpu.get(fn) != f"GPU.{fn}":
            problems.append(f"{CUDA_EXT} does not bind {fn} = GPU.{fn}")
        if emu.get(fn) != f"EMU.{fn}":
            problems.append(f"{EMU_EXT} does not bind {fn} = EMU.{fn}")
    return problems


def _emulator_fixtures(index: FileIndex) -> set[str]:
    """Fixtures of a file parametrized with "emu" that refer to emu_ext (the CUDA emulator)."""
    names = set()
    for node in index.functions():
        for deco in node.decorator_list:
            if not (isinstance(deco, ast.Call) and _local_names(deco.func)[0] & {"fixture"}):
                continue
            params = [kw.value for kw in deco.keywords if kw.arg == "params"]
            if params and "emu" in index.closure(params[0])[0]:
                if "emu_ext" in index.closure(node)[0]:
                    names.add(node.name)
    return names


def _tests(src: Sources, prefix: str, test_prefix: str) -> list[tuple[str, FileIndex, ast.AST]]:
    out = []
    for path in src.files(prefix):
        index = _index(src.python[path])
        out += [(path, index, f) for f in index.functions() if f.name.startswith(test_prefix)]
    return out


def check_emulated_test(family: Family, src: Sources) -> list[str]:
    """Step 6: every function is run by a test through an emulator fixture."""
    shared = set()  # fixtures of tests/conftest.py serve every test file
    if "tests/conftest.py" in src.python:
        shared = _emulator_fixtures(_index(src.python["tests/conftest.py"]))
    covered: set[str] = set()
    found: set[str] = set(shared)
    for path, index, test in _tests(src, "tests/", "test_"):
        fixtures = shared | _emulator_fixtures(index)
        found |= {f"{path}::{name}" for name in fixtures - shared}
        if {a.arg for a in test.args.args} & fixtures:
            covered |= index.closure(test)[0] & set(family.functions)
    missing = [fn for fn in family.functions if fn not in covered]
    if not missing:
        return []
    return [
        f'no test in tests/ runs {", ".join(missing)} through a fixture with an "emu" param '
        f"that uses emu_ext (such fixtures: {sorted(found) or 'none'})"
    ]


def family_ops(family: Family, src: Sources) -> set[str]:
    """Public functions of minigan/ops/*.py that .apply a class naming one of the family's
    functions (e.g. batch_norm for batchnorm), or a subclass of such a class."""
    ops = set()
    for path in src.files("minigan/ops/"):
        index = _index(src.python[path])
        classes = {
            name
            for name, node in index.top.items()
            if isinstance(node, ast.ClassDef) and _local_names(node)[0] & set(family.functions)
        }
        # ... and their subclasses in the same file (ReLU(RegistryActivation) runs the
        # activation kernels its base class names)
        grown = True
        while grown:
            subclasses = {
                name
                for name, node in index.top.items()
                if isinstance(node, ast.ClassDef)
                and {b.id for b in node.bases if isinstance(b, ast.Name)} & classes
            }
            grown = not subclasses <= classes
            classes |= subclasses
        for node in index.functions():
            applies = {
                sub.value.id
                for sub in ast.walk(node)
                if isinstance(sub, ast.Attribute)
                and sub.attr == "apply"
                and isinstance(sub.value, ast.Name)
            }
            if not node.name.startswith("_") and applies & classes:
                ops.add(node.name)
    return ops


def check_gradcheck_test(family: Family, src: Sources) -> list[str]:
    """Step 7: a test calls gradcheck on the family (families with a gradient only)."""
    if not family.has_gradient:
        return []  # nothing to differentiate (adam_step updates parameters in place)
    names = {family.name, *family.functions, *family_ops(family, src)}
    for _path, index, test in _tests(src, "tests/", "test_"):
        refs, calls = index.closure(test)
        if calls & {"gradcheck", "gradcheck_report"} and refs & names:
            return []
    return [f"no test in tests/ calls gradcheck and refers to any of {sorted(names)}"]


def check_benchmark(family: Family, src: Sources) -> list[str]:
    """Step 8: a bench_* function is named after the family or runs one of its functions."""
    for _path, index, bench in _tests(src, "benchmarks/", "bench_"):
        named = bench.name == f"bench_{family.name}" or bench.name.startswith(
            f"bench_{family.name}_"
        )
        if named or index.closure(bench)[0] & set(family.functions):
            return []
    return [
        f"no bench_* function in benchmarks/ is named bench_{family.name} or refers to "
        f"{', '.join(family.functions)}"
    ]


@dataclass(frozen=True)
class Step:
    title: str  # as in the headings of docs/adding-a-kernel-family.md
    check: Callable[[Family, Sources], list[str]]


STEPS = (
    Step("NumPy reference", check_numpy_reference),
    Step("argument checks", check_argument_checks),
    Step("CuPy implementation", check_cupy),
    Step("numba implementation", check_numba),
    Step("CUDA kernel, launcher and binding", check_cuda),
    Step("KernelExtension method", check_kernel_extension),
    Step("emulated test", check_emulated_test),
    Step("gradcheck test", check_gradcheck_test),
    Step("benchmark", check_benchmark),
)


def missing_steps(family: Family, src: Sources) -> list[str]:
    """One "<step>: <what is missing>" line per problem (empty when the family is complete)."""
    return [f"{step.title}: {problem}" for step in STEPS for problem in step.check(family, src)]


def assert_complete(family: Family, src: Sources) -> None:
    problems = missing_steps(family, src)
    assert not problems, (
        f"kernel family {family.name!r} is missing steps of docs/adding-a-kernel-family.md:\n  "
        + "\n  ".join(problems)
    )


def families() -> list[Family]:
    return [Family(name, fns) for name, fns in backend.kernel_families().items()]


# ----------------------------------------------------------------------------------
# The real families
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize("family", families(), ids=lambda f: f.name)
def test_every_family_has_every_step(family):
    assert_complete(family, load_sources())


def test_families_come_from_the_contract():
    found = families()
    assert [fn for f in found for fn in f.functions] == list(backend.KERNEL_FUNCTIONS)
    assert {f.name for f in found} >= {"linear_act", "conv2d", "batchnorm", "adam"}
    with pytest.raises(ValueError, match="does not end with"):
        backend.family_of("linear_act")


def test_the_page_lists_the_enforced_steps_in_order():
    headings = re.findall(r"^## (\d+)\. (.+)$", DOC.read_text(encoding="utf-8"), re.M)
    assert [(int(n), title) for n, title in headings[: len(STEPS)]] == [
        (i, step.title) for i, step in enumerate(STEPS, 1)
    ], "docs/adding-a-kernel-family.md must have one '## N. <step>' heading per step, in order"


# ----------------------------------------------------------------------------------
# A fake family: complete it passes; without any one step it fails, naming the step
# ----------------------------------------------------------------------------------

FAKE = Family("fake_family", ("fake_family_forward", "fake_family_backward"))

# What each step adds to the sources for the fake family: (kind, path, code), kind being
# "python" (appended to a Python file), "method" (into class KernelExtension), "text"
# (appended to a C++ file) or "compiled" (names the compiled modules gain).
FAKE_PARTS: dict[str, list[tuple[str, str, str]]] = {
    "NumPy reference": [
        (
            "python",
            NUMPY_REF,
            '''
            def fake_family_forward(x):
                """y = 2 x."""
                checks.fake_family_args(x)
                return 2 * x

            def fake_family_backward(dy, x):
                """dx = 2 dy."""
                checks.fake_family_args(x)
                return 2 * dy
            ''',
        )
    ],
    "argument checks": [("python", CHECKS, "def fake_family_args(x):\n    pass\n")],
    "CuPy implementation": [
        (
            "python",
            CUPY,
            """
            def fake_family_forward(x):
                checks.fake_family_args(x)
                return 2 * x

            def fake_family_backward(dy, x):
                checks.fake_family_args(x)
                return 2 * dy
            """,
        )
    ],
    "numba implementation": [
        (
            "python",
            NUMBA,
            "from .numba_fake import fake_family_forward, fake_family_backward\n",
        ),
        (
            "python",
            "minigan/backend/numba_fake.py",
            '''
            def fake_family_forward(x):
                """y = 2 x, one numba pass."""
                checks.fake_family_args(x)
                return 2 * x

            def fake_family_backward(dy, x):
                """dx = 2 dy, one numba pass."""
                checks.fake_family_args(x)
                return 2 * dy
            ''',
        ),
    ],
    "CUDA kernel, launcher and binding": [
        (
            "text",
            BINDINGS,
            'm.def("fake_family_forward", [](Ptr x) { minigan::fake_family_forward(fp(x)); });\n'
            'm.def("fake_family_backward", [](Ptr x) { minigan::fake_family_backward(fp(x)); });\n',
        ),
        (
            "text",
            HEADER,
            "void fake_family_forward(float* x);\nvoid fake_family_backward(float* x);\n",
        ),
        (
            "text",
            "csrc/fake_family.cu",
            "void fake_family_forward(float* x) {\n    launch_kernel(...);\n}\n"
            "void fake_family_backward(float* x) {\n    launch_kernel(...);\n}\n",
        ),
        ("compiled", "", "fake_family_forward fake_family_backward"),
    ],
    "KernelExtension method": [
        (
            "method",
            CUDA_EXT,
            """
            def fake_family_forward(self, x):
                checks.fake_family_args(x)

            def fake_family_backward(self, dy, x):
                checks.fake_family_args(x)
            """,
        ),
        (
            "python",
            CUDA_EXT,
            "fake_family_forward = GPU.fake_family_forward\n"
            "fake_family_backward = GPU.fake_family_backward\n",
        ),
        (
            "python",
            EMU_EXT,
            "fake_family_forward = EMU.fake_family_forward\n"
            "fake_family_backward = EMU.fake_family_backward\n",
        ),
    ],
    "emulated test": [
        (
            "python",
            "tests/test_fake_family_emulated.py",
            """
            @pytest.fixture(params=IMPLEMENTATIONS)
            def fake_impl(request):
                return emu_ext.EMU if request.param == "emu" else cuda_ext.GPU

            IMPLEMENTATIONS = ["ext", pytest.param("emu", marks=pytest.mark.emu)]

            def _run(impl, x):
                return impl.fake_family_backward(impl.fake_family_forward(x), x)

            def test_fake_kernels(fake_impl):
                _run(fake_impl, 1.0)
            """,
        )
    ],
    "gradcheck test": [
        (
            "python",
            "minigan/ops/fake_ops.py",
            """
            class FakeOp(Function):
                @staticmethod
                def forward(ctx, x):
                    return _k("fake_family_forward", x)(x)

            def fake_family_op(x):
                return FakeOp.apply(x)
            """,
        ),
        (
            "python",
            "tests/test_fake_family_grad.py",
            """
            def _check(x):
                assert mg.gradcheck(lambda t: mg.fake_family_op(t), [x])

            def test_fake_gradients():
                _check(mg.randn(3, dtype="float64", requires_grad=True))
            """,
        ),
    ],
    "benchmark": [
        (
            "python",
            "benchmarks/bench_fake_family.py",
            "def bench_fake_family(benchmark):\n    benchmark(lambda: None)\n",
        )
    ],
}


def fake_sources(without: str | None = None) -> Sources:
    """The real sources plus every part of the fake family except those of step `without`."""
    src = load_sources()
    for step, parts in FAKE_PARTS.items():
        if step == without:
            continue
        for kind, path, code in parts:
            if kind == "python":
                src = src.with_python(path, code)
            elif kind == "method":
                src = src.with_method(path, "KernelExtension", code)
            elif kind == "text":
                src = src.with_text(path, code)
            else:
                src = src.with_compiled(code.split())
    return src


@pytest.fixture
def fake_family(monkeypatch):
    """Injects the fake family into the contract (KERNEL_FUNCTIONS), so that the family list
    the suite derives includes it."""
    monkeypatch.setattr(backend, "KERNEL_FUNCTIONS", (*backend.KERNEL_FUNCTIONS, *FAKE.functions))
    assert FAKE in families()
    return FAKE


def test_the_fake_family_has_a_part_for_every_step():
    assert list(FAKE_PARTS) == [step.title for step in STEPS]


def test_a_complete_fake_family_passes(fake_family):
    assert missing_steps(fake_family, fake_sources()) == []


@pytest.mark.parametrize("step", [s.title for s in STEPS])
def test_a_fake_family_missing_one_step_fails_naming_it(fake_family, step):
    src = fake_sources(without=step)
    problems = missing_steps(fake_family, src)
    assert problems and all(p.startswith(f"{step}: ") for p in problems), problems
    with pytest.raises(AssertionError, match=rf"missing steps of .*:\n\s*{re.escape(step)}: "):
        assert_complete(fake_family, src)


def test_a_family_without_gradient_needs_no_gradcheck(fake_family):
    forward_only = Family("fake_family", ("fake_family_forward",))
    src = fake_sources(without="gradcheck test")
    assert check_gradcheck_test(forward_only, src) == []
    assert check_gradcheck_test(fake_family, src) != []
