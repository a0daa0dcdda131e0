"""The layer rules of ``docs/architecture.md``, checked on the source: only ``recaudit/app/`` imports
Streamlit (``recaudit.cli`` may, lazily, inside ``serve``), and no core module imports the app."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "recaudit"
APP = PACKAGE / "app"
LAZY_STREAMLIT_OK = {PACKAGE / "cli.py"}  # `recaudit serve` starts Streamlit inside the command


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level?) for every import statement in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, id(node) in top))
    return found


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_walk_sees_the_whole_package() -> None:
    names = {p.relative_to(PACKAGE).as_posix() for p in _modules()}
    assert {"app/shell.py", "cli.py", "metrics/engine.py", "scoring/_topk.py"} <= names


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_only_the_app_package_imports_streamlit(path: Path) -> None:
    if APP in path.parents:
        return
    for module, top_level in _imports(path):
        if module == "streamlit" or module.startswith("streamlit."):
            assert path in LAZY_STREAMLIT_OK and not top_level, (
                f"{path.relative_to(PACKAGE)} imports {module}: Streamlit code belongs in recaudit/app/"
            )


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_core_modules_never_import_the_app(path: Path) -> None:
    if APP in path.parents:
        return
    for module, _ in _imports(path):
        assert not (module == "recaudit.app" or module.startswith("recaudit.app.")), (
            f"{path.relative_to(PACKAGE)} imports {module}: the core must not depend on the app"
        )


def test_the_check_catches_a_streamlit_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy\nfrom streamlit import session_state\n", encoding="utf-8")
    assert ("streamlit", True) in _imports(bad)
