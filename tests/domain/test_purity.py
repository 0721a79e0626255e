"""care/domain is pure: it imports only the standard library and itself (architecture.md)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import sys
from pathlib import Path

import care.domain

DOMAIN = Path(care.domain.__file__).resolve().parent


def _modules():
    yield "care.domain", DOMAIN / "__init__.py"
    for info in pkgutil.walk_packages([str(DOMAIN)], prefix="care.domain."):
        spec = importlib.util.find_spec(info.name)
        yield info.name, Path(spec.origin)


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: inside care.domain
                continue
            yield node.lineno, node.module or ""


def _allowed(name: str) -> bool:
    top = name.split(".")[0]
    return top in sys.stdlib_module_names or name == "care.domain" or name.startswith("care.domain.")


def test_domain_has_modules():
    names = [name for name, _ in _modules()]
    assert "care.domain.settings" in names and "care.domain.vin" in names


def test_every_domain_module_imports():
    for name, _ in _modules():
        importlib.import_module(name)


def test_domain_imports_only_the_standard_library():
    offenders = []
    for _name, path in _modules():
        for lineno, imported in _imports(path):
            if not _allowed(imported):
                offenders.append(f"{path.relative_to(DOMAIN.parent.parent)}:{lineno} imports {imported}")
    assert not offenders, "care/domain must stay pure:\n" + "\n".join(offenders)


def test_the_check_itself_catches_offenders(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom flask import g\nimport sqlalchemy.orm\nfrom care.models import User\nfrom . import x\n")
    found = [m for _, m in _imports(bad) if not _allowed(m)]
    assert found == ["flask", "sqlalchemy.orm", "care.models"]
