"""Reproduce a past run: `python -m lib.ops.reproduce --lake lake --run-id <id> [--scratch DIR] [--set k=v] [--layer L]
[--one-kernel]`.

The run's succeeded layer runs are looked up in `pipeline_runs`; a scratch lake gets every table
as the run found it, as a time-travel clone with the same Delta version numbers (lib/lake/timetravel.py),
and a `pipeline_runs` of the rows finished before the run started, so each layer's incremental
logic (the last succeeded silver or gold run, the versions it read) decides as it did then.
The run's notebooks are executed there with papermill and the parameters the run recorded (bronze
on a landing folder of links to the files it ingested), as run `<id>-reproduced`; then every
table the run wrote is compared, row by row and without the audit columns (doubles within a
relative 1e-9), with the original at the version the run wrote, and each layer's ledger row with the
original's counts and versions.

Exit code 0 when everything is identical, 1 when something differs, a notebook fails, a landing
file is gone or a version the run read or wrote is gone (VACUUM deleted its files, or the log cleanup its
commit: the run is older than the lake's retention, `maintenance_retention_hours`), 2 for an unknown run, a run with no succeeded layer, a bad option or a lake on object
storage (the clone links files on a local file system).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from delta.tables import DeltaTable
from py4j.protocol import Py4JJavaError
from pyspark.errors import PySparkException
from pyspark.sql import Row, SparkSession
from pyspark.sql import functions as F

from lib.contracts import paths
from lib.contracts.params import (
    ParameterError,
    PipelineParams,
    merge_parameters,
    params_from_mapping,
    parse_overrides,
)
from lib.lake import ledger, recovery, storage, timetravel
from lib.lake.session import build_spark
from lib.layers import bronze
from lib.ops import maintain
from lib.ops.compare import compare_ledger, compare_tables
from lib.orchestration import notebooks
from lib.transforms import landing_files

LAYERS: tuple[str, ...] = ("bronze", "silver", "gold")
REPRODUCED_SUFFIX = "-reproduced"


class ReproduceError(RuntimeError):
    """The run cannot be reproduced; `exit_code` 2 for a wrong request, 1 for a missing input."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def layer_runs(spark: SparkSession, lake: Path, run_id: str) -> list[Row]:
    """The run's succeeded layer runs, the latest per notebook, in the series' order."""
    if not storage.table_exists(spark, lake, ledger.TABLE):
        raise ReproduceError(f"{lake} has no {ledger.TABLE} table: no run to reproduce", 2)
    rows = storage.read_table(spark, lake, ledger.TABLE).filter(F.col("run_id") == run_id).collect()
    if not rows:
        raise ReproduceError(f"run {run_id} is not in {lake / ledger.TABLE}", 2)
    succeeded = [row for row in rows if row["status"] == "succeeded"]
    if not succeeded:
        outcomes = ", ".join(sorted(f"{row['layer']} {row['status']}" for row in rows))
        raise ReproduceError(f"run {run_id} has no succeeded layer run ({outcomes}): nothing to reproduce", 2)
    others = sorted({row["notebook"] for row in succeeded if row["notebook"] not in notebooks.SERIES})
    if others:
        raise ReproduceError(f"run {run_id} is a {', '.join(others)} run, not a notebook of the series", 2)
    latest: dict[str, Row] = {}
    for row in sorted(succeeded, key=lambda row: row["finished_at"]):
        latest[row["notebook"]] = row
    return [latest[name] for name in notebooks.SERIES if name in latest]


def _is_commit_of(tag: dict[str, str] | None, run: Row) -> bool:
    if tag is None:
        return False
    if run["attempt_id"]:
        return tag["attempt_id"] == run["attempt_id"]
    return (tag["run_id"], tag["layer"]) == (run["run_id"], run["layer"])


