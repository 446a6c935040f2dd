"""nbval: the notebooks, executed on params/ci.yaml, show what their stored outputs show."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import papermill
import pytest

from lib.contracts.params import load_params
from lib.orchestration.notebooks import (
    KERNEL,
    NOTEBOOK_DIR,
    SERIES,
    STORED_OUTPUTS_PARAMS,
    parameters_for,
    scratch_overrides,
)

SANITIZE = Path(__file__).resolve().parents[1] / "nbval_sanitize.cfg"


def test_every_notebook_has_checked_cells() -> None:
    for name in SERIES:
        assert "# NBVAL_CHECK_OUTPUT" in (NOTEBOOK_DIR / name).read_text(), name


@pytest.mark.end_to_end
def test_notebooks_reproduce_their_stored_outputs(tmp_path: Path) -> None:
    """Inject the small parameter set with papermill, then let nbval re-execute and compare.

    nbval's cells are one notebook's steps in order: pytest-randomly, which shuffles a run's tests, is kept out.
    """
    prepared = tmp_path / "notebooks"
    prepared.mkdir()
    values = load_params(STORED_OUTPUTS_PARAMS, scratch_overrides(tmp_path)).as_dict()
    for name in SERIES:
        source = NOTEBOOK_DIR / name
        papermill.execute_notebook(
            str(source), str(prepared / name), parameters=parameters_for(source, values),
            kernel_name=KERNEL, prepare_only=True,
        )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "--sanitize-with", str(SANITIZE),
         "-p", "no:cacheprovider", "-p", "no:randomly", "-q", *[str(prepared / name) for name in SERIES]],
        cwd=prepared, capture_output=True, text=True, timeout=1800,
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert "failed" not in result.stdout.splitlines()[-1]
