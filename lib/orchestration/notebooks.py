"""The notebook series: which notebooks, which parameters each takes, executing them with papermill."""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import nbformat
import papermill
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.utils import run_sync
from traitlets import default

from lib.contracts.params import load_params
from lib.contracts.paths import REPO_ROOT

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
SERIES: tuple[str, ...] = ("01_bronze.ipynb", "02_silver.ipynb", "03_gold.ipynb")
KERNEL = "python3"
STORED_OUTPUTS_PARAMS = REPO_ROOT / "params" / "ci.yaml"


class NotebookFailed(RuntimeError):
    """A notebook of the series raised; the message names the notebook, the cell and the error."""


class EncryptedKernelManager(AsyncKernelManager):
    """A kernel manager that gives each kernel CurveZMQ keys when its kernelspec supports them.

    The kernel then encrypts what it sends over its local TCP sockets, and ipykernel no longer
    warns, for every notebook, that it is "running over TCP without encryption".
    """

    @default("transport_encryption")
    def _transport_encryption_default(self) -> str:
        return "auto"


@dataclasses.dataclass(frozen=True)
class ExecutedNotebook:
    name: str
    output: Path
    seconds: float


def declared_parameters(notebook: Path) -> dict[str, Any]:
    """The names and default values of a notebook's `parameters` cell."""
    inspected = papermill.inspect_notebook(str(notebook))
    return {name: ast.literal_eval(spec["default"]) for name, spec in inspected.items()}


def parameters_for(notebook: Path, values: Mapping[str, Any]) -> dict[str, Any]:
    """The subset of the run's parameters that the notebook declares."""
    declared = declared_parameters(notebook)
    return {name: values[name] for name in declared if name in values}


def execute(
    notebook: Path,
    output: Path,
    parameters: Mapping[str, Any],
    progress_bar: bool = True,
    kernel: AsyncKernelManager | None = None,
) -> ExecutedNotebook:
    """Execute one notebook with papermill; a failing cell raises NotebookFailed naming it.

    With `kernel` (see `shared_kernel`), the notebook runs in that kernel and leaves it running.
    """
    started = time.monotonic()
    engine_options = {"kernel_manager_class": EncryptedKernelManager} if kernel is None else {"km": kernel}
    try:
        papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters=dict(parameters),
            kernel_name=KERNEL,
            cwd=str(notebook.parent),
            progress_bar=progress_bar,
            **engine_options,
        )
    except papermill.PapermillExecutionError as error:
        raise NotebookFailed(
            f"{notebook.name} failed in cell {error.cell_index} (execution count {error.exec_count}): "
            f"{error.ename}: {error.evalue.splitlines()[0] if error.evalue else ''}\n"
            f"The executed notebook with the full traceback is {output}"
        ) from None
    return ExecutedNotebook(notebook.name, output, time.monotonic() - started)


@contextlib.contextmanager
def shared_kernel() -> Iterator[AsyncKernelManager]:
    """One kernel for several notebooks in turn, shut down at the end.

    The notebooks then share one Python process and one Spark session (`build_spark` returns the
    active one), so the JVM starts and warms up once instead of once per notebook.
    """
    kernel = EncryptedKernelManager(kernel_name=KERNEL)
    try:
        yield kernel
    finally:
        if kernel.has_kernel:
            run_sync(kernel.shutdown_kernel)(now=True)


def call_in_kernel(kernel: AsyncKernelManager, module: str, function: str, arguments: list[str]) -> tuple[int, str]:
    """Call `module.function(arguments)` in a running kernel: its return value (an exit code) and its stderr.

    What the call prints on stdout is written to this process's stdout as it comes; an exception
    it raises raises NotebookFailed naming the call.
    """
    client = kernel.client()
    client.start_channels()
    stderr: list[str] = []

    def output(message: dict[str, Any]) -> None:
        content = message["content"]
        if message["msg_type"] == "stream":
            if content["name"] == "stdout":
                sys.stdout.write(content["text"])
                sys.stdout.flush()
            else:
                stderr.append(content["text"])

    call = f"{module}.{function}({arguments!r})"
    try:
        run_sync(client.wait_for_ready)(timeout=60)
        reply = run_sync(client.execute_interactive)(
            f"import {module}\n_lakehouse_exit_code = {call}", store_history=False,
            user_expressions={"code": "_lakehouse_exit_code"}, output_hook=output,
        )
    finally:
        client.stop_channels()
    content = reply["content"]
    if content["status"] != "ok":
        raise NotebookFailed(f"{call} failed in the series' kernel: {content.get('ename')}: {content.get('evalue')}")
    return int(content["user_expressions"]["code"]["data"]["text/plain"]), "".join(stderr)


def series_kernel(one_kernel: bool) -> contextlib.AbstractContextManager[AsyncKernelManager | None]:
    """The kernel a series of notebooks runs in: one shared kernel, or None (a fresh kernel per notebook)."""
    return shared_kernel() if one_kernel else contextlib.nullcontext()


def add_kernel_options(parser: argparse.ArgumentParser) -> None:
    """`--kernel-per-notebook` and `--one-kernel` (the default), into `args.one_kernel`."""
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--kernel-per-notebook", dest="one_kernel", action="store_false",
                        help="run each notebook in a kernel of its own, as JupyterLab does (a JVM start per notebook)")
    choice.add_argument("--one-kernel", dest="one_kernel", action="store_true",
                        help="run the notebooks in one kernel, so the JVM starts and warms up once (the default)")
    parser.set_defaults(one_kernel=True)


def kernel_line(one_kernel: bool) -> str:
    return "in one kernel" if one_kernel else "a kernel per notebook"


def strip_run_cells(executed: Path, target: Path) -> None:
    """Save an executed notebook's outputs over the source notebook, without papermill's additions.

    The injected-parameters cell and execution metadata go; the source's own parameters cell,
    with the default values, stays.
    """
    notebook = nbformat.read(executed, as_version=4)
    notebook.cells = [cell for cell in notebook.cells if "injected-parameters" not in cell.metadata.get("tags", [])]
    for cell in notebook.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    notebook.metadata.pop("papermill", None)
    nbformat.write(notebook, target)


def scratch_overrides(scratch: Path) -> dict[str, Any]:
    """Parameters that point a run at a scratch folder, as the notebook tests do."""
    return {"lake_dir": str(scratch / "lake"), "landing_dir": str(scratch / "landing"), "run_id": "stored-outputs"}


def refresh_stored_outputs(params_file: Path = STORED_OUTPUTS_PARAMS) -> None:
    """Re-execute the series on the small parameter set and store its outputs in the notebooks."""
    with tempfile.TemporaryDirectory(prefix="lakehouse-notebooks-") as folder:
        scratch = Path(folder)
        values = load_params(params_file, scratch_overrides(scratch)).as_dict()
        for name in SERIES:
            source = NOTEBOOK_DIR / name
            executed = execute(source, scratch / name, parameters_for(source, values))
            strip_run_cells(executed.output, source)
            print(f"{name}: outputs stored ({executed.seconds:.1f} s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.orchestration.notebooks", description=__doc__)
    parser.add_argument("--refresh", action="store_true",
                        help=f"re-execute the notebooks on {STORED_OUTPUTS_PARAMS.name} and store their outputs")
    args = parser.parse_args(argv)
    if args.refresh:
        try:
            refresh_stored_outputs()
        except NotebookFailed as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
