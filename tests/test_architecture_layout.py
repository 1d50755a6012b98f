"""Every domain package follows the file set docs/architecture.md names ("Domain packages").

A domain package (any package under ``services/<service>/``) has ``__init__.py`` and only modules of the common set
or of its own listed extra jobs, so a stray module fails here until it is named, with its job, in the test and the
doc. SQL is built only in ``repository.py``. The checks read the source tree; they import nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ROOT / "services"
ARCHITECTURE = ROOT / "docs" / "architecture.md"

COMMON = {"__init__", "models", "repository", "schemas", "service", "router"}
# Folders that hold files or migrations, not domain modules.
NOT_DOMAINS = {"migrations", "data", "static", "__pycache__"}

# The modules of one extra job, per domain package (docs/architecture.md lists each with its job).
EXTRA: dict[str, set[str]] = {
    "auth/organizations": {"publish"},  # version bump, audit and feed event of a change
    "auth/outbox": {"relay"},  # the auth relay
    "market/contracts": {"cli", "importing"},  # contracts CLI; bulk import
    "market/directory": {"stats_router"},  # /stats/institutions
    "market/directory_feed": {"rebuild"},  # rebuild from auth's API
    "market/listings": {"codes", "importing", "keys", "kinds"},  # patent codes; import parsing; natural key; kinds
    "market/matching": {"client", "scoring"},  # search's similar/percolate; reasons and score
    "market/notifications": {"stream"},  # Server-Sent Events
    "market/proposals": {"draft"},  # the prefilled contract of a deal
    # Code lists with labels; contract rules by version; the table registry; the declared tables.
    "market/reference": {"codes", "contract_rules", "registry", "tables"},
    "market/stats": {"cube", "export", "fold"},  # rollup shape; CSV/XLSX; folding deltas into the rollup
    "market/webhooks": {"delivery", "signing", "ssrf"},  # delivery round; signatures; URL guard
    "search/embeddings": {"embedders", "job"},  # text to vectors; the embedding job
    "search/engines": {"base", "embedded", "errors", "meili", "meili_client", "ranking"},  # interface and engines
    "search/reindex": {"client"},  # market's lists
}

# A service's own top-level modules: its app, settings and wiring, not domains.
TOP_LEVEL: dict[str, set[str]] = {
    "auth": {
        "__init__",
        "app",
        "base",
        "bootstrap",
        "cli",
        "deps",
        "models",
        "openapi_examples",
        "passwords",
        "permissions",
        "settings",
        "vocabulary",
    },
    "market": {
        "__init__",
        "app",
        "base",
        "cli",
        "concurrency",
        "models",
        "openapi_examples",
        "settings",
        "worker",
    },
    "search": {
        "__init__",
        "app",
        "base",
        "cli",
        "deps",
        "models",
        "segment",
        "settings",
        "stopwords",
    },
}

DML = {"select", "insert", "update", "delete"}


def _services() -> list[Path]:
    return sorted(p for p in SERVICES.iterdir() if p.is_dir() and p.name not in NOT_DOMAINS)


def _domains() -> list[Path]:
    found = []
    for service in _services():
        stack = [p for p in service.iterdir() if p.is_dir() and p.name not in NOT_DOMAINS]
        while stack:
            package = stack.pop()
            found.append(package)
            stack.extend(p for p in package.iterdir() if p.is_dir() and p.name not in NOT_DOMAINS)
    return sorted(found)


def _name(package: Path) -> str:
    return package.relative_to(SERVICES).as_posix()


def _modules(folder: Path) -> set[str]:
    return {p.stem for p in folder.glob("*.py")}


def test_the_tree_has_domains() -> None:
    names = {_name(p) for p in _domains()}
    assert {"auth/organizations", "market/listings", "market/stats/targets", "search/query"} <= names


@pytest.mark.parametrize("package", _domains(), ids=_name)
def test_a_domain_package_has_its_interface(package: Path) -> None:
    assert (package / "__init__.py").is_file(), f"{_name(package)} has no __init__.py (its docstring is the interface)"


@pytest.mark.parametrize("package", _domains(), ids=_name)
def test_a_domain_package_holds_only_the_common_modules_and_its_listed_extras(package: Path) -> None:
    stray = _modules(package) - COMMON - EXTRA.get(_name(package), set())
    assert not stray, (
        f"{_name(package)}: {sorted(stray)} are neither common modules nor listed extras; name each, with its job, "
        "in EXTRA here and in docs/architecture.md 'Domain packages'"
    )


@pytest.mark.parametrize("service", _services(), ids=lambda p: p.name)
def test_a_service_top_level_holds_only_its_wiring(service: Path) -> None:
    stray = _modules(service) - TOP_LEVEL.get(service.name, set())
    assert not stray, f"services/{service.name}: {sorted(stray)} belong in a domain package (or in TOP_LEVEL here)"


def test_every_listed_extra_exists() -> None:
    """A module moved or removed leaves no allowance behind."""
    gone = sorted(
        f"{domain}/{module}.py"
        for domain, modules in EXTRA.items()
        for module in modules
        if not (SERVICES / domain / f"{module}.py").is_file()
    )
    assert not gone, f"listed in EXTRA but not in the tree: {gone}"


def test_every_listed_extra_is_documented() -> None:
    section = ARCHITECTURE.read_text(encoding="utf-8").split("## Domain packages", 1)[1].split("\n## ", 1)[0]
    missing = sorted(
        f"{domain}/{module}.py"
        for domain, modules in EXTRA.items()
        for module in modules
        if f"`{module}.py`" not in section
    )
    assert not missing, f"docs/architecture.md 'Domain packages' does not name {missing}"


def _sql_builders(path: Path) -> set[str]:
    """The SQLAlchemy (or SQLModel) DML constructors a module imports or calls as ``sa.<name>``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases: set[str] = set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("sqlalchemy", "sqlmodel"):
            found |= {alias.name for alias in node.names if alias.name in DML}
        elif isinstance(node, ast.Import):
            aliases |= {
                alias.asname or alias.name.split(".")[0]
                for alias in node.names
                if alias.name.split(".")[0] in ("sqlalchemy", "sqlmodel")
            }
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in DML
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
        ):
            found.add(node.attr)
    return found


def test_sql_is_built_only_in_repositories() -> None:
    offenders = {
        path.relative_to(ROOT).as_posix(): sorted(builders)
        for path in sorted(SERVICES.rglob("*.py"))
        if "migrations" not in path.parts and path.name != "repository.py" and (builders := _sql_builders(path))
    }
    assert not offenders, f"SQL built outside a repository.py: {offenders}"
