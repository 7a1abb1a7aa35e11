"""The browser modules' static import graph, read as text (no browser, no node): every relative
import names a file that exists, no module reaches itself again through its imports (views
navigate through router.js, never through app.js), and every module opts in to type checking."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.no_database

STATIC = Path(__file__).resolve().parents[2] / "static"
JS = STATIC / "js"
MODULES = sorted(JS.rglob("*.js"))
IMPORT = re.compile(
    r"""^\s*(?:
        import\s*(?:[\w$*{},\s]+?\s*from\s*)?                     # import x, { y } from | import
        | export\s*(?:\*(?:\s*as\s+[\w$]+)?|\{[^}]*\})\s*from\s*  # export * | export { x } from
    )["']([^"']+)["']""",
    re.MULTILINE | re.VERBOSE,
)


def imports_of(module: Path) -> list[Path]:
    """The files `module` imports statically, resolved against its folder."""
    text = module.read_text(encoding="utf-8")
    return [(module.parent / spec).resolve() for spec in IMPORT.findall(text)]


def find_cycle(graph: dict[Path, list[Path]]) -> list[Path] | None:
    """One import cycle as the path that closes it (first module repeated at the end), or None."""
    done: set[Path] = set()
    stack: list[Path] = []

    def visit(node: Path) -> list[Path] | None:
        if node in stack:
            return [*stack[stack.index(node) :], node]
        if node in done:
            return None
        stack.append(node)
        for target in graph.get(node, []):
            if cycle := visit(target):
                return cycle
        stack.pop()
        done.add(node)
        return None

    for start in graph:
        if cycle := visit(start):
            return cycle
    return None


def test_import_pattern() -> None:
    source = """import { a, b as c } from "./one.js";
import Default, * as all from '../two.js';
import "./three.js";
import {
  d,
} from "./four.js";
export { e } from "./five.js";
export * as f from "./six.js";
export function g() { return "./not-an-import.js"; }
const h = await import("./dynamic.js");
/** @import { T } from "./type-only.js" */
"""
    found = IMPORT.findall(source)
    assert found == ["./one.js", "../two.js", "./three.js", "./four.js", "./five.js", "./six.js"]


def test_find_cycle() -> None:
    a, b, c = Path("a.js"), Path("b.js"), Path("c.js")
    assert find_cycle({a: [b], b: [c], c: []}) is None
    assert find_cycle({a: [b, c], b: [c], c: [b]}) == [b, c, b]


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(JS)))
def test_relative_imports_exist(module: Path) -> None:
    missing = [str(t) for t in imports_of(module) if not t.is_file()]
    assert not missing, f"{module.relative_to(STATIC)} imports missing files: {missing}"


def test_import_graph_is_acyclic() -> None:
    graph = {m: [t for t in imports_of(m) if t.is_relative_to(JS)] for m in MODULES}
    cycle = find_cycle(graph) or []
    assert not cycle, "import cycle: " + " -> ".join(str(p.relative_to(JS)) for p in cycle)


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(JS)))
def test_module_is_type_checked(module: Path) -> None:
    """jsconfig.json leaves checkJs off so tsc does not check the vendored libraries it reaches
    through imports; each of our modules opts in with this first line instead."""
    first_line = module.read_text(encoding="utf-8").partition("\n")[0]
    assert first_line == "// @ts-check", module.relative_to(STATIC)


# A count put next to a word by hand: `n === 1 ? "minuto" : "minutos"` and the like.
HAND_MADE_PLURAL = re.compile(r"[!=]==?\s*1\s*\?")


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(JS)))
def test_counts_agree_through_the_plural_module(module: Path) -> None:
    """Every "1 mensaje" / "2 mensajes" goes through plural.js (digits and agreement in one
    place: "1 tokens" and "1500 respuestas" came from hand-made copies)."""
    if module == JS / "plural.js" or module.is_relative_to(JS / "vendor"):
        return
    text = module.read_text(encoding="utf-8")
    assert not HAND_MADE_PLURAL.search(text), f"{module.name}: use plural() from plural.js"
