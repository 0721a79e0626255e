"""The import graph of care/ (read statically, with ``ast``): no circles, and the layers.

Which way imports go (README, "Design notes"):

    web, cli, applier, scheduler ──> services ──> messaging, telephony ──> models ──> domain
                                     demo ─────┘

- ``care.domain`` imports the standard library only (``tests/domain/test_purity.py``);
- ``care.models`` imports neither services nor web;
- ``care.services`` imports neither web nor Flask (it receives a session, values and
  ``now``; the request's state stays in the web layer);
- ``care.messaging`` and ``care.telephony`` (adapters) import neither services nor web.

The circle check counts module-level imports (what runs when a module is loaded), then
imports inside functions too (a deferred import hides a circle, it does not remove it);
the layer rules count both. Imports under ``if TYPE_CHECKING:`` are left out of both.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CARE = ROOT / "care"
FLASK = ("flask", "flask_babel", "flask_login", "flask_migrate", "flask_sqlalchemy", "flask_wtf", "werkzeug")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(path): path for path in sorted(CARE.rglob("*.py"))}


def _imports(name: str, path: Path) -> list[tuple[str, bool]]:
    """``(imported module, at module level)`` for every import of the module.

    ``from care.x import y`` is an import of ``care.x.y`` when that is a module, else of
    ``care.x``; relative imports are resolved.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                found.extend((alias.name, top) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")
                    parts = parts[: len(parts) - (child.level - 1)]
                    base = ".".join([*parts, base] if base else parts)
                for alias in child.names:
                    full = f"{base}.{alias.name}"
                    found.append((full if full in MODULES else base, top))
            visit(child, top and not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)), True)
    return found


GRAPH: dict[str, list[tuple[str, bool]]] = {name: _imports(name, path) for name, path in MODULES.items()}


def _in(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def connect(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_the_graph_is_read():
    assert "care.services.calls" in MODULES and "care.domain.callstate" in MODULES
    assert ("care.domain.callstate", True) in GRAPH["care.services.calls"] or any(
        target.startswith("care.domain") for target, _top in GRAPH["care.services.calls"]
    )


def test_no_import_circles_between_modules_of_care():
    graph = {
        name: {target for target, top in imports if top and target in MODULES and target != name}
        for name, imports in GRAPH.items()
    }
    assert _cycles(graph) == []


def test_no_circles_through_deferred_imports_either():
    """An import inside a function only hides a circle (``telephony.base`` choosing the
    provider by importing the adapters that import it)."""
    graph = {
        name: {target for target, _top in imports if target in MODULES and target != name}
        for name, imports in GRAPH.items()
    }
    assert _cycles(graph) == []


def test_no_circles_between_the_layers():
    """Package to package (``care.services`` ⇄ ``care.messaging`` …), deferred imports too."""
    layers = ("care.domain", "care.models", "care.services", "care.messaging", "care.telephony", "care.web", "care.demo")

    def layer(module: str) -> str | None:
        return next((p for p in layers if _in(module, p)), None)

    graph: dict[str, set[str]] = {}
    for name, imports in GRAPH.items():
        source = layer(name)
        for target, _top in imports:
            destination = layer(target)
            if source and destination and destination != source:
                graph.setdefault(source, set()).add(destination)
    assert _cycles(graph) == []


RULES = [
    # (the modules, what they must not import, why)
    (("care.models",), ("care.services", "care.web", "care.messaging", "care.telephony", "care.demo"), "models are the data, not the use cases"),
    (("care.services",), ("care.web", "care.demo", "care.cli", "care.applier", "care.scheduler", *FLASK), "services take a session and values, not a request"),
    (("care.messaging", "care.telephony"), ("care.services", "care.web", "care.demo", "care.cli"), "adapters do not run use cases"),
    (("care.demo",), ("care.web", "care.cli"), "the demo loads data through services"),
]  # fmt: skip


@pytest.mark.parametrize(("sources", "forbidden", "why"), RULES, ids=[", ".join(rule[0]) for rule in RULES])
def test_layers(sources, forbidden, why):
    wrong = sorted(
        f"{name} imports {target}"
        for name, imports in GRAPH.items()
        if _in(name, *sources)
        for target, _top in imports
        if _in(target, *forbidden)
    )
    assert wrong == [], why


def test_domain_imports_nothing_of_care_but_the_domain():
    """The standard-library-only rule itself is ``tests/domain/test_purity.py``."""
    wrong = sorted(
        f"{name} imports {target}"
        for name, imports in GRAPH.items()
        if _in(name, "care.domain")
        for target, _top in imports
        if _in(target, "care") and not _in(target, "care.domain")
    )
    assert wrong == []
