"""The layout of lib/: packages by role, each importing only the packages before it; tests/ mirrors them.

The imports are read with `ast`, without importing lib's modules, so the test sees every import,
those inside functions too, and a violation is named by file, line and statement.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import lib
from lib.contracts.paths import REPO_ROOT

LIB = REPO_ROOT / "lib"
TESTS = REPO_ROOT / "tests"
# lib's packages, lowest first: a module imports only from its own package and the packages before it.
PACKAGES = ("contracts", "synthetic", "transforms", "lake", "layers", "orchestration", "ops")
# The folders of tests/ that are not a package of lib: the dashboard, the benchmark and the project as a whole.
OTHER_TEST_FOLDERS = ("dashboard", "bench", "project")
# Modules that import nothing of Spark: importing lib and validating a parameter file needs no Spark.
WITHOUT_SPARK = ("lib", "lib.contracts.rules", "lib.contracts.params", "lib.contracts.paths")


def lib_modules() -> list[Path]:
    return sorted(LIB.rglob("*.py"))


def package_of(module: Path) -> str:
    """The package of lib a module is in: the first folder of its path under lib/ ("" for lib/__init__.py)."""
    parts = module.relative_to(LIB).parts
    return parts[0] if len(parts) > 1 else ""


def module_name(module: Path) -> str:
    parts = ("lib", *module.relative_to(LIB).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(node: ast.Import | ast.ImportFrom, importer: Path) -> list[str]:
    """The dotted names a statement imports, relative imports resolved; `from a import b` gives `a.b`."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module_name(importer).split(".")
        if importer.name != "__init__.py":
            package = package[:-1]
        base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
    return [f"{base}.{alias.name}" for alias in node.names]


def lib_imports(module: Path) -> Iterator[tuple[str, str, str]]:
    """Each import of a lib package in the module: (file:line, the statement, the package imported)."""
    source = module.read_text()
    for node in ast.walk(ast.parse(source, filename=str(module))):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        for name in imported_names(node, module):
            parts = name.split(".")
            if parts[0] == "lib" and len(parts) > 1 and parts[1] in PACKAGES:
                where = f"{module.relative_to(REPO_ROOT)}:{node.lineno}"
                yield where, ast.get_source_segment(source, node) or name, parts[1]


def upward_imports(modules: list[Path]) -> list[str]:
    """Every import of a package that comes after the importing module's own, as `file:line: statement (why)`."""
    found = []
    for module in modules:
        own = package_of(module)
        if not own:
            continue
        for where, statement, imported in lib_imports(module):
            if PACKAGES.index(imported) > PACKAGES.index(own):
                found.append(f"{where}: {statement} ({imported} comes after {own})")
    return found


def test_every_module_of_lib_is_in_one_of_its_packages() -> None:
    assert lib.PACKAGES == PACKAGES
    flat = [str(module.relative_to(REPO_ROOT)) for module in lib_modules()
            if package_of(module) not in PACKAGES and module != LIB / "__init__.py"]
    assert flat == [], f"modules outside the packages {', '.join(PACKAGES)}: {flat}"


def test_no_module_imports_a_package_listed_after_its_own() -> None:
    found = upward_imports(lib_modules())
    assert found == [], "imports against the order " + " < ".join(PACKAGES) + ":\n" + "\n".join(found)


def test_the_transforms_import_nothing_of_the_lake() -> None:
    """The transforms are DataFrame to DataFrame: reading and writing the lake is lib.lake's, called by the layers."""
    found = [f"{where}: {statement}" for module in lib_modules() if package_of(module) == "transforms"
             for where, statement, imported in lib_imports(module) if imported == "lake"]
    assert found == [], "\n".join(found)


@pytest.mark.end_to_end  # a Python of its own: this one has pyspark loaded
def test_importing_lib_and_the_parameters_loads_no_pyspark() -> None:
    code = f"import sys, {', '.join(WITHOUT_SPARK)}; print('pyspark' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False", f"importing {', '.join(WITHOUT_SPARK)} loaded pyspark"


def test_the_folders_of_tests_mirror_the_packages_of_lib() -> None:
    folders = {path.name for path in TESTS.iterdir() if path.is_dir() and not path.name.startswith((".", "__"))}
    assert sorted(folders - {*PACKAGES, *OTHER_TEST_FOLDERS}) == [], "folders of tests/ that are no package of lib"
    assert sorted(set(PACKAGES) - folders) == [], "packages of lib without their folder in tests/"