def versions_found(spark: SparkSession, lake: Path, runs: list[Row]) -> dict[str, int]:
    """Each table's version as the run found it; a table the run created is left out.

    The first layer run touching a table decides: the version before its first commit (its
    commits carry its attempt id; the ledger's versions_written for untagged ones), else the
    version it read. A table the run did not touch: its latest commit before the run started.
    """
    found: dict[str, int] = {}
    for table in timetravel.delta_tables(lake):
        if table == ledger.TABLE:
            continue
        history = DeltaTable.forPath(spark, storage.table_path(lake, table)).history()
        commits = history.select("version", "timestamp", "userMetadata").collect()
        version: int | None = None
        for run in runs:
            tagged = [c["version"] for c in commits if _is_commit_of(recovery.parse_commit_tag(c["userMetadata"]), run)]
            first_write = min(tagged) if tagged else (run["versions_written"] or {}).get(table)
            if first_write is not None:
                version = first_write - 1
                break
            if table in (run["versions_read"] or {}):
                version = run["versions_read"][table]
                break
        else:
            before = [c["version"] for c in commits if _as_utc(c["timestamp"]) <= runs[0]["started_at"]]
            version = max(before, default=-1)
        if version >= 0:
            found[table] = version
    return found


def check_versions_kept(spark: SparkSession, lake: Path, runs: list[Row], versions: dict[str, int]) -> None:
    """Every version the reproduction reads (those the run found and those it wrote) can still be read.

    VACUUM deletes the files that only versions older than the retention reference, and Delta's log
    cleanup their commits; such a version is refused in one line naming the run, its date and the retention.
    """
    needed = set(versions.items())
    for run in runs:
        needed |= {(table, version) for table, version in (run["versions_written"] or {}).items()
                   if table != ledger.TABLE and storage.table_exists(spark, lake, table)}
    for table, version in sorted(needed):
        try:
            missing = timetravel.missing_files(storage.read_table(spark, lake, table, version=version).inputFiles())
            gone = f"references {len(missing)} data file(s) that VACUUM deleted" if missing else None
        except (PySparkException, Py4JJavaError):
            gone = "is no longer in its Delta log"
        if gone:
            raise ReproduceError(f"run {runs[0]['run_id']} of {runs[0]['started_at']:%Y-%m-%d} cannot be "
                                 f"reproduced: {table} version {version} {gone}; {_retention(spark, lake)}", 1)


def _retention(spark: SparkSession, lake: Path) -> str:
    """How long the lake keeps old versions, as its last maintenance run recorded it."""
    last = ledger.last_succeeded(spark, lake, maintain.LAYER)
    if last is None:
        return "no maintenance run is recorded: a VACUUM outside lib.ops.maintain deleted them"
    hours = json.loads(last["parameters"]).get("maintenance_retention_hours")
    return (f"the lake keeps {hours} hours of versions (maintenance_retention_hours of maintenance run "
            f"{last['run_id']}), and the run is older")


def build_scratch_lake(
    spark: SparkSession, lake: Path, scratch_lake: Path, runs: list[Row], versions: dict[str, int]
) -> None:
    """Clone each table at its version, check that it reads at that version, and write the ledger then.

    A clone's files are the original's (linked), so a clone that reads, at the version, has its rows: a log or
    data file it lacks fails the read or shows as another version.
    """
    for table, version in sorted(versions.items()):
        timetravel.clone_table(lake / table, scratch_lake / table, version)
        cloned = storage.table_version(spark, scratch_lake, table)
        if cloned != version:
            raise ReproduceError(f"the clone of {table} reads as version {cloned}, not version {version}", 1)
        rows = storage.read_table(spark, scratch_lake, table).count()
        print(f"cloned {table} at version {version} ({rows} rows)", flush=True)
    earlier = storage.read_table(spark, lake, ledger.TABLE).filter(F.col("finished_at") < F.lit(runs[0]["started_at"]))
    kept = earlier.count()
    if kept:
        storage.overwrite(earlier, scratch_lake, ledger.TABLE)
    print(f"pipeline_runs: the {kept} rows finished before the run started", flush=True)


