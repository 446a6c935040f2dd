"""Run the notebook series in order with one parameter file: `python -m lib.orchestration.runner`.

Each run gets an id shared by its three notebooks (and their rows in `pipeline_runs`); the
executed notebooks are kept in `runs/<run_id>/`. The three run in one kernel, so the JVM starts
once; `--kernel-per-notebook` gives each a fresh kernel, as JupyterLab does. A bad parameter (including a landing folder that
cannot be read or a lake folder that cannot be written) is a one-line error before any notebook
runs, exit code 2; a failing notebook stops the run with a message naming the notebook and the
cell, exit code 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from deltalake import DeltaTable
from jupyter_client.manager import AsyncKernelManager

from lib.contracts import paths, tables
from lib.contracts.params import ParameterError, check_paths, load_params, parse_overrides
from lib.contracts.paths import REPO_ROOT
from lib.lake import ledger
from lib.orchestration import notebooks


def run_series(
    params_file: Path,
    overrides: dict[str, object],
    runs_dir: Path,
    progress_bar: bool = True,
    one_kernel: bool = True,
    then: Callable[[AsyncKernelManager | None], object] | None = None,
) -> Path:
    """Execute the three notebooks in order; return the folder of the executed notebooks.

    They run in one kernel (one JVM, one Spark session) unless `one_kernel` is false, which gives
    each notebook a fresh kernel, as JupyterLab does. `then`, when given, is called once the three
    have succeeded, with the kernel they ran in (None with a kernel per notebook) before it stops.
    """
    params = load_params(params_file, overrides)
    check_paths(params)
    run_id = params.run_id or ledger.new_run_id()
    values = {**params.as_dict(), "run_id": run_id}
    output_dir = runs_dir / run_id
    output_dir.mkdir(parents=True, exist_ok=True)
    print(f"run {run_id}: {params_file} -> lake {params.path('lake_dir')}, {notebooks.kernel_line(one_kernel)}",
          flush=True)
    with notebooks.series_kernel(one_kernel) as kernel:
        for position, name in enumerate(notebooks.SERIES, start=1):
            source = notebooks.NOTEBOOK_DIR / name
            print(f"[{position}/{len(notebooks.SERIES)}] {name}", flush=True)
            executed = notebooks.execute(
                source, output_dir / name, notebooks.parameters_for(source, values), progress_bar, kernel
            )
            print(f"[{position}/{len(notebooks.SERIES)}] {name} done in {executed.seconds:.1f} s", flush=True)
        if then is not None:
            then(kernel)
    return output_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.orchestration.runner", description=__doc__)
    parser.add_argument("--params", type=Path, default=REPO_ROOT / "params" / "default.yaml",
                        help=f"parameter file ({paths.PARAMS_RULE})")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one parameter, e.g. --set generator_days=7 (repeatable)")
    parser.add_argument("--runs-dir", type=paths.local_path, default="runs",
                        help=f"where executed notebooks go (default: runs; {paths.RULE})")
    parser.add_argument("--no-progress", action="store_true", help="no per-cell progress bar")
    notebooks.add_kernel_options(parser)
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        output_dir = run_series(
            args.params, parse_overrides(args.overrides), args.runs_dir, not args.no_progress, args.one_kernel
        )
    except ParameterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except notebooks.NotebookFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"run finished in {time.monotonic() - started:.1f} s; executed notebooks in {output_dir}")
    lake = load_params(args.params, parse_overrides(args.overrides)).path("lake_dir")
    if isinstance(lake, Path):
        print("\n".join(table_lines(lake)))
        shown = lake.relative_to(REPO_ROOT) if lake.is_relative_to(REPO_ROOT) else lake
        print(f"dashboard on this lake: make dashboard LAKE={shown}")
    return 0


def table_lines(lake: Path) -> list[str]:
    """One line per table of the lake: its rows and Delta version, read from the Delta log without a JVM."""
    lines = []
    for name in tables.TABLES:
        if (lake / name / "_delta_log").is_dir():
            table = DeltaTable(lake / name)
            lines.append(f"{name}: {table.count():,} rows, version {table.version()}")
    return lines


if __name__ == "__main__":
    sys.exit(main())
