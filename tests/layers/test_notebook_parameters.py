"""Each notebook names its parameters once, in its parameters cell, and `layers.parameters` reads them back."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import pytest

from lib import layers
from lib.contracts.params import PARAMETER_NAMES, ParameterError
from lib.contracts.paths import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))


def code_cells(notebook: Path) -> list[tuple[list[str], str]]:
    cells = json.loads(notebook.read_text())["cells"]
    return [(cell["metadata"].get("tags", []), "".join(cell["source"])) for cell in cells if cell["cell_type"] == "code"]


def parameters_cell(notebook: Path) -> str:
    return next(source for tags, source in code_cells(notebook) if "parameters" in tags)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_no_cell_but_the_parameters_cell_names_a_parameter(notebook: Path) -> None:
    for tags, source in code_cells(notebook):
        if "parameters" in tags:
            continue
        named = {node.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name)} & set(PARAMETER_NAMES)
        assert not named, f"{notebook.name}: a cell after the parameters cell names {sorted(named)}; use params.<name>"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_the_parameters_cell_values_are_the_parameters(notebook: Path) -> None:
    namespace: dict[str, object] = {"json": json, "math": math, "In": [], "_": None}  # not parameters: ignored
    exec(parameters_cell(notebook), namespace)
    declared = {name for name in namespace if name in PARAMETER_NAMES}
    params = layers.parameters(namespace)
    assert declared and {name: getattr(params, name) for name in declared} == {name: namespace[name] for name in declared}


def test_a_value_injected_after_the_cell_wins_and_a_bad_one_is_a_one_line_error() -> None:
    namespace: dict[str, object] = {"lake_dir": "lake", "shuffle_partitions": 4}
    namespace["shuffle_partitions"] = 8  # as papermill's injected-parameters cell does
    assert layers.parameters(namespace).shuffle_partitions == 8
    namespace["shuffle_partitions"] = "eight"
    with pytest.raises(ParameterError) as raised:
        layers.parameters(namespace)
    message = str(raised.value)
    assert "\n" not in message and message.startswith("the notebook's parameters cell: ")
    assert "shuffle_partitions" in message and "'eight'" in message
