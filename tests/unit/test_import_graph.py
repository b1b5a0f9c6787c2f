"""The code reads in one direction: no package cycles, edges import domains and never back.

The graph is built from the source (every ``import`` of a ``vigil`` module,
including those inside functions), at package level: ``vigil.cad.service``
belongs to ``cad``. Edges are ``api``, ``cli``, ``web`` (HTTP, terminal, UI),
``serve``, the settings root ``config`` and the composition root ``app``; every
other package is a domain, and imports none of them.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EDGES = {"api", "cli", "app", "serve", "web", "__main__", "config"}
# The domain modules allowed to reach an edge, and why.
COMPOSES = {
    # The simulator's harnesses start the whole platform (App, and for the runner its HTTP
    # server) in-process for `vigil demo`, `vigil sim run` and fitted-city runs: second
    # composition roots, like `serve`.
    "vigil.sim.runner",
    "vigil.sim.fitted",
}
# Only the composition root (and the store/bus packages themselves) name an adapter.
ADAPTERS = {
    "vigil.store.sqlite",
    "vigil.store.postgres.store",
    "vigil.ingest.postgres",
    "vigil.alerts.postgres",
    "vigil.reports.postgres",
    "vigil.bus.memory",
    "vigil.bus.log",
}
MAY_NAME_ADAPTERS = {"app", "store", "bus"}


def _module_of(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    """Return module -> the vigil modules it imports."""
    graph: dict[str, set[str]] = {}
    for path in sorted((REPO / "vigil").rglob("*.py")):
        if "node_modules" in path.parts:
            continue
        module = _module_of(path)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("vigil")}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    target = ".".join([*base, node.module] if node.module else base)
                else:
                    target = node.module or ""
                if target.startswith("vigil"):
                    found.add(target)
        graph[module] = found
    return graph


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _package_graph() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for module, targets in _imports().items():
        src = _package(module)
        deps = out.setdefault(src, set())
        deps |= {t for t in map(_package, targets) if t and t != src}
    return out


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """Return one cycle of the graph as a path, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_package_imports_itself_back_through_others() -> None:
    cycle = _cycle(_package_graph())
    assert cycle is None, "package cycle: " + " -> ".join(cycle or [])


def test_domain_packages_never_import_an_edge() -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in _imports().items()
        if _package(module) not in EDGES and module not in COMPOSES
        for target in targets
        if _package(target) in EDGES
    )
    assert wrong == []


def test_only_the_composition_root_names_an_adapter() -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in _imports().items()
        if _package(module) not in MAY_NAME_ADAPTERS
        for target in targets & ADAPTERS
    )
    assert wrong == []
