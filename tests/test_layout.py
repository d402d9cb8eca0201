"""The package map of ARCHITECTURE.md, enforced: which agent package may import which."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
AGENT = REPO / "agent"

# Each package under agent/ and the agent packages it may import (besides itself).
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "security": {"core", "config"},
    "config": {"core", "security"},
    "recognition": {"core", "config"},
    "journal": {"core", "config", "security"},
    "uplink": {"core", "config", "security", "journal"},
    "civil": {"core", "config", "journal"},
    "intake": {"core", "config", "security"},
    "service": {
        "core",
        "config",
        "security",
        "recognition",
        "journal",
        "uplink",
        "civil",
        "intake",
    },
    "cli": {
        "core",
        "config",
        "security",
        "recognition",
        "journal",
        "uplink",
        "civil",
        "intake",
        "service",
    },
}
# Single modules of another package a package may import besides its map: the
# configuration checks its plate countries against the syntaxes' own list (pure
# standard library over the format table, which imports nothing of the agent).
MODULES: dict[str, set[str]] = {"config": {"agent.recognition.syntax"}}
# Top-level modules no agent module may import, whatever the package.
FORBIDDEN_ROOTS = {"simulator", "models", "hub", "torch", "tests"}


def _imports(path: Path) -> set[str]:
    """Every module a file imports, type-checking imports included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _package(path: Path) -> str | None:
    rel = path.relative_to(AGENT).parts
    return rel[0] if len(rel) > 1 else None


def _modules() -> list[Path]:
    return sorted(AGENT.rglob("*.py"))


def test_every_module_lives_in_a_known_package() -> None:
    loose = [
        p.name
        for p in _modules()
        if _package(p) is None and p.name not in {"__init__.py", "__main__.py"}
    ]
    assert not loose, f"modules outside the package map: {loose}"
    unknown = {_package(p) for p in _modules()} - set(ALLOWED) - {None}
    assert not unknown, f"packages missing from the map: {unknown}"


def test_every_package_says_what_it_owns_and_may_import() -> None:
    for name in ALLOWED:
        doc = ast.get_docstring(ast.parse((AGENT / name / "__init__.py").read_text()))
        assert doc, f"agent/{name} has no docstring"
        assert "import" in doc, f"agent/{name}'s docstring does not state its import rule"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_imports_follow_the_package_map(path: Path) -> None:
    package = _package(path)
    for module in _imports(path):
        root = module.split(".")[0]
        assert root not in FORBIDDEN_ROOTS, f"{path.relative_to(REPO)} imports {module}"
        if root != "agent" or package is None:
            continue
        parts = module.split(".")
        target = parts[1] if len(parts) > 1 else None
        if target is None or target == package:
            continue  # the package root (__version__) or the module's own package
        if module in MODULES.get(package, set()):
            continue
        assert target in ALLOWED[package], (
            f"{path.relative_to(REPO)} ({package}) imports {module}: "
            f"{package} may import only {sorted(ALLOWED[package])}"
        )


def _runtime_imports(path: Path) -> set[str]:
    """Modules a file imports when it runs (``if TYPE_CHECKING:`` blocks left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for child in node.body for n in ast.walk(child))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@pytest.mark.parametrize("root", ["agent", "simulator", "hub", "models/train"])
def test_no_import_circles(root: str) -> None:
    files = sorted((REPO / root).rglob("*.py"))
    if not files:
        pytest.skip(f"{root}/ is not in this tree")
    modules = {_module_name(p): p for p in files}
    graph = {
        name: {m for m in _runtime_imports(path) if m in modules and m != name}
        for name, path in modules.items()
    }
    # Importing a package runs its __init__, so a package leads to its __init__'s imports.
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            pytest.fail(f"import circle: {' -> '.join(cycle)}")