def stage_landing(
    spark: SparkSession, lake: Path, bronze_run: Row, versions: dict[str, int], landing: Path,
    overrides: dict[str, Any],
) -> list[str]:
    """Link into `landing` the files bronze ingested, and those it saw but had nothing to ingest from.

    They are taken from the run's landing_dir, or the overrides' (the files moved since, a copied lake).
    A file that is refused, empty or header-only never has rows in events_raw, so each bronze run
    counts it again in its monitors: such files of the landing folder, matching the run's
    landing_glob and there before the run finished, are linked too.
    """
    params = params_from_mapping(merge_parameters(_known(json.loads(bronze_run["parameters"])), overrides))
    source = params.path("landing_dir")
    if not timetravel.is_local(source):
        raise ReproduceError(f"landing folder {source} is not local: reproduction links its files", 2)
    source = timetravel.local_path(source)
    written = (bronze_run["versions_written"] or {}).get("events_raw")
    ingested: list[str] = []
    if written is not None:
        appended = storage.read_appended_since(spark, lake, "events_raw", versions.get("events_raw", -1), written)
        ingested = sorted(row["source_file"] for row in appended.select("source_file").distinct().collect())
    missing = [name for name in ingested if not (source / name).is_file()]
    if missing:
        raise ReproduceError(
            f"{len(missing)} landing file(s) the run ingested are gone from {source}: {', '.join(missing)}", 1
        )
    ever_ingested = bronze.ingested_files(spark, lake)
    seen = [name for name in _landing_files(source, params.landing_glob)
            if name not in ever_ingested and _modified(source / name) <= bronze_run["finished_at"]]
    landing.mkdir(parents=True, exist_ok=True)
    for name in ingested + seen:
        timetravel.clone_file(source / name, landing / name)
    print(f"landing: {len(ingested)} file(s) the run ingested, {len(seen)} it saw with nothing to ingest", flush=True)
    return ingested + seen


def _landing_files(folder: Path, glob: str) -> list[str]:
    files = sorted(str(path.relative_to(folder)) for path in folder.rglob("*")
                   if path.is_file() and not path.name.startswith((".", "_")))
    return landing_files.matching(files, glob)


def _modified(path: Path) -> dt.datetime:
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc).replace(tzinfo=None)


def _as_utc(collected: dt.datetime) -> dt.datetime:
    """A collected commit timestamp (the local time of an instant) as naive UTC, as the ledger's times are."""
    return collected.astimezone(dt.timezone.utc).replace(tzinfo=None)


def _known(values: dict[str, Any]) -> dict[str, Any]:
    """The recorded parameters this version of the pipeline still knows (older runs may have more)."""
    known = {field.name for field in dataclasses.fields(PipelineParams)}
    return {key: value for key, value in values.items() if key in known}


def notebook_parameters(
    run: Row, overrides: dict[str, Any], scratch_lake: Path, landing: Path, new_run_id: str
) -> dict[str, Any]:
    """The run's recorded parameters with the overrides, pointed at the scratch lake, as one notebook takes them.

    A parameter the run did not record (it is newer than the run) takes the pipeline's default,
    as a scheduled run would, not the notebook's own default (`spark_ui` is true there).
    """
    recorded = merge_parameters(_known(json.loads(run["parameters"])), overrides)
    values = {**PipelineParams().as_dict(), **recorded, "lake_dir": str(scratch_lake), "run_id": new_run_id}
    if run["layer"] == "bronze":
        values |= {"generate_input": False, "landing_dir": str(landing), "landing_glob": ""}
    params_from_mapping(values, source=f"run {run['run_id']} {run['layer']}")
    return notebooks.parameters_for(notebooks.NOTEBOOK_DIR / run["notebook"], values)


