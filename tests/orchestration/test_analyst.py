"""The analyst's side: `make lab` runs the project's kernel; an interrupted notebook re-run does no harm."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse_testing import RUN_DECIMALS, Stages, assert_same_rows
from lib import layers
from lib.contracts.paths import REPO_ROOT
from lib.lake import storage
from lib.ops.compare import AUDIT_COLUMNS
from lib.orchestration import notebooks

pytestmark = pytest.mark.end_to_end  # both start processes: make and Jupyter's commands, a kernel

COMPARED_TABLES = ("events_cleaned", "events_quarantine", *layers.GOLD_TABLES)
INTERRUPT_AFTER_QUARANTINE_APPEND = """\
import os, signal
from lib.lake import storage
_append = storage.append
def _append_then_interrupt(df, lake_dir, name, *args, **kwargs):
    written = _append(df, lake_dir, name, *args, **kwargs)
    if name == "events_quarantine":
        storage.append = _append
        os.kill(os.getpid(), signal.SIGINT)  # what JupyterLab's interrupt button sends the kernel
    return written
storage.append = _append_then_interrupt
"""


def lab_command() -> list[str]:
    """The command `make lab` runs (its last recipe line), without running it."""
    # Under `make test` this make is nested: without --no-print-directory it adds "Leaving directory" lines.
    dry_run = subprocess.run(["make", "--no-print-directory", "-n", "lab"], cwd=REPO_ROOT, capture_output=True,
                             text=True, check=True)
    return shlex.split(dry_run.stdout.strip().splitlines()[-1])


def test_make_lab_opens_the_notebooks_with_the_project_kernel(tmp_path: Path) -> None:
    jupyter, *arguments = lab_command()
    assert arguments[:2] == ["lab", "notebooks"]
    # Kernels with CurveZMQ keys: no "running over TCP without encryption" warning for each one.
    assert "--KernelManager.transport_encryption=auto" in arguments
    kernel_name = nbformat.read(notebooks.NOTEBOOK_DIR / notebooks.SERIES[0], as_version=4).metadata.kernelspec.name
    specs = subprocess.run([jupyter, "kernelspec", "list", "--json"], cwd=REPO_ROOT, capture_output=True,
                           text=True, check=True)
    assert kernel_name in json.loads(specs.stdout)["kernelspecs"]

    probe = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": kernel_name, "language": "python",
                                                              "display_name": kernel_name}})
    probe.cells = [nbformat.v4.new_code_cell(
        "import sys, delta, pyspark, lib\nprint(sys.executable)\nprint(lib.__file__)\nprint(pyspark.__version__)"
    )]
    nbformat.write(probe, tmp_path / "probe.ipynb")
    subprocess.run([jupyter, "execute", "--inplace", str(tmp_path / "probe.ipynb")], cwd=REPO_ROOT,
                   capture_output=True, text=True, check=True, timeout=300)
    (printed,) = nbformat.read(tmp_path / "probe.ipynb", as_version=4).cells[0].outputs
    executable, lib_file, pyspark_version = printed.text.split()
    assert Path(executable).parent == (REPO_ROOT / jupyter).parent
    assert Path(lib_file).parent == REPO_ROOT / "lib"
    assert pyspark_version.startswith("4.")


def test_silver_interrupted_half_way_then_rerun_from_the_top_matches_a_clean_run(
    spark: SparkSession, stages: Stages, pipeline_lake: Path, tmp_path: Path
) -> None:
    """A copy of the bronze stage, then 02_silver interrupted right after its quarantine append (merge done,
    nothing recorded), then Run All of 02_silver in the same kernel, then gold: the tables equal `pipeline_lake`'s
    clean run on the same parameters (params/ci.yaml). Gold runs in this process's session; only silver, the
    notebook interrupted, runs in a kernel."""
    params = stages.copy("bronze", tmp_path, driver_memory="1g")
    values = params.as_dict()

    silver_source = notebooks.NOTEBOOK_DIR / "02_silver.ipynb"
    silver = parameterize_notebook(load_notebook_node(str(silver_source)),
                                   notebooks.parameters_for(silver_source, values))
    run_cell = next(index for index, cell in enumerate(silver.cells) if "layers.run_silver(" in cell.source)
    client = NotebookClient(silver, kernel_name=notebooks.KERNEL, timeout=1200,
                            resources={"metadata": {"path": str(notebooks.NOTEBOOK_DIR)}})
    with client.setup_kernel():
        for index in range(run_cell):
            client.execute_cell(silver.cells[index], index)
        # nbclient stores an executed cell at its index in the notebook: the hook gets its own place.
        silver.cells.insert(run_cell, nbformat.v4.new_code_cell(INTERRUPT_AFTER_QUARANTINE_APPEND))
        client.execute_cell(silver.cells[run_cell], run_cell)
        del silver.cells[run_cell]
        try:
            client.execute_cell(silver.cells[run_cell], run_cell)
        except CellExecutionError as error:
            assert error.ename == "KeyboardInterrupt", str(error)
        else:
            raise AssertionError("the silver run was not interrupted")
        interrupted = storage.read_table(spark, params.path("lake_dir"), "pipeline_runs")
        assert_same_rows(interrupted.filter(F.col("layer") == "silver").select("status"), [("failed",)])
        for index, cell in enumerate(silver.cells):
            client.execute_cell(cell, index)

    layers.run_gold(spark, params)

    for table in COMPARED_TABLES:
        rerun = storage.read_table(spark, params.path("lake_dir"), table)
        clean = storage.read_table(spark, pipeline_lake, table)
        assert_same_rows(rerun, clean, ignored=AUDIT_COLUMNS, decimals=RUN_DECIMALS)
