# Runs every ```python block of the documentation (the guided tour in docs/tour/, README.md,
# docs/testing.md and docs/adding-a-kernel-family.md), so the prose cannot drift from the
# code; also checks that the tour's links to the code point at files and functions that exist.
"""The docs test.

For each Markdown file, the ```python blocks run in order in ONE fresh namespace (a later
block may use names defined by an earlier one), with the repository root as the working
directory and ``minigan.manual_seed(0)`` called first. A failure names the file, the block
number and the exception; the traceback's line numbers are the lines of the Markdown file.

Only blocks fenced exactly as ```python run. Shell commands use ```bash. A block that must
not run (an illustration that needs a GPU, say) is preceded by the line
``<!-- docs-test: skip -->``.
"""

from __future__ import annotations

import codeop
import re
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

import minigan

ROOT = Path(__file__).resolve().parents[1]
TOUR = ROOT / "docs" / "tour"
DOC_FILES = sorted(TOUR.glob("*.md")) + [
    ROOT / "README.md",
    ROOT / "docs" / "testing.md",
    ROOT / "docs" / "adding-a-kernel-family.md",
]
SKIP_MARKER = "<!-- docs-test: skip -->"

# Python blocks of files outside the tour that are known not to run on their own. Each is
# still executed: when it starts to work, the test fails and asks for the entry to be
# removed. Keys are (path relative to the repo root, the block's first line of code).
KNOWN_FAILING: dict[tuple[str, str], str] = {}

FENCE = re.compile(r"^(?P<indent>[ ]{0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@dataclass
class Block:
    path: Path
    number: int  # 1-based, counting only ```python blocks of the file
    line: int  # 1-based line of the first code line in the Markdown file
    code: str
    skip: bool

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT).as_posix()} block {self.number} (line {self.line})"


def fenced_blocks(text: str) -> list[tuple[str, int, str, str]]:
    """All fenced code blocks as (info string, first code line, code, line before the fence)."""
    lines = text.splitlines()
    out = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info = m.group("fence"), m.group("info").strip()
        before = lines[i - 1].strip() if i > 0 else ""
        start = i + 1
        j = start
        while j < len(lines):
            close = FENCE.match(lines[j])
            if close and close.group("fence").startswith(fence) and not close.group("info").strip():
                break
            j += 1
        out.append((info, start + 1, "\n".join(lines[start:j]) + "\n", before))
        i = j + 1
    return out


def python_blocks(path: Path) -> list[Block]:
    blocks = []
    for info, line, code, before in fenced_blocks(path.read_text(encoding="utf-8")):
        if info == "python":
            blocks.append(Block(path, len(blocks) + 1, line, code, before == SKIP_MARKER))
    return blocks


