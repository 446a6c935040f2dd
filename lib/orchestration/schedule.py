"""The scheduled run: `python -m lib.orchestration.schedule`, for cron, Airflow or any other scheduler.

One call processes what has landed (or, with `--date`, only that date's landing files), runs the
three notebooks with a named parameter file in one kernel (one JVM; `--kernel-per-notebook` gives
each its own), and keeps the executed notebooks in
`<runs-dir>/<date>/<run_id>/`: the date is the one given with `--date`, else the UTC date of the
run. After each run, succeeded or failed, only the newest `--keep` scheduled run folders stay. After
a succeeded run, `lib.ops.maintain --if-due N` compacts and vacuums the tables once
N = `maintenance_every_runs` bronze runs have succeeded since the last maintenance (0: never). It
runs in the series' kernel, whose JVM is warm; with `--kernel-per-notebook`, in a process of its
own, which starts a JVM only when maintenance is due.
A failure exits non-zero (2 for a bad parameter, 1 otherwise) with one line on stderr that names
the notebook or the parameter and the reason.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import os
import shutil
import subprocess
import sys
import time
import typing
from collections.abc import Iterator
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

from lib.contracts import paths
from lib.contracts.params import ParameterError, check_paths, load_params, parse_overrides
from lib.contracts.paths import REPO_ROOT
from lib.lake import ledger
from lib.orchestration import notebooks, runner

MARKER = ".scheduled-run"  # in each run folder this command made: its start time, for pruning
DEFAULT_DATE_GLOB = "*{date}*"
DEFAULT_KEEP = 30


@dataclasses.dataclass(frozen=True)
class ScheduledRun:
    """Where one scheduled run keeps its executed notebooks, and what it passes the runner."""

    run_id: str
    folder: Path
    overrides: dict[str, object]
    maintenance_every_runs: int = 0  # maintain after the run once this many bronze runs succeeded since the last


def landing_glob_for(date: dt.date, pattern: str = DEFAULT_DATE_GLOB) -> str:
    """The landing_glob that selects one date's files: `{date}` in the pattern becomes YYYY-MM-DD."""
    if "{date}" not in pattern:
        raise ParameterError(f"--date-glob {pattern!r}: expected a glob containing {{date}}, e.g. {DEFAULT_DATE_GLOB}")
    return pattern.replace("{date}", date.isoformat())


def plan_run(
    params_file: Path, overrides: dict[str, object], runs_dir: Path, date: dt.date | None,
    date_glob: str = DEFAULT_DATE_GLOB, now: dt.datetime | None = None,
) -> ScheduledRun:
    """The run's id, its dated folder and the runner's overrides.

    A bad parameter, an unreadable landing folder or an unwritable lake raises here, before
    anything is created.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    planned = dict(overrides)
    if date is not None:
        if "landing_glob" in overrides:
            raise ParameterError("--date and --set landing_glob both choose the landing files; give one of them")
        planned["landing_glob"] = landing_glob_for(date, date_glob)
    params = load_params(params_file, planned)
    check_paths(params)
    run_id = params.run_id or ledger.new_run_id(now)
    planned["run_id"] = run_id
    label = (date or now.date()).isoformat()
    return ScheduledRun(run_id, runs_dir / label / run_id, planned, params.maintenance_every_runs)


def scheduled_folders(runs_dir: Path) -> list[Path]:
    """The run folders this command made under runs_dir, oldest first."""
    marked = [marker.parent for marker in runs_dir.glob(f"*/*/{MARKER}")]
    return sorted(marked, key=lambda folder: ((folder / MARKER).read_text().strip(), folder.name))


def prune(runs_dir: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` scheduled run folders (and date folders left empty)."""
    folders = scheduled_folders(runs_dir)
    removed = folders[: max(len(folders) - keep, 0)]
    for folder in removed:
        shutil.rmtree(folder)
        if not any(folder.parent.iterdir()):
            folder.parent.rmdir()
    return removed


