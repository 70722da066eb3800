"""The shape of the package: no product module reaches into more than `MAX_PACKAGES` of convrec's
packages, and the orchestrator stays short. (The layers themselves are `lint-imports`' contract in
pyproject.toml.)

A "package" is a first-level name under convrec/ (core, data, llm, parse, rank, retrieve, chat,
serve, eval; a top-level module such as cli.py is one too). A module's own package does not count;
every `import` and `from ... import` counts, inside functions and under TYPE_CHECKING too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "convrec"
MAX_PACKAGES = 4
RECOMMENDER_MAX_LINES = 200
MODULE_MAX_LINES = 500  # README "Contributing": split a longer module along its seams


def package_of(path: Path) -> str:
    parts = path.relative_to(ROOT).parts
    return parts[0] if len(parts) > 1 else path.stem


def packages_in(source: str, own: str) -> set[str]:
    """The convrec packages a module's `source` imports from, its `own` left out."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("convrec"):
            parts = (node.module or "").split(".")
            found |= {parts[1]} if len(parts) > 1 else {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("convrec.")}
    return found - {own}


MODULES = sorted(p for p in ROOT.rglob("*.py") if "prompts" not in p.parts)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_from_more_than_four_packages(path):
    used = packages_in(path.read_text(encoding="utf-8"), package_of(path))
    assert len(used) <= MAX_PACKAGES, f"{path.relative_to(ROOT)} imports from {len(used)} packages: {sorted(used)}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_longer_than_the_cap(path):
    lines = path.read_text(encoding="utf-8").count("\n")
    assert lines <= MODULE_MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines"


def test_the_counting_sees_every_kind_of_import():
    source = (
        "from convrec.core import errors\nimport convrec.data.catalog\nfrom typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from convrec.retrieve.index import ItemIndex\n"
        "def f():\n    from convrec import llm\n    from convrec.chat.session import Session\n"
    )
    assert packages_in(source, "chat") == {"core", "data", "retrieve", "llm"}
    assert package_of(ROOT / "chat" / "relax.py") == "chat" and package_of(ROOT / "cli.py") == "cli"


def test_the_recommender_is_a_short_sequence_of_stage_calls():
    lines = (ROOT / "chat" / "recommender.py").read_text(encoding="utf-8").count("\n")
    assert lines <= RECOMMENDER_MAX_LINES, f"chat/recommender.py has {lines} lines"


def test_every_package_is_listed_for_setuptools():
    """A wheel holds only the packages pyproject.toml lists: a new package left out imports in a checkout
    and fails once installed."""
    import tomllib

    listed = set(
        tomllib.loads((ROOT.parent / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"]
    )
    found = {".".join(p.parent.relative_to(ROOT.parent).parts) for p in ROOT.rglob("__init__.py")}
    assert found - listed == set()
