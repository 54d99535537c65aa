"""The layers of docs/architecture.md: imports go one way, private modules stay in their package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import airflow_provider_blip

PACKAGE = Path(airflow_provider_blip.__file__).parent
NAME = "airflow_provider_blip"
#: What each layer may import from the provider (besides itself); lower layers never import higher ones.
ALLOWED = {
    "utils": {"exceptions", "utils"},
    "hooks": {"exceptions", "utils", "hooks"},
    "jobs": {"exceptions", "utils", "hooks", "jobs"},
    "triggers": {"exceptions", "utils", "hooks", "jobs", "triggers"},
}


def imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return [n for n in names if n.startswith(NAME + ".")]


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_private_modules_are_private_to_their_package(path: Path) -> None:
    package = path.relative_to(PACKAGE).parts[:-1]
    for name in imports(path):
        parts = name.split(".")[1:]
        for depth, part in enumerate(parts):
            if part.startswith("_") and not part.startswith("__"):
                assert tuple(parts[:depth]) == package, f"{name} is private to {'.'.join(parts[:depth])}"


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_imports_go_one_way(layer: str) -> None:
    wrong = []
    for path in (PACKAGE / layer).rglob("*.py"):
        for name in imports(path):
            top = name.split(".")[1]
            if top not in ALLOWED[layer] and top != "__version__":
                wrong.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert wrong == []
