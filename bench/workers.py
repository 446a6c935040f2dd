"""The steps `bench.run` measures, each in its own process.

    python -m bench.workers pipeline --landing DIR --lake DIR [--params FILE]
    python -m bench.workers reference --landing DIR --work DIR [--params FILE]
    python -m bench.workers plain_spark --landing DIR --work DIR [--params FILE]

Each prints its seconds per layer and its row counts as one `BENCH_RESULT {json}` line.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.measure import print_result
from lib.contracts.paths import REPO_ROOT

DEFAULT_PARAMS = REPO_ROOT / "params" / "default.yaml"


def run_pipeline(landing: Path, lake: Path, params_file: Path) -> dict:
    """The three layers in one process on one Spark session, as the notebooks call them."""
    from lib import layers
    from lib.contracts.params import load_params
    from lib.lake.session import build_spark

    params = load_params(params_file, {"lake_dir": str(lake), "landing_dir": str(landing), "generate_input": False})
    started = time.perf_counter()
    spark = build_spark(params.spark_master, shuffle_partitions=params.shuffle_partitions,
                        driver_memory=params.driver_memory)
    seconds = {"spark_start": time.perf_counter() - started}
    summaries = {}
    for layer, run in (("bronze", layers.run_bronze), ("silver", layers.run_silver), ("gold", layers.run_gold)):
        started = time.perf_counter()
        summaries[layer] = run(spark, params)
        seconds[layer] = time.perf_counter() - started
    seconds["total"] = seconds["bronze"] + seconds["silver"] + seconds["gold"]
    spark.stop()
    bronze, silver = summaries["bronze"].record, summaries["silver"].record
    counts = {
        "bronze": bronze.rows_out,
        "silver": silver.rows_out,
        "quarantined": silver.rows_quarantined,
        "duplicates": silver.rows_duplicate,
    }
    return {"seconds": seconds, "counts": counts, "files_new": len(summaries["bronze"].details["files_new"])}


def run_reference_worker(landing: Path, work: Path, params_file: Path) -> dict:
    """The DuckDB reference on the same landing files, with the same max_price."""
    from bench.duckdb_reference import run_reference
    from lib.contracts.params import load_params

    params = load_params(params_file)
    reference = run_reference(landing, work, max_price=params.max_price)
    counts = {key: reference.counts[key] for key in ("bronze", "silver", "quarantined", "duplicates")}
    return {"seconds": reference.seconds, "counts": counts}


def run_plain_spark_worker(landing: Path, work: Path, params_file: Path) -> dict:
    """The plain PySpark job on the same landing files, on a session with the pipeline's master, memory and partitions."""
    from bench.plain_spark import plain_session, run_plain_spark
    from lib.contracts.params import load_params

    params = load_params(params_file)
    started = time.perf_counter()
    spark = plain_session(params.spark_master, params.shuffle_partitions, params.driver_memory)
    spark_start = time.perf_counter() - started
    plain = run_plain_spark(spark, landing, work, max_price=params.max_price)
    spark.stop()
    return {"seconds": {"spark_start": spark_start, **plain.seconds}, "counts": plain.counts}


STEPS = {"pipeline": run_pipeline, "reference": run_reference_worker, "plain_spark": run_plain_spark_worker}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workers", description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=tuple(STEPS))
    parser.add_argument("--landing", type=Path, required=True, help="folder of the landing CSV files")
    parser.add_argument("--lake", type=Path, help="lake folder (pipeline)")
    parser.add_argument("--work", type=Path, help="folder of the DuckDB file (reference) or the Parquet tables (plain_spark)")
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS, help="parameter file")
    args = parser.parse_args(argv)
    folder = args.lake if args.step == "pipeline" else args.work
    print_result(STEPS[args.step](args.landing, folder, args.params))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
