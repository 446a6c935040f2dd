"""Each layer's run reads top-down: its steps in its own module, calling down into contracts, transforms and the lake."""

from __future__ import annotations

import ast
import builtins

import pytest

from lib.contracts.paths import REPO_ROOT

LAYERS = REPO_ROOT / "lib" / "layers"
BELOW = ("lib.contracts", "lib.synthetic", "lib.transforms", "lib.lake")


def module_names(tree: ast.Module) -> dict[str, str]:
    """Local name -> what it stands for (`module.name`), from the module's `from ... import ...` lines."""
    names = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


@pytest.mark.parametrize("layer", ["bronze", "silver", "gold"])
def test_a_layer_run_calls_its_own_steps_or_down_never_a_peer(layer: str) -> None:
    path = LAYERS / f"{layer}.py"
    tree = ast.parse(path.read_text())
    own = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    imported = {name: target for name, target in module_names(tree).items() if target.startswith("lib.")}
    outside = {name for name, target in module_names(tree).items() if not target.startswith("lib.")}
    run = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == f"run_{layer}")
    assert tree.body.index(run) == min(i for i, node in enumerate(tree.body) if isinstance(node, ast.FunctionDef)), (
        f"{path.name}: run_{layer} is not the first function: the module should read top-down"
    )
    for node in ast.walk(run):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        if isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name):
            target = imported.get(function.value.id)
            if target is not None:
                assert target.startswith(BELOW) or target == "lib.layers.summary", (
                    f"{path.name}:{node.lineno}: run_{layer} calls {function.value.id}.{function.attr} of {target}"
                )
        elif isinstance(function, ast.Name) and function.id in imported:
            target = imported[function.id]
            assert target.startswith(BELOW) or target.startswith("lib.layers.summary."), (
                f"{path.name}:{node.lineno}: run_{layer} calls {function.id} from {target}, a peer"
            )
        elif isinstance(function, ast.Name):
            assert function.id in own | outside or hasattr(builtins, function.id), (
                f"{path.name}:{node.lineno}: run_{layer} calls {function.id}, defined neither here nor below"
            )