def run_file(path: Path) -> list[str]:
    """Run the python blocks of `path`; raise AssertionError at the first unexpected failure.

    Returns the descriptions of the KNOWN_FAILING blocks that failed as expected.
    """
    namespace: dict = {"__name__": "__docs__"}
    minigan.manual_seed(0)
    expected_failures = []
    for block in python_blocks(path):
        if block.skip:
            continue
        first_line = next((ln.strip() for ln in block.code.splitlines() if ln.strip()), "")
        key = (path.relative_to(ROOT).as_posix(), first_line)
        # Pad with newlines so that tracebacks show the line numbers of the Markdown file.
        source = "\n" * (block.line - 1) + block.code
        try:
            code = compile(source, str(path.relative_to(ROOT)), "exec")
            exec(code, namespace)  # noqa: S102 - executing the docs is the point
        except Exception as exc:  # noqa: BLE001 - any error in a snippet is a failure
            if key in KNOWN_FAILING:
                expected_failures.append(f"{block.where}: {type(exc).__name__}: {exc}")
                continue
            tb = "".join(traceback.format_exception(exc))
            raise AssertionError(
                f"{block.where} failed with {type(exc).__name__}: {exc}\n\n{tb}"
            ) from None
        else:
            if key in KNOWN_FAILING:
                raise AssertionError(
                    f"{block.where} now runs: remove it from KNOWN_FAILING in tests/test_docs.py"
                )
    return expected_failures


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_doc_snippets_run(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not path.exists():
        pytest.skip(f"{path.relative_to(ROOT)} does not exist")
    monkeypatch.chdir(ROOT)
    expected = run_file(path)
    if expected:
        pytest.xfail("known failing blocks (see KNOWN_FAILING): " + "; ".join(expected))


def test_the_tour_has_its_chapters() -> None:
    """The index links every chapter, and every chapter has runnable snippets (but 07)."""
    chapters = sorted(p.name for p in TOUR.glob("[0-9][0-9]-*.md"))
    assert len(chapters) == 9, chapters
    index = (TOUR / "README.md").read_text(encoding="utf-8")
    for name in chapters:
        assert f"({name})" in index, f"docs/tour/README.md does not link {name}"
        if not name.startswith("07-"):
            assert python_blocks(TOUR / name), f"{name} has no ```python block"


def test_tour_code_fences_are_tagged() -> None:
    """Every fence in the tour says its language, and Python is spelled `python` (so it runs)."""
    for path in sorted(TOUR.glob("*.md")):
        for info, line, _code, _before in fenced_blocks(path.read_text(encoding="utf-8")):
            assert info, f"{path.name} line {line - 1}: untagged code fence"
            lang = info.split()[0].lower()
            assert lang not in ("py", "python3", "pycon", "ipython") and (
                lang != "python" or info == "python"
            ), f"{path.name} line {line - 1}: use ```python so the docs test runs the block"


def _repl_error(code: str) -> str | None:
    """Feed `code` line by line to the compiler the way the interactive prompt does and
    return the first syntax error, or None. (A pasted block must leave a blank line after
    an indented suite before unindented code, or the plain `python` prompt rejects it.)"""
    buffer: list[str] = []
    for number, line in enumerate(code.splitlines() + [""], 1):
        buffer.append(line)
        try:
            complete = codeop.compile_command("\n".join(buffer), "<stdin>", "single")
        except SyntaxError as err:
            return f"line {number} of the block: {err.msg}: {line!r}"
        if complete is not None:
            buffer = []
    return None


def test_tour_blocks_paste_into_the_python_prompt() -> None:
    """The tour tells readers to paste its blocks into `python`: they must be accepted."""
    for path in sorted(TOUR.glob("*.md")):
        for block in python_blocks(path):
            error = _repl_error(block.code)
            assert error is None, f"{block.where} cannot be pasted into the prompt: {error}"


LINK = re.compile(r"\[`(?P<name>[^`]+)`\]\((?P<target>[^)#\s]+)(?:#[^)]*)?\)")
ANY_LINK = re.compile(r"\]\((?P<target>[^)#\s]+)(?:#[^)]*)?\)")


def _defines(text: str, name: str) -> bool:
    """True when `text` (Python source) defines `name` as a def, a class or an assignment."""
    pattern = rf"^\s*(?:def|class)\s+{re.escape(name)}\b|^\s*{re.escape(name)}\s*(?::[^=]*)?="
    return re.search(pattern, text, re.MULTILINE) is not None


def test_tour_links_point_at_existing_code() -> None:
    """Relative links exist; a link [`name`](file.py) names something defined in file.py.

    `Class.method` checks both parts; `name(args)` is read as `name`.
    """
    for path in sorted(TOUR.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        for m in ANY_LINK.finditer(text):
            target = m.group("target")
            if "://" in target or target.startswith("mailto:"):
                continue
            assert (path.parent / target).exists(), f"{path.name}: broken link {target}"
        for m in LINK.finditer(text):
            target = path.parent / m.group("target")
            if target.suffix != ".py":
                continue
            source = target.read_text(encoding="utf-8")
            name = re.sub(r"\(.*\)$", "", m.group("name"))  # `frozen(D)` names `frozen`
            if "/" in name or name.endswith(".py"):  # the link text is a path, not a name
                continue
            for part in name.split("."):
                assert _defines(source, part), (
                    f"{path.name}: link [`{m.group('name')}`] -> {m.group('target')}, but "
                    f"{part!r} is not defined there"
                )
