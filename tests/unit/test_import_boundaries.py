"""The package's architecture, checked: each halfsky sub-package imports only the layers below it, and
nothing in the product imports the dev tooling (halfsky_dev), at module level or inside a function.

Layers, bottom up (each sub-package's docstring says the same): contract → config → warehouse → ingest →
orchestration, and beside orchestration the prefecture staff's front door (portal). The top-level modules are the package's entry (``__init__``) and the prefecture's command
(``validate``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "plugins" / "halfsky"

MAY_IMPORT = {
    "contract": {"contract"},
    "config": {"contract", "config"},
    "warehouse": {"contract", "config", "warehouse"},
    "ingest": {"contract", "config", "warehouse", "ingest"},
    "orchestration": {"contract", "config", "warehouse", "ingest", "orchestration"},
    "portal": {"contract", "config", "warehouse", "ingest", "portal"},
    "__init__": {"config"},
    "validate": {"contract", "config", "warehouse", "ingest"},  # warehouse: is the period still open
}


def _layer(path: Path) -> str:
    rel = path.relative_to(PACKAGE_DIR)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _halfsky_imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "halfsky":  # from halfsky import contract
                found += [(node.lineno, f"halfsky.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name.split(".")[0] in ("halfsky", "halfsky_dev")]


MODULES = sorted(PACKAGE_DIR.rglob("*.py"))


def test_every_module_has_a_layer():
    assert {_layer(path) for path in MODULES} <= set(MAY_IMPORT), "a new sub-package: give it a row in MAY_IMPORT"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE_DIR)))
def test_imports_stay_below(path):
    layer = _layer(path)
    wrong = []
    for line, name in _halfsky_imports(path):
        parts = name.split(".")
        if parts[0] == "halfsky_dev":
            wrong.append(f"line {line}: {name} (dev tooling is never imported by the product)")
        elif len(parts) > 1 and parts[1] not in MAY_IMPORT[layer]:
            wrong.append(f"line {line}: {name} ({layer} may import {sorted(MAY_IMPORT[layer])})")
    assert not wrong, f"{path.relative_to(PACKAGE_DIR)}:\n" + "\n".join(wrong)


def test_the_boundary_check_sees_a_violation(tmp_path):
    """The check itself can fail: a product module importing the dev tooling is found."""
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from halfsky_dev.services import up\n")
    assert _halfsky_imports(module) == [(2, "halfsky_dev.services")]


def test_the_image_does_not_ship_the_dev_tooling():
    repo = PACKAGE_DIR.parents[1]
    dockerfile = (repo / "Dockerfile").read_text()
    dockerignore = (repo / ".dockerignore").read_text().splitlines()
    assert "tools" not in dockerfile.replace("tools/", "").split() and "COPY --chown=airflow:0 tools" not in dockerfile
    assert "!tools/" not in dockerignore and "*" in dockerignore
