"""What months of daily runs do to the lake, and what maintenance gives back.

    python -m bench.maintenance [--days 60] [--events-per-day 2000] [--work DIR] [--out FILE.json]

Generates `--days` small daily landing files and runs the series once per day, each run selecting
its day's file with `landing_glob` as `lib.orchestration.schedule --date` does, then measures:
per table its data files, bytes and `_delta_log` files; the time to read silver (`events_cleaned`,
grouped by day); and the time to rebuild gold from it (`gold_full_rebuild`, on a copy of the lake).
Then `lib.ops.maintain` runs once, timed, and the same figures are taken again. Everything runs in
this process on one Spark session, as the scheduler's one kernel runs the series; each timed read and
rebuild is the median of `--repeats`. Prints a Markdown report and one `BENCH_RESULT {json}` line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from bench.measure import load_average, machine, print_result
from lib import layers
from lib.contracts import tables
from lib.contracts.params import PipelineParams, load_params
from lib.contracts.paths import REPO_ROOT
from lib.lake import storage
from lib.lake.session import build_spark
from lib.ops import maintain
from lib.synthetic.generator import generate_landing

DEFAULT_PARAMS = REPO_ROOT / "params" / "ci.yaml"
START = dt.date(2019, 10, 1)


def day_params(params_file: Path, work: Path, **overrides: object) -> PipelineParams:
    values = {"lake_dir": str(work / "lake"), "landing_dir": str(work / "landing"), "generate_input": False}
    return load_params(params_file, {**values, **overrides})


def daily_runs(spark: SparkSession, params_file: Path, work: Path, days: int, events_per_day: int) -> list[float]:
    """One run of the three layers per generated day, oldest first; each run's seconds."""
    generate_landing(work / "landing", days=days, start_date=START, events_per_day=events_per_day)
    seconds = []
    for offset in range(days):
        day = START + dt.timedelta(days=offset)
        params = day_params(params_file, work, landing_glob=f"*{day.isoformat()}*", run_id=f"day-{offset + 1:03d}")
        started = time.perf_counter()
        for run in (layers.run_bronze, layers.run_silver, layers.run_gold):
            run(spark, params)
        seconds.append(time.perf_counter() - started)
        print(f"day {offset + 1}/{days} ({day}): {seconds[-1]:.1f} s", flush=True)
    return seconds


def table_files(spark: SparkSession, lake: Path) -> dict[str, dict[str, int]]:
    """Per existing table: the data files and bytes of its latest version, and the files in its Delta log."""
    found = {}
    for name in tables.TABLES:
        if not storage.table_exists(spark, lake, name):
            continue
        detail = spark.sql(f"DESCRIBE DETAIL delta.`{storage.table_path(lake, name)}`").first()
        on_disk = [path for path in (lake / name).rglob("*") if path.is_file()]
        log_files = sum(1 for path in on_disk if "_delta_log" in path.parts)
        found[name] = {"files": detail["numFiles"], "bytes": detail["sizeInBytes"], "log_files": log_files,
                       "disk_bytes": sum(path.stat().st_size for path in on_disk)}
    return found


