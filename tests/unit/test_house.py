"""The house rules that keep the package easy to work in: short modules, no import circles."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "hpcclose"
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    found = {}
    for p in PACKAGE.rglob("*.py"):
        name = ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = p
    return found


def _runtime_imports(tree: ast.AST):
    """Every import statement, at any depth, except those under ``if TYPE_CHECKING:`` (type hints only)."""
    for node in list(ast.walk(tree)):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node


def _targets(name: str, path: Path, node, modules) -> set[str]:
    """The hpcclose modules an import statement in module ``name`` reaches."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in modules}
    base = node.module or ""
    if node.level:
        parts = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join(parts + ([node.module] if node.module else []))
    out = set()
    for a in node.names:
        full = f"{base}.{a.name}"
        out.add(full if full in modules else base)
    return out & set(modules)


def test_no_module_over_500_lines():
    long = {n: len(p.read_text().splitlines()) for n, p in _modules().items()}
    assert not {n: k for n, k in long.items() if k > MAX_LINES}


def test_no_import_circle_between_modules():
    modules = _modules()
    graph = {n: set() for n in modules}
    for name, path in modules.items():
        for node in _runtime_imports(ast.parse(path.read_text())):
            graph[name] |= _targets(name, path, node, modules) - {name}
    # a package importing its own modules (re-exports) is not a circle: drop __init__ → child edges
    for name in graph:
        graph[name] = {t for t in graph[name] if not t.startswith(name + ".")}
    state, circles = {}, []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in graph[node]:
            if state.get(nxt) == "open":
                circles.append(trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not circles, circles
