"""The layering of the package, checked from the imports (every import, even inside functions).

* infrastructure (http, db, queue, jobs, storage, geo) imports no feature and no entry point;
* location and broadband never import each other;
* no feature imports site, admin or monitor (the top layers), nor an entry point.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import netatlas

SRC = Path(netatlas.__file__).resolve().parent

INFRASTRUCTURE = ("http", "db", "queue", "jobs", "storage", "geo", "clock")
FEATURES = ("location", "broadband", "export", "datamap")
TOP = ("site", "admin", "monitor")
ENTRY_POINTS = ("app", "cli", "demo", "features")


def module_imports(path: Path, module: str) -> set[str]:
    """The ``netatlas`` modules (or packages) ``module``, at ``path``, imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            found.add(base)
            if "." not in base:  # from netatlas import site: the name is the module
                found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "netatlas" or name.startswith("netatlas.")}


def package_imports(root: Path) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        graph[module] = module_imports(path, module)
    return graph


def area(module: str) -> str:
    """``netatlas.location.submit.parse`` -> ``location``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _within(name: str, areas: Iterable[str]) -> bool:
    return area(name) in areas


def violations(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """Every import that breaks a layering rule, as ``importer -> imported: rule``."""
    found = []
    for module, imported in sorted(graph.items()):
        for name in sorted(imported):
            if area(name) == area(module):
                continue
            rule = None
            if _within(module, INFRASTRUCTURE) and _within(name, FEATURES + TOP + ENTRY_POINTS):
                rule = "infrastructure imports no feature"
            elif {area(module), area(name)} == {"location", "broadband"}:
                rule = "location and broadband never import each other"
            elif _within(module, FEATURES) and _within(name, TOP + ENTRY_POINTS):
                rule = "no feature imports site, admin, monitor or an entry point"
            elif _within(module, TOP) and _within(name, ENTRY_POINTS):
                rule = "only entry points import entry points"
            if rule:
                found.append(f"{module} -> {name}: {rule}")
    return found


def test_the_package_keeps_its_layers() -> None:
    assert violations(package_imports(SRC)) == []


def test_every_module_is_in_a_known_layer() -> None:
    known = {"", "settings", "version", *INFRASTRUCTURE, *FEATURES, *TOP, *ENTRY_POINTS}
    assert {area(module) for module in package_imports(SRC)} <= known


def test_a_planted_violation_is_found(tmp_path: Path) -> None:
    root = tmp_path / "netatlas"
    (root / "http").mkdir(parents=True)
    (root / "location").mkdir()
    (root / "broadband").mkdir()
    for package in (root, root / "http", root / "location", root / "broadband"):
        (package / "__init__.py").write_text("")
    (root / "http" / "errors.py").write_text("from netatlas.location import keys\n")
    (root / "location" / "keys.py").write_text(
        "def f():\n    from netatlas.broadband.survey import x\n"
    )
    (root / "broadband" / "survey.py").write_text(
        "from .. import site\nfrom ..http import errors\n"
    )

    found = violations(package_imports(root))

    assert found == [
        "netatlas.broadband.survey -> netatlas.site: "
        "no feature imports site, admin, monitor or an entry point",
        "netatlas.http.errors -> netatlas.location: infrastructure imports no feature",
        "netatlas.location.keys -> netatlas.broadband.survey: "
        "location and broadband never import each other",
    ]