def median_seconds(action, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def read_silver(spark: SparkSession, lake: Path) -> None:
    """A reader's whole-table query: every day's events, purchases and revenue."""
    events = storage.read_table(spark, lake, tables.EVENTS_CLEANED.name)
    purchases = F.col("event_type") == "purchase"
    events.groupBy("event_date").agg(
        F.count("*"), F.sum(purchases.cast("int")), F.sum(F.when(purchases, F.col("price")))
    ).collect()


def rebuild_gold(spark: SparkSession, params_file: Path, work: Path, label: str) -> None:
    """Gold rebuilt from all of silver on a copy of the lake, so that the measured lake stays as it was."""
    copy = work / f"rebuild-{label}"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(work / "lake", copy / "lake")
    layers.run_gold(spark, day_params(params_file, copy, gold_full_rebuild=True, run_id=f"rebuild-{label}"))
    shutil.rmtree(copy)


def measure_lake(spark: SparkSession, params_file: Path, work: Path, label: str, repeats: int) -> dict:
    lake = work / "lake"
    return {
        "tables": table_files(spark, lake),
        "read_silver_seconds": median_seconds(lambda: read_silver(spark, lake), repeats),
        "rebuild_gold_seconds": median_seconds(lambda: rebuild_gold(spark, params_file, work, label), repeats),
    }


def run(spark: SparkSession, params_file: Path, work: Path, days: int, events_per_day: int, repeats: int) -> dict:
    """The daily runs, the figures before maintenance, maintenance, the figures after."""
    seconds = daily_runs(spark, params_file, work, days, events_per_day)
    before = measure_lake(spark, params_file, work, "before", repeats)
    started = time.perf_counter()
    summary = maintain.maintain(spark, day_params(params_file, work, run_id="maintenance"))
    maintenance_seconds = time.perf_counter() - started
    after = measure_lake(spark, params_file, work, "after", repeats)
    rows = storage.read_table(spark, work / "lake", tables.EVENTS_CLEANED.name).count()
    return {
        "days": days, "events_per_day": events_per_day, "repeats": repeats, "silver_rows": rows,
        "daily_run_seconds": {"first": seconds[0], "median": statistics.median(seconds), "last": seconds[-1]},
        "before": before, "after": after, "maintenance_seconds": maintenance_seconds,
        "files_compacted": sum(table.files_compacted for table in summary.tables),
        "files_vacuumed": sum(table.files_vacuumed for table in summary.tables),
        "retention_hours": load_params(params_file, {}).maintenance_retention_hours,
    }


def markdown(result: dict, context: dict) -> str:
    before, after = result["before"], result["after"]
    daily = result["daily_run_seconds"]
    lines = [
        f"{result['days']} daily runs of {result['events_per_day']:,} generated events ({result['silver_rows']:,} rows "
        f"in events_cleaned), one process and one Spark session; {context['cpu']}, {context['memory']}, "
        f"{context['date']}, load {context['load_before']} before and {context['load_after']} after.",
        "",
        f"A daily run took {daily['first']:.1f} s on day 1, {daily['median']:.1f} s at the median and "
        f"{daily['last']:.1f} s on day {result['days']}. Maintenance took {result['maintenance_seconds']:.1f} s: "
        f"it compacted {result['files_compacted']:,} files and vacuumed {result['files_vacuumed']:,}"
        + (f" (the files it replaced are younger than the {result['retention_hours']}-hour retention: they stay "
           "on disk, unreferenced, until a maintenance after that)." if result["files_vacuumed"] == 0 else "."),
        "",
        "| table | data files before | after | bytes before | after | log files before | after | "
        "folder bytes before | after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, figures in before["tables"].items():
        later = after["tables"][name]
        lines.append(" | ".join([f"| {name}", *(f"{figures[key]:,} | {later[key]:,}" for key in
                                                 ("files", "bytes", "log_files", "disk_bytes"))]) + " |")
    lines += [
        "",
        "| medians of {repeats} | before maintenance | after | after ÷ before |".format(repeats=result["repeats"]),
        "|---|---:|---:|---:|",
    ]
    for key, label in (("read_silver_seconds", "read silver (by day)"), ("rebuild_gold_seconds", "rebuild gold")):
        lines.append(f"| {label} | {before[key]:.2f} s | {after[key]:.2f} s | {after[key] / before[key]:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.maintenance", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--events-per-day", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS, help="parameter file (default params/ci.yaml)")
    parser.add_argument("--work", type=Path, help="folder for the landing files and the lake (default: a temporary one)")
    parser.add_argument("--out", type=Path, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-maintenance-"))
    if (work / "lake").exists():
        parser.error(f"--work {work} holds a lake already; give an empty folder")
    context = {**machine(), "load_before": load_average()}
    params = load_params(args.params, {})
    spark = build_spark(params.spark_master, "bench-maintenance", params.shuffle_partitions, params.driver_memory)
    result = run(spark, args.params, work, args.days, args.events_per_day, args.repeats)
    context["load_after"] = load_average()
    print(markdown(result, context))
    print_result({**result, "context": context})
    if args.out:
        args.out.write_text(json.dumps({**result, "context": context}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
