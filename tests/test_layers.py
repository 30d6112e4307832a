"""The package is layered (ARCHITECTURE.md): a module imports only from its own layer or below,
at module level or inside a function alike (a deferred import that dodges a cycle is an upward
import too).

Lowest first: the foundations at the package root (settings, errors, keys, ids, messages,
normalize, …) < ``store`` < ``record`` < ``ops`` < ``scoring``, ``spam`` < ``pipeline`` <
``review`` < ``evaluation`` < ``api`` < ``ui`` < ``moderation.app`` (and ``moderation.asgi``) <
``workers`` < ``cli`` (and ``python -m moderation``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Lowest first; a module may import its own rank or lower.
RANKS: dict[str, float] = {
    "moderation.client": -1,  # the client library: imports nothing else of ours
    "moderation": 0,  # foundations at the package root
    "moderation.store": 1,
    "moderation.record": 1.5,
    "moderation.ops": 2,
    "moderation.scoring": 3,
    "moderation.spam": 3,
    "moderation.pipeline": 4,
    "moderation.review": 5,
    "moderation.evaluation": 6,
    "moderation.api": 7,
    "moderation.ui": 8,
    "moderation.app": 9,
    "moderation.asgi": 9,
    "workers": 9.5,
    "moderation.cli": 10,
    "moderation.__main__": 10,
}


def rank(module: str) -> float:
    """The rank of the longest layer name that ``module`` starts with."""
    best = ""
    for layer in RANKS:
        if (module == layer or module.startswith(layer + ".")) and len(layer) > len(best):
            best = layer
    return RANKS[best]


def modules() -> list[tuple[str, Path]]:
    out = []
    for package in ("moderation", "workers"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out.append((name, path))
    return out


def imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            # ``from moderation import ui`` imports the module ``moderation.ui``.
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return [n for n in names if n.split(".")[0] in ("moderation", "workers")]


@pytest.mark.parametrize(("module", "path"), modules(), ids=lambda v: str(v))
def test_no_upward_import(module: str, path: Path) -> None:
    mine = rank(module)
    upward = sorted({n for n in imports(path) if _is_module(n) and rank(n) > mine})
    assert not upward, f"{module} (rank {mine}) imports from above: {upward}"


def _is_module(name: str) -> bool:
    """Whether ``name`` is a module or package of ours (not ``package.SomeName``)."""
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from moderation.ui import render\n")
    assert "moderation.ui.render" in imports(source)
    assert rank("moderation.ui.render") > rank("moderation.store.comments")
