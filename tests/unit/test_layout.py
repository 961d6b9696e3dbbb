"""The repository's shape: config-only platform/, SQL-only dbt/, packages resolved from here."""

import importlib
from pathlib import Path

from tests.support.services import REPO


def test_platform_folder_holds_no_python_so_the_stdlib_platform_module_is_not_shadowed():
    assert (REPO / "platform").is_dir()
    assert not list((REPO / "platform").rglob("*.py"))
    import platform

    assert hasattr(platform, "python_version"), "the stdlib platform module was shadowed"


def test_dbt_folder_holds_no_python_because_dbt_is_an_installed_namespace_package():
    ignored = {"target", "dbt_packages", "logs"}
    offenders = [
        p for p in (REPO / "dbt").rglob("*.py") if not ignored & set(p.relative_to(REPO).parts)
    ]
    assert not offenders


def test_assets_and_resources_packages_import_from_this_repository():
    for name in ("assets", "resources"):
        module = importlib.import_module(name)
        assert Path(module.__file__).resolve().parent == REPO / name