def reproduce(
    spark: SparkSession,
    lake: Path,
    run_id: str,
    scratch: Path,
    runs_dir: Path,
    overrides: dict[str, Any],
    layers: list[str] | None = None,
    one_kernel: bool = False,
) -> bool:
    """Reproduce the run (or only some of its layers) into `scratch`; True when everything is identical.

    With `one_kernel`, the notebooks run in one kernel (one JVM) instead of a fresh kernel each.
    """
    runs = [run for run in layer_runs(spark, lake, run_id) if not layers or run["layer"] in layers]
    if not runs:
        raise ReproduceError(f"run {run_id} has no succeeded {' or '.join(layers or [])} run", 2)
    print(f"run {run_id}: reproducing {', '.join(run['layer'] for run in runs)}", flush=True)
    scratch_lake, landing, new_run_id = scratch / "lake", scratch / "landing", run_id + REPRODUCED_SUFFIX
    versions = versions_found(spark, lake, runs)
    check_versions_kept(spark, lake, runs, versions)
    build_scratch_lake(spark, lake, scratch_lake, runs, versions)
    if runs[0]["layer"] == "bronze":
        stage_landing(spark, lake, runs[0], versions, landing, overrides)
    output_dir = runs_dir / new_run_id
    output_dir.mkdir(parents=True, exist_ok=True)
    with notebooks.shared_kernel() if one_kernel else contextlib.nullcontext() as kernel:
        for run in runs:
            parameters = notebook_parameters(run, overrides, scratch_lake, landing, new_run_id)
            executed = notebooks.execute(notebooks.NOTEBOOK_DIR / run["notebook"], output_dir / run["notebook"],
                                         parameters, progress_bar=False, kernel=kernel)
            print(f"{run['notebook']} executed in {executed.seconds:.1f} s -> {executed.output}", flush=True)
    lines = compare_tables(spark, lake, scratch_lake, runs, versions, new_run_id)
    lines += compare_ledger(spark, scratch_lake, runs, new_run_id)
    for line in lines:
        print(line.text, flush=True)
    identical = all(line.identical for line in lines)
    print(f"run {run_id} {'reproduced identically' if identical else 'NOT reproduced identically'}", flush=True)
    return identical


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.ops.reproduce", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", default="lake", help=f"the lake holding the run (default: lake; {paths.RULE})")
    parser.add_argument("--run-id", required=True, help="run_id of the run in pipeline_runs")
    parser.add_argument("--scratch", type=paths.local_path,
                        help=f"folder for the scratch lake, kept (default: a temporary one; {paths.RULE})")
    parser.add_argument("--runs-dir", type=paths.local_path, default="runs",
                        help=f"where executed notebooks go (default: runs; {paths.RULE})")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="run with this parameter instead of the recorded one (repeatable)")
    parser.add_argument("--layer", dest="layers", action="append", choices=LAYERS,
                        help="reproduce only this layer's run (repeatable; default: every succeeded layer run)")
    parser.add_argument("--one-kernel", action="store_true",
                        help="run the notebooks in one kernel: the JVM starts and warms up once")
    args = parser.parse_args(argv)
    try:
        if not timetravel.is_local(args.lake):
            raise ReproduceError(
                f"lake {args.lake} is on object storage: reproduction clones tables by linking files, so it needs a "
                "local lake (copy the lake to a local folder, e.g. with aws s3 sync, and reproduce from there)", 2)
        lake = paths.local_path(timetravel.local_path(args.lake))
        overrides = parse_overrides(args.overrides)
        params_from_mapping(overrides, source="--set")
        if args.scratch is not None and args.scratch.exists() and any(args.scratch.iterdir()):
            raise ReproduceError(f"scratch folder {args.scratch} is not empty", 2)
        spark = build_spark(app_name="lakehouse-reproduce", shuffle_partitions=2, driver_memory="2g")
        scratch = args.scratch or Path(tempfile.mkdtemp(prefix=f"reproduce-{args.run_id}-"))
        try:
            identical = reproduce(
                spark, lake, args.run_id, scratch, args.runs_dir, overrides, args.layers, args.one_kernel
            )
        finally:
            if args.scratch is None:
                shutil.rmtree(scratch, ignore_errors=True)
    except (ReproduceError, ParameterError) as error:
        print(f"error: {error}", file=sys.stderr)
        return getattr(error, "exit_code", 2)
    except notebooks.NotebookFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