def one_line(error: BaseException) -> str:
    """An error message on one line: multi-line messages are joined with `; `."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return "; ".join(lines) or type(error).__name__


@contextlib.contextmanager
def logs_on_stdout() -> Iterator[None]:
    """Send everything written to stderr (kernels, Spark, papermill) to stdout meanwhile.

    A scheduler shows a failed job's stderr as its reason; it then holds only the error line.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(1, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def run_scheduled(
    planned: ScheduledRun, params_file: Path, runs_dir: Path, keep: int, progress_bar: bool, one_kernel: bool = True,
    set_options: list[str] | None = None,
) -> Path:
    """Execute the series into the run's folder and maintain the lake if due; prune the old folders whatever the outcome.

    `set_options` are the command's `--set` options, which maintenance takes too.
    """
    planned.folder.mkdir(parents=True, exist_ok=True)
    (planned.folder / MARKER).write_text(dt.datetime.now(dt.timezone.utc).isoformat() + "\n")

    def maintain(kernel: AsyncKernelManager | None) -> None:
        maintain_if_due(params_file, set_options or [], planned.maintenance_every_runs, kernel)

    try:
        return runner.run_series(
            params_file, planned.overrides, planned.folder.parent, progress_bar, one_kernel, then=maintain
        )
    finally:
        for folder in prune(runs_dir, keep):
            print(f"removed old run folder {folder}", flush=True)


class MaintenanceFailed(RuntimeError):
    """lib.ops.maintain, started after the run, failed; its error line says why."""


def maintain_if_due(
    params_file: Path, set_options: list[str], every: int, kernel: AsyncKernelManager | None = None
) -> bool:
    """`lib.ops.maintain --if-due every` (0: never), in `kernel` when it runs, else a process of its own; whether it
    was called.

    Its output joins the run's; a failure raises with its error line.
    """
    if every == 0:
        return False
    arguments = ["--params", str(params_file.absolute()), *(f"--set={option}" for option in set_options),
                 "--if-due", str(every)]
    sys.stdout.flush()
    if kernel is not None and kernel.has_kernel:
        print(f"maintenance: --if-due {every} in the series' kernel", flush=True)
        code, stderr = notebooks.call_in_kernel(kernel, "lib.ops.maintain", "main", arguments)
    else:
        result = subprocess.run([sys.executable, "-m", "lib.ops.maintain", *arguments], cwd=REPO_ROOT,
                                stderr=subprocess.PIPE, text=True)
        code, stderr = result.returncode, result.stderr
    if code != 0:
        sys.stdout.write(stderr)
        lines = [line for line in stderr.splitlines() if line.startswith("error:")] or ["(no error line)"]
        raise MaintenanceFailed(f"lib.ops.maintain exited {code}: {lines[-1]}")
    return True


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr, as the run's failures."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def parse_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: expected a date YYYY-MM-DD") from None


def parse_keep(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: expected a number of runs >= 1")
    return int(value)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m lib.orchestration.schedule", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", type=Path, default=REPO_ROOT / "params" / "default.yaml",
                        help=f"parameter file ({paths.PARAMS_RULE})")
    parser.add_argument("--date", type=parse_date, help="process only this date's landing files (YYYY-MM-DD)")
    parser.add_argument("--date-glob", default=DEFAULT_DATE_GLOB,
                        help=f"landing_glob for --date, {{date}} replaced by it (default {DEFAULT_DATE_GLOB})")
    parser.add_argument("--keep", type=parse_keep, default=DEFAULT_KEEP,
                        help=f"keep the executed notebooks of the newest N scheduled runs (default {DEFAULT_KEEP})")
    parser.add_argument("--runs-dir", type=paths.local_path, default="runs",
                        help=f"where executed notebooks go (default: runs; {paths.RULE})")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one parameter, e.g. --set generate_input=false (repeatable)")
    parser.add_argument("--no-progress", action="store_true", help="no per-cell progress bar")
    notebooks.add_kernel_options(parser)
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        overrides = parse_overrides(args.overrides)
        planned = plan_run(args.params, overrides, args.runs_dir, args.date, args.date_glob)
    except ParameterError as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 2
    try:
        with logs_on_stdout():
            folder = run_scheduled(
                planned, args.params, args.runs_dir, args.keep, not args.no_progress, args.one_kernel, args.overrides
            )
    except ParameterError as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 2
    except notebooks.NotebookFailed as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 1
    except Exception as error:  # a scheduler reads one line whatever failed: kernel, disk, papermill
        print(f"error: run {planned.run_id}: {type(error).__name__}: {one_line(error)}", file=sys.stderr)
        return 1
    print(f"run {planned.run_id} finished in {time.monotonic() - started:.1f} s; executed notebooks in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
