"""The market's import graph: its domains depend on each other one way, and no service imports another.

Every ``.py`` under services/market is parsed (imports inside functions included) and each import mapped to the
DOMAIN it lands in: the first package below ``services.market`` (contracts, stats, listings, …). Modules that are
not in a domain play one of two roles (see docs/architecture.md, "Inside market, domains depend on each other one
way"):

* composition roots — ``app``, ``worker``, ``cli``, ``models`` (the Alembic metadata of every table), the
  ``migrations`` package, and every domain's ``cli.py`` (an entry point mounted by services.cli): they may import
  anything, and nothing but another root imports them;
* the market's kernel — ``settings``, ``base``, ``concurrency``, ``openapi_examples``: they import no domain.

Between domains the graph must have no cycle.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MARKET = ROOT / "services" / "market"
PREFIX = "services.market"

ROOT_MODULES = frozenset({"app", "worker", "cli", "models"})
ROOT_PACKAGES = frozenset({"migrations"})
KERNEL_MODULES = frozenset({"settings", "base", "concurrency", "openapi_examples", "__init__"})

# Cycles between domains still to remove: none. An entry (the set of domains of one strongly connected component)
# may only be added with the reason and the plan to remove it; the test fails on a cycle not listed here, and on a
# listed one that is gone.
KNOWN_CYCLES_TO_REMOVE: frozenset[frozenset[str]] = frozenset()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> Iterator[str]:
    """Every module ``path`` imports, absolute, at any depth of its code."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            yield module
            # "from services.market.stats import fold" imports the module services.market.stats.fold.
            yield from (f"{module}.{alias.name}" for alias in node.names)


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.py") if "__pycache__" not in p.parts)


def _parts(module: str) -> list[str]:
    """The components of a market module below services.market ([] for the package itself)."""
    return module.split(".")[2:]


def _is_market(module: str) -> bool:
    return module == PREFIX or module.startswith(PREFIX + ".")


def _is_root(module: str) -> bool:
    parts = _parts(module)
    if not parts:
        return False
    if len(parts) == 1:
        return parts[0] in ROOT_MODULES
    return parts[0] in ROOT_PACKAGES or parts[-1] == "cli"


def _domain(module: str) -> str | None:
    """The domain of a market module, or None for the package, its kernel and its roots."""
    parts = _parts(module)
    if not parts or _is_root(module) or parts[0] in ROOT_PACKAGES:
        return None
    if not (MARKET / parts[0]).is_dir():
        return None  # a top-level module: the kernel
    return parts[0]


def _market_modules() -> dict[str, set[str]]:
    """Every market module and the market modules it imports (names as written, which may be a package's names)."""
    graph: dict[str, set[str]] = {}
    for path in _files(MARKET):
        graph[_module_name(path)] = {m for m in _imports(path) if m}
    return graph


def _exists(module: str) -> bool:
    path = ROOT.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _domain_graph() -> dict[str, dict[str, list[str]]]:
    """domain → domain it imports → the importing modules (for the failure message)."""
    graph: dict[str, dict[str, list[str]]] = {}
    for module, imports in _market_modules().items():
        source = _domain(module)
        if source is None:
            continue
        graph.setdefault(source, {})
        for target_module in imports:
            if not _is_market(target_module) or not _exists(target_module):
                continue
            target = _domain(target_module)
            if target is not None and target != source:
                graph[source].setdefault(target, []).append(f"{module} → {target_module}")
    return graph


def _strongly_connected(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Tarjan's algorithm: the components of more than one domain."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, {})):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def _cycle_in(component: list[str], graph: dict[str, dict[str, list[str]]]) -> list[str]:
    """One cycle through the component's first domain, as a path of domains."""
    members = set(component)
    start = component[0]
    paths: list[list[str]] = [[start]]
    seen = {start}
    while paths:
        path = paths.pop(0)
        for nxt in sorted(graph.get(path[-1], {})):
            if nxt == start:
                return [*path, start]
            if nxt in members and nxt not in seen:
                seen.add(nxt)
                paths.append([*path, nxt])
    return component


def _describe(cycle: list[str], graph: dict[str, dict[str, list[str]]]) -> str:
    lines = [" → ".join(cycle)]
    for a, b in itertools.pairwise(cycle):
        lines += [f"    {edge}" for edge in sorted(graph[a][b])[:3]]
    return "\n".join(lines)


def test_no_import_cycle_between_market_domains() -> None:
    graph = _domain_graph()
    assert {"contracts", "stats", "listings"} <= set(graph), "the walk found no domains: is MARKET right?"
    components = _strongly_connected(graph)
    unknown = [c for c in components if frozenset(c) not in KNOWN_CYCLES_TO_REMOVE]
    assert not unknown, "import cycle(s) between market domains:\n" + "\n".join(
        _describe(_cycle_in(c, graph), graph) for c in unknown
    )
    gone = KNOWN_CYCLES_TO_REMOVE - {frozenset(c) for c in components}
    assert not gone, f"cycles removed meanwhile: take them out of KNOWN_CYCLES_TO_REMOVE: {sorted(map(sorted, gone))}"


def test_contracts_never_import_the_statistics() -> None:
    # The one-way dependency issue 17 asked for, stated directly: stats read contracts, contracts never import stats.
    graph = _domain_graph()
    assert "stats" not in graph.get("contracts", {}), graph["contracts"].get("stats")


def test_only_roots_import_the_composition_roots() -> None:
    offenders = [
        f"{module} → {target}"
        for module, imports in _market_modules().items()
        if not _is_root(module) and _parts(module)[:1] not in ([p] for p in ROOT_PACKAGES)
        for target in imports
        if _is_market(target) and _is_root(target) and _exists(target)
    ]
    assert not offenders, "app, worker, cli and models are composition roots; nothing else imports them:\n" + "\n".join(
        sorted(offenders)
    )


def test_the_market_kernel_imports_no_domain() -> None:
    offenders = []
    for module, imports in _market_modules().items():
        parts = _parts(module)
        if len(parts) != 1 or parts[0] not in KERNEL_MODULES:
            continue
        offenders += [f"{module} → {t}" for t in imports if _is_market(t) and _exists(t) and _domain(t) is not None]
    assert not offenders, "\n".join(sorted(offenders))


def test_market_imports_no_other_service() -> None:
    offenders = [
        f"{module} → {target}"
        for module, imports in _market_modules().items()
        for target in imports
        if target.startswith("services.") and not _is_market(target)
    ]
    assert not offenders, "\n".join(sorted(offenders))


def test_the_kernel_imports_no_service() -> None:
    offenders = [
        f"{_module_name(path)} → {target}"
        for path in _files(ROOT / "shared")
        for target in _imports(path)
        if target == "services" or target.startswith("services.")
    ]
    assert not offenders, "\n".join(sorted(offenders))
