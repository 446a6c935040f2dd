"""Benchmark: the pipeline against a plain PySpark job and the DuckDB reference, a new day against a rebuild, the dashboard.

    .venv/bin/python -m bench.run --rows 1000000 5000000 --out docs/benchmarks.md

For each size: generate 31 days of REES46-shaped input (rows / 31 events a day) with the project's
generator; run the three layers in one process on one Spark session, the plain PySpark job
(`bench/plain_spark.py`) and the DuckDB reference on the same files, and the notebook series through
`python -m lib.orchestration.runner`; then add a 32nd day and time
the incremental run of the three layers against a rebuild of all 32 days into a fresh lake, then a
run that finds nothing new (in one process, and through `python -m lib.orchestration.schedule`); then
time each dashboard page on the resulting lake. Every step runs in its own process, with its peak
memory sampled. Writes a markdown report and a PNG chart. A benchmark, not a test: the figures
are only worth something on a machine that is doing nothing else.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import time
from pathlib import Path

from bench import report
from bench.measure import Measured, load_average, machine, measure
from lib.contracts.params import load_params
from lib.contracts.paths import REPO_ROOT
from lib.synthetic.generator import generate_landing

BENCH_PAGES = REPO_ROOT / "tests" / "dashboard" / "bench_pages.py"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000], help="input sizes in events")
    parser.add_argument("--days", type=int, default=31, help="days of input before the new day")
    parser.add_argument("--work-dir", type=Path, default=REPO_ROOT / ".cache" / "bench",
                        help="where input, lakes and logs go (wiped per size)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "benchmarks.md", help="markdown report")
    parser.add_argument("--chart", type=Path, help="PNG chart (default: --out with .png)")
    parser.add_argument("--params", type=Path, default=REPO_ROOT / "params" / "default.yaml",
                        help="pipeline parameters (Spark master, partitions, memory, generator seed and faults)")
    parser.add_argument("--dashboard-runs", type=int, default=3, help="warm reruns per dashboard page")
    parser.add_argument("--skip-plain-spark", action="store_true", help="skip the plain PySpark job")
    parser.add_argument("--skip-runner", action="store_true", help="skip the run through python -m lib.orchestration.runner")
    parser.add_argument("--skip-incremental", action="store_true", help="skip the new day and the rebuild")
    parser.add_argument("--skip-dashboard", action="store_true", help="skip the dashboard pages")
    parser.add_argument("--from-results", type=Path, metavar="JSON",
                        help="measure nothing: write the report from a results.json of an earlier run")
    return parser.parse_args(argv)


def say(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", flush=True)


def as_dict(measured: Measured) -> dict:
    return {
        "process_seconds": measured.seconds,
        "peak_jvm_mib": measured.peak_jvm_mib,
        "peak_python_mib": measured.peak_python_mib,
        "peak_total_mib": measured.peak_total_mib,
        **measured.result,
    }


def worker(step: str, landing: Path, folder: Path, params: Path, log: Path) -> dict:
    option = "--lake" if step == "pipeline" else "--work"
    command = [sys.executable, "-m", "bench.workers", step, "--landing", str(landing), option, str(folder),
               "--params", str(params)]
    return as_dict(measure(command, log))


def set_options(overrides: dict[str, object]) -> list[str]:
    """The `--set KEY=VALUE` options of the runner's and the scheduler's command lines."""
    return [option for key, value in overrides.items() for option in ("--set", f"{key}={value}")]


def runner(landing: Path, lake: Path, runs_dir: Path, params: Path, log: Path, one_kernel: bool = False) -> dict:
    """The notebook series end to end with a kernel (and a JVM) per notebook, or in one kernel as `make run` runs it."""
    overrides = {"lake_dir": lake, "landing_dir": landing, "generate_input": "false"}
    command = [sys.executable, "-m", "lib.orchestration.runner", "--params", str(params), "--runs-dir", str(runs_dir), "--no-progress"]
    command.append("--one-kernel" if one_kernel else "--kernel-per-notebook")
    return as_dict(measure(command + set_options(overrides), log))


def scheduled_run(landing: Path, lake: Path, runs_dir: Path, params: Path, log: Path) -> dict:
    """`python -m lib.orchestration.schedule` as cron starts it, over what has landed, without its maintenance."""
    overrides = {"lake_dir": lake, "landing_dir": landing, "generate_input": "false", "maintenance_every_runs": 0}
    command = [sys.executable, "-m", "lib.orchestration.schedule", "--params", str(params), "--runs-dir", str(runs_dir),
               "--no-progress"]
    return as_dict(measure(command + set_options(overrides), log))


def dashboard_pages(lake: Path, runs: int, log: Path) -> dict:
    """Cold and warm script-run seconds of each page (tests/dashboard/bench_pages.py)."""
    measured = measure([sys.executable, str(BENCH_PAGES), str(lake), "--runs", str(runs)], log)
    pages = {}
    for line in log.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] in report.DASHBOARD_PAGES:
            pages[parts[0]] = {"cold": float(parts[1]), "warm": float(parts[2])}
    return {"pages": pages, "process_seconds": measured.seconds, "peak_total_mib": measured.peak_total_mib}


def bench_size(rows: int, args: argparse.Namespace) -> dict:
    """Every measurement for one input size."""
    params = load_params(args.params)
    folder = args.work_dir / f"rows-{rows}"
    shutil.rmtree(folder, ignore_errors=True)
    landing, logs = folder / "landing", folder / "logs"
    shape = {
        "start_date": dt.date.fromisoformat(params.generator_start_date),
        "events_per_day": max(1, rows // args.days),
        "seed": params.generator_seed,
        "fault_rate": params.generator_fault_rate,
    }
    started = time.perf_counter()
    generated = generate_landing(landing, days=args.days, **shape)
    result: dict = {"rows": rows, "days": args.days, "events_per_day": shape["events_per_day"],
                    "lines": generated.rows, "generate_seconds": time.perf_counter() - started}
    say(f"{rows:,} rows: {generated.rows:,} lines in {args.days} files in {result['generate_seconds']:.0f} s")

    result["pipeline"] = worker("pipeline", landing, folder / "lake", args.params, logs / "pipeline.log")
    say(f"  pipeline: {report.layer_seconds(result['pipeline'])}")
    result["reference"] = worker("reference", landing, folder / "duckdb", args.params, logs / "reference.log")
    ratio = result["pipeline"]["seconds"]["total"] / result["reference"]["seconds"]["total"]
    say(f"  DuckDB:   {report.layer_seconds(result['reference'])}; pipeline / DuckDB = {ratio:.1f}x")
    if result["pipeline"]["counts"] != result["reference"]["counts"]:
        say(f"  row counts differ: pipeline {result['pipeline']['counts']}, DuckDB {result['reference']['counts']}")
    if not args.skip_plain_spark:
        result["plain_spark"] = worker("plain_spark", landing, folder / "plain-spark", args.params,
                                       logs / "plain-spark.log")
        ratio = result["pipeline"]["seconds"]["total"] / result["plain_spark"]["seconds"]["total"]
        say(f"  plain PySpark: {report.layer_seconds(result['plain_spark'])}; pipeline / plain PySpark = {ratio:.1f}x")
        if result["plain_spark"]["counts"] != result["pipeline"]["counts"]:
            say(f"  row counts differ: pipeline {result['pipeline']['counts']}, "
                f"plain PySpark {result['plain_spark']['counts']}")

    if not args.skip_runner:
        result["runner"] = runner(landing, folder / "lake-runner", folder / "runs", args.params, logs / "runner.log")
        result["runner_one_kernel"] = runner(landing, folder / "lake-runner-one-kernel", folder / "runs", args.params,
                                             logs / "runner-one-kernel.log", one_kernel=True)
        say(f"  python -m lib.orchestration.runner: {result['runner']['process_seconds']:.1f} s; "
            f"--one-kernel: {result['runner_one_kernel']['process_seconds']:.1f} s")
    if not args.skip_incremental:
        generate_landing(landing, days=args.days + 1, **shape)
        result["incremental"] = worker("pipeline", landing, folder / "lake", args.params, logs / "incremental.log")
        result["rebuild"] = worker("pipeline", landing, folder / "lake-rebuild", args.params, logs / "rebuild.log")
        say(f"  new day:  {report.layer_seconds(result['incremental'])}; "
            f"full rebuild of {args.days + 1} days: {report.layer_seconds(result['rebuild'])}")
        result["nothing_new"] = worker("pipeline", landing, folder / "lake", args.params, logs / "nothing-new.log")
        result["nothing_new_schedule"] = scheduled_run(landing, folder / "lake", folder / "runs-scheduled", args.params,
                                                       logs / "nothing-new-schedule.log")
        say(f"  nothing new: {report.layer_seconds(result['nothing_new'])}; "
            f"python -m lib.orchestration.schedule: {result['nothing_new_schedule']['process_seconds']:.1f} s")
    if not args.skip_dashboard:
        result["dashboard"] = dashboard_pages(folder / "lake", args.dashboard_runs, logs / "dashboard.log")
        say(f"  dashboard: {len(result['dashboard']['pages'])} pages timed")
    return result


def write_report(context: dict, results: list[dict], out: Path, chart: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    report.write_chart(results, chart)
    written = report.markdown(results, context, chart.name)
    out.write_text(report.merge_sections(written, out.read_text()) if out.exists() else written)
    say(f"wrote {out} and {chart}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.work_dir = args.work_dir.resolve()
    chart = args.chart or args.out.with_suffix(".png")
    if args.from_results:
        saved = json.loads(args.from_results.read_text())
        write_report(saved, saved["results"], args.out, chart)
        return 0
    command = "python -m bench.run " + " ".join(sys.argv[1:] if argv is None else argv)
    context = {"machine": machine(), "load_before": load_average(), "command": command,
               "params": load_params(args.params).as_dict()}
    results = []
    for rows in args.rows:
        results.append(bench_size(rows, args))
        (args.work_dir / "results.json").write_text(json.dumps({**context, "results": results}, indent=2, default=str))
    context["load_after"] = load_average()
    (args.work_dir / "results.json").write_text(json.dumps({**context, "results": results}, indent=2, default=str))
    write_report(context, results, args.out, chart)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
