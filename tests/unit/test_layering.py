"""Imports run one way: resources and pure kernels at the bottom, then the stages in the order
the data flows (ingest → hashing → dedup → splits → publish → model → inference → reviews), then
automation, the demo and the code location on top.

The imports are read from the source (``ast``), so the test sees lazy imports inside functions
too; imports under ``if TYPE_CHECKING:`` are for annotations only and do not count.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("assets", "resources")

# Pure kernels every stage may use: no Dagster, nothing from a stage.
KERNELS = (
    "assets.decode",
    "assets.tables",
    "assets.metadata",
    "assets.ordered",
    "assets.run_tags",
    "assets.plots",
    "assets.hashing",
    "assets.hashing.engine",
    "assets.hashing.gray",
    "assets.hashing.jpeg",
    "assets.hashing.kernels",
    "assets.classifier",
    "assets.demo.collection",
    "assets.demo.benchmark",
    "assets.demo.digits",
)
STAGES = (
    "assets.ingest",
    "assets.hashing",
    "assets.dedup",
    "assets.splits",
    "assets.publish",
    "assets.model",
    "assets.inference",
    "assets.reviews",
)
# On top: automation (jobs, run helpers), then the code location, then the demo that runs it.
TOP = ("assets.automation", "assets.definitions", "assets.demo")
DAGSTER = ("dagster", "dagster_dbt", "dagster_azure")


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def layer(module: str) -> tuple[int, str]:
    """(rank, name) of a module: a module may import only modules of a lower or equal rank."""
    if _within(module, "resources"):
        return 0, "resources"
    if module in KERNELS or any(_within(module, k) for k in KERNELS if k != "assets.hashing"):
        return 1, "pure kernels"
    for rank, stage in enumerate(STAGES, start=2):
        if _within(module, stage):
            return rank, stage
    if module == "assets":
        return 1, "pure kernels"
    for rank, package in enumerate(TOP, start=len(STAGES) + 2):
        if _within(module, package):
            return rank, package
    raise AssertionError(f"{module} belongs to no layer: place it in tests/unit/test_layering.py")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(source: str) -> list[tuple[int, str]]:
    """(line, module) of every import that runs, at module level or inside a function."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from assets.splits import quality`` imports the module assets.splits.quality,
            # ``from assets.tables import RAW_IMAGES`` the module assets.tables.
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            submodules = [name for name in names if name in PROJECT_MODULES]
            found.extend((node.lineno, name) for name in submodules or [node.module])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return found


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            modules[module_name(path)] = path
    return modules


PROJECT_MODULES = frozenset(project_modules())


def _internal(imported: str, modules: dict[str, Path]) -> str | None:
    """The project module an import names, or None for third-party ones and names of objects."""
    return imported if imported in modules else None


def upward_imports(modules: dict[str, Path]) -> list[str]:
    problems = []
    for module, path in modules.items():
        rank, name = layer(module)
        for line, imported in imports_of(path.read_text()):
            target = _internal(imported, modules)
            if target is None:
                continue
            target_rank, target_name = layer(target)
            if target_rank > rank:
                problems.append(
                    f"{module} (line {line}) imports {target} ({name} may not import {target_name})"
                )
    return problems


def test_every_import_runs_downward():
    assert upward_imports(project_modules()) == []


def test_an_upward_import_is_caught(tmp_path):
    """The test above can fail: a kernel that reaches into a stage is reported."""
    modules = project_modules()
    bad = tmp_path / "decode.py"
    bad.write_text(modules["assets.decode"].read_text() + "\nfrom assets.model import train\n")
    modules["assets.decode"] = bad
    problems = upward_imports(modules)
    assert len(problems) == 1
    assert "imports assets.model.train (pure kernels may not import assets.model)" in problems[0]


def _reaches(module: str, modules: dict[str, Path], forbidden: tuple[str, ...]) -> list[str]:
    """A chain of project imports from ``module`` to a forbidden package, or []."""
    seen: set[str] = set()
    stack = [(module, [module])]
    while stack:
        current, chain = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        for _, imported in imports_of(modules[current].read_text()):
            if imported.split(".")[0] in forbidden:
                return [*chain, imported]
            target = _internal(imported, modules)
            if target is None:
                continue
            # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
            parts = target.split(".")
            for end in range(1, len(parts) + 1):
                package = ".".join(parts[:end])
                if package in modules:
                    stack.append((package, [*chain, package]))
    return []


def pure_modules(modules: dict[str, Path]) -> list[str]:
    """Modules whose docstring's first line says they are pure."""
    pure = []
    for module, path in modules.items():
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        if "pure" in doc.split("\n\n")[0].lower():
            pure.append(module)
    return sorted(pure)


@pytest.mark.parametrize("module", pure_modules(project_modules()))
def test_a_pure_module_does_not_reach_dagster(module):
    assert _reaches(module, project_modules(), DAGSTER) == []
