"""The fake shares no code with koppel, and the client none with the fake."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_sandbox_imports_nothing_of_koppel():
    for name in ("ccvshop.py", "generator.py"):
        found = imported(ROOT / "sandbox" / name)
        assert not found & {"domain", "application", "projections", "workers", "web"}, name
        assert "flask" in found or "random" in found  # the parse saw real imports


def test_client_does_not_import_the_fake():
    found = imported(ROOT / "workers" / "connectors" / "ccvshop.py")
    assert "sandbox" not in found and "application" in found
