"""Bronze, silver and gold of docs/definitions.md in DuckDB SQL: the single-machine reference.

This is what a user would otherwise write with DuckDB on one machine, kept apart from `lib/` (no
Spark, no shared code) so that it can check the pipeline's numbers and time them:
`duckdb_bronze`, `duckdb_silver` and `duckdb_gold` hold the three layers' SQL.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from bench import duckdb_bronze, duckdb_gold, duckdb_silver


@dataclasses.dataclass(frozen=True)
class Reference:
    """The reference's result: gold tables (Arrow), row counts, as_of_date, seconds per stage.

    Every table, bronze and silver included, stays in the DuckDB file `database`.
    """

    database: Path
    tables: dict[str, pa.Table]
    counts: dict[str, int]
    as_of_date: dt.date | None
    seconds: dict[str, float]


def connect(database: str | Path, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A connection in UTC with the bronze and silver macros."""
    con = duckdb.connect(str(database))
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    duckdb_bronze.register(con)
    duckdb_silver.register(con)
    return con


def run_reference(
    landing_dir: str | Path,
    work_dir: str | Path,
    max_price: float = 100_000.0,
    as_of_date: dt.date | str | None = None,
    threads: int | None = None,
) -> Reference:
    """Bronze, silver and gold of every file in `landing_dir`, into `work_dir/reference.duckdb`.

    Each stage ends with a checkpoint, so its time includes writing its tables to disk, as the
    pipeline's includes writing Delta tables.
    """
    files = duckdb_bronze.landing_files(Path(landing_dir))
    if not files:
        raise FileNotFoundError(f"no landing files under {landing_dir}")
    database = Path(work_dir) / "reference.duckdb"
    database.parent.mkdir(parents=True, exist_ok=True)
    for stale in (database, database.with_name(database.name + ".wal")):
        stale.unlink(missing_ok=True)
    seconds: dict[str, float] = {}
    with connect(database, threads) as con:
        started = time.perf_counter()
        duckdb_bronze.load_landing_lines(con, files)
        duckdb_bronze.load_layouts(con, files)
        duckdb_bronze.build_events_raw(con, dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
        con.execute("CHECKPOINT")
        seconds["bronze"] = time.perf_counter() - started

        started = time.perf_counter()
        duckdb_silver.build_silver(con, max_price)
        con.execute("CHECKPOINT")
        seconds["silver"] = time.perf_counter() - started

        started = time.perf_counter()
        as_of = duckdb_gold.build_gold(con, as_of_date)
        con.execute("CHECKPOINT")
        seconds["gold"] = time.perf_counter() - started
        seconds["total"] = seconds["bronze"] + seconds["silver"] + seconds["gold"]

        counts = duckdb_silver.row_counts(con)
        tables = {name: con.sql(f"SELECT * FROM {name}").to_arrow_table() for name in duckdb_gold.GOLD_TABLES}
    return Reference(database=database, tables=tables, counts=counts, as_of_date=as_of, seconds=seconds)
