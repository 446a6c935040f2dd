"""Cached, read-only loaders for the lake's Delta tables, read without a JVM (delta-rs).

Every loader takes a `TableRef` (path, table id, Delta version). `st.cache_data` keys on it,
so a new pipeline run (a new version, or a rebuilt table with a new id) is read on the next
interaction, and nothing is re-read while the table is unchanged. Only the caller's columns
are read. The lake folder comes from the command line or the environment, never from the UI.

A lake in object storage (`--lake s3a://bucket/lake`) is read with the storage options that
`storage_options` takes from the environment (the AWS_* variables S3A can use too).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import streamlit as st
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from dashboard import metrics
from lib.contracts import paths, tables

# The tables the pages read, by the registry's names.
CUSTOMERS = tables.CUSTOMER_METRICS.name
PRODUCTS = tables.PRODUCT_PERFORMANCE.name
DAILY_SALES = tables.DAILY_SALES_SUMMARY.name
FUNNEL = tables.CONVERSION_FUNNEL.name
DQ_METRICS = tables.DQ_METRICS.name
QUARANTINE = tables.EVENTS_QUARANTINE.name
RUNS = tables.PIPELINE_RUNS.name

# Many small results per table version; old versions age out.
_CACHE = {"show_spinner": False, "max_entries": 64}


class TableRef(NamedTuple):
    """One state of one Delta table: what the caches key on."""

    name: str
    path: str
    table_id: str
    version: int


class LakeURI(str):
    """A lake in object storage, by its URI (`s3a://bucket/lake`), offering what the pages ask of a lake folder."""

    def is_dir(self) -> bool:
        """True: object storage has no folders, so a lake there is missing only table by table."""
        return True


def lake_dir(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Path | LakeURI:
    """The lake: `--lake PATH` after `--` on the command line, else `$LAKE_DIR`, else `lake`.

    A relative path is from the project root, as the pipeline's `lake_dir` is (lib/contracts/paths.py), so
    `--lake lake` shows the lake `python -m lib.orchestration.runner` wrote, from whichever folder either started.
    A URI (`s3a://bucket/lake`) names a lake in object storage.
    """
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    value = environ.get("LAKE_DIR") or "lake"
    for i, arg in enumerate(argv):
        if arg == "--lake" and i + 1 < len(argv):
            value = argv[i + 1]
            break
        if arg.startswith("--lake="):
            value = arg.removeprefix("--lake=")
            break
    resolved = paths.resolve(value)
    return LakeURI(resolved) if isinstance(resolved, str) else resolved


def deltalake_uri(path: str) -> str:
    """A table's location as deltalake names it: Hadoop's s3a:// is its s3://; any other as it is."""
    return "s3://" + path.removeprefix("s3a://") if path.startswith("s3a://") else path


def storage_options(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """deltalake's S3 options from the environment: endpoint, credentials, region, plain http for an http:// endpoint.

    The variables are the AWS SDK's (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    AWS_SESSION_TOKEN, AWS_REGION), so one set serves the pipeline's S3A (its environment credential
    provider) and the dashboard. Without credentials deltalake looks for an instance role itself.
    """
    environ = os.environ if environ is None else environ
    options = {key: environ[key] for key in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                             "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_ALLOW_HTTP") if environ.get(key)}
    if "AWS_REGION" not in options and environ.get("AWS_DEFAULT_REGION"):
        options["AWS_REGION"] = environ["AWS_DEFAULT_REGION"]
    if options.get("AWS_ENDPOINT_URL", "").startswith("http://"):
        options.setdefault("AWS_ALLOW_HTTP", "true")
    return options


def open_table(path: str, version: int | None = None) -> DeltaTable:
    """The Delta table at a local path or a URI, with the storage options a URI needs."""
    if "://" not in path:
        return DeltaTable(path, version=version)
    return DeltaTable(deltalake_uri(path), version=version, storage_options=storage_options())


def table_ref(lake: Path | LakeURI, name: str) -> TableRef | None:
    """The table's current state, or None while the pipeline has not committed it.

    Opening the log is cheap (milliseconds) and done on every script run, so a new run is seen
    at once. The table id changes when the lake is rebuilt from scratch, where versions restart at 0.
    """
    if isinstance(lake, Path):
        path = str(lake / name)
        if not (lake / name / "_delta_log").is_dir():
            return None
    else:
        path = f"{lake.rstrip('/')}/{name}"
    try:
        table = open_table(path)
        return TableRef(name, path, table.metadata().id, table.version())
    except (DeltaError, OSError):
        return None


@st.cache_resource(show_spinner=False, max_entries=32)
def read_arrow(ref: TableRef, columns: tuple[str, ...] | None = None) -> pa.Table:
    """The table's rows at `ref`'s version, only `columns` (all when None).

    Arrow tables are immutable, so one copy is shared by every session (`cache_resource`)
    instead of being copied on each hit as `cache_data` does: that copy would cost more than
    the page on a large `customer_metrics`. Results handed to pages go through `cache_data`.
    """
    table = open_table(ref.path, version=ref.version)
    if columns is not None:
        present = set(table.schema().to_arrow().names)
        columns = tuple(c for c in columns if c in present)
    # scan() also reads tables with deletion vectors or column mapping, which Spark may write.
    rows = pa.table(table.scan(columns=list(columns) if columns is not None else None))
    return rows.cast(pa.schema([field.with_type(_plain_type(field.type)) for field in rows.schema]))


def _plain_type(kind: pa.DataType) -> pa.DataType:
    """The scan's view types as classic ones, which every pyarrow and pandas kernel takes."""
    if pa.types.is_string_view(kind):
        return pa.string()
    if pa.types.is_binary_view(kind):
        return pa.binary()
    if pa.types.is_map(kind):
        return pa.map_(_plain_type(kind.key_type), _plain_type(kind.item_type))
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_list_view(kind):
        return pa.list_(kind.value_field.with_type(_plain_type(kind.value_type)))
    if pa.types.is_struct(kind):
        return pa.struct([field.with_type(_plain_type(field.type)) for field in kind])
    return kind


@st.cache_data(**_CACHE)
def read(ref: TableRef, columns: tuple[str, ...] | None = None) -> pd.DataFrame:
    """`read_arrow` as pandas, for the small gold tables."""
    return read_arrow(ref, columns).to_pandas()


# --- Filter bounds -------------------------------------------------------------------------


@st.cache_data(**_CACHE)
def date_bounds(daily: TableRef) -> tuple[date, date] | None:
    """First and last `event_date` of the daily summary, None when it has no rows."""
    dates = read_arrow(daily, ("event_date",)).column("event_date")
    if len(dates) == 0 or dates.null_count == len(dates):
        return None
    bounds = pc.min_max(dates)
    return bounds["min"].as_py(), bounds["max"].as_py()


@st.cache_data(**_CACHE)
def categories(*refs: TableRef) -> list[str]:
    """Sorted distinct `category_l1` over the given tables (`unknown` last)."""
    found: set[str] = set()
    for ref in refs:
        values = pc.unique(read_arrow(ref, ("category_l1",)).column("category_l1")).to_pylist()
        found.update(v for v in values if v is not None)
    return sorted(found, key=lambda c: (c == "unknown", c))


# --- Products ---------------------------------------------------------------------------------


def products_in(products: TableRef, categories: tuple[str, ...]) -> pd.DataFrame:
    """Every product of the chosen categories, best revenue first (for the CSV download)."""
    table = read_arrow(products)
    table = table.filter(pc.is_in(table.column("category_l1"), pa.array(categories, pa.string())))
    return table.to_pandas().sort_values(["total_revenue", "product_id"], ascending=[False, True])


@st.cache_data(**_CACHE)
def product_breakdowns(
    products: TableRef, categories: tuple[str, ...], table_rows: int, scatter_points: int
) -> tuple[int, dict[str, pd.DataFrame]]:
    """How many products the categories hold, and the small frames the products page draws."""
    table = read_arrow(products)
    chosen = table.filter(pc.is_in(table.column("category_l1"), pa.array(categories, pa.string())))
    return chosen.num_rows, metrics.product_breakdowns(chosen.to_pandas(), table_rows, scatter_points)


# --- Customers (the one gold table that grows with the number of users) ---------------------


@st.cache_data(**_CACHE)
def distinct_active_users(customers: TableRef, start: date, end: date) -> int | None:
    """Distinct users active in [start, end], or None where `customer_metrics` cannot tell.

    A user whose first or last activity falls in the range was active in it. A user active
    before and after the range may or may not have been active inside it: when there is such
    a user the exact count is unknown, and the caller falls back to summing daily users.
    """
    span = read_arrow(customers)  # the whole table is cached once for all customer views
    first, last = span.column("first_activity_date"), span.column("last_activity_date")
    start_s, end_s = pa.scalar(start, pa.date32()), pa.scalar(end, pa.date32())
    straddling = pc.and_(pc.less(first, start_s), pc.greater(last, end_s))
    if pc.any(straddling).as_py():
        return None
    overlaps = pc.and_(pc.less_equal(first, end_s), pc.greater_equal(last, start_s))
    return int(pc.sum(overlaps).as_py() or 0)


@st.cache_data(**_CACHE)
def customer_groups(customers: TableRef, by: tuple[str, ...]) -> pd.DataFrame:
    """Customers and revenue per combination of `by` columns (segment, rfm_score, churn_risk)."""
    table = read_arrow(customers).select([*by, "total_revenue"])
    grouped = table.group_by(list(by)).aggregate([("total_revenue", "count"), ("total_revenue", "sum")])
    return grouped.rename_columns([*by, "customers", "revenue"]).to_pandas()


@st.cache_data(**_CACHE)
def find_customers(
    customers: TableRef,
    user_id_prefix: str,
    segments: tuple[str, ...],
    churn_risks: tuple[str, ...],
    limit: int,
) -> tuple[int, pd.DataFrame]:
    """Customers matching the search, best revenue first: (how many match, the first `limit`).

    The search text is only compared with user ids (digits), never used as a path or query.
    """
    table = read_arrow(customers)
    conditions = []
    if user_id_prefix:
        ids = pc.cast(table.column("user_id"), pa.string())
        conditions.append(pc.starts_with(ids, user_id_prefix))
    if segments:
        conditions.append(pc.is_in(table.column("customer_segment"), pa.array(segments)))
    if churn_risks:
        conditions.append(pc.is_in(table.column("churn_risk"), pa.array(churn_risks)))
    matches = table
    if conditions:
        mask = conditions[0]
        for condition in conditions[1:]:
            mask = pc.and_(mask, condition)
        matches = table.filter(mask)
    order = pc.sort_indices(matches, [("total_revenue", "descending"), ("user_id", "ascending")])
    top = matches.take(order[:limit]) if matches.num_rows else matches
    return matches.num_rows, top.to_pandas()


# --- Quarantine -------------------------------------------------------------------------------


@st.cache_data(**_CACHE)
def quarantine_reasons(quarantine: TableRef) -> pd.DataFrame:
    """Quarantined rows per run and failed rule (a row failing two rules counts for both)."""
    table = read_arrow(quarantine, ("run_id", "quarantine_reasons"))
    reasons = table.column("quarantine_reasons")
    parents = pc.list_parent_indices(reasons)
    exploded = pa.table({"run_id": pc.take(table.column("run_id"), parents), "rule": pc.list_flatten(reasons)})
    counts = exploded.group_by(["run_id", "rule"]).aggregate([("rule", "count")])
    return counts.rename_columns(["run_id", "rule", "rows"]).to_pandas()


@st.cache_data(**_CACHE)
def quarantine_sample(quarantine: TableRef, run_id: str | None, limit: int) -> pd.DataFrame:
    """The first `limit` quarantined rows (of one run, or of all), reasons first."""
    table = open_table(quarantine.path, version=quarantine.version)
    row_filter = pc.field("run_id") == run_id if run_id is not None else None
    try:  # stops reading after `limit` rows
        rows = table.to_pyarrow_dataset().head(limit, filter=row_filter)
    except DeltaError:  # deletion vectors or column mapping: read through the engine instead
        rows = read_arrow(quarantine)
        rows = (rows.filter(row_filter) if row_filter is not None else rows).slice(0, limit)
    # Nullable integers: ids beside nulls would otherwise turn into floats and lose digits.
    sample = rows.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype(), pa.int32(): pd.Int32Dtype()}.get)
    sample = sample.drop(columns=["quarantine_reasons"], errors="ignore")
    first = [c for c in ("quarantine_reason", "source_file", "source_line", "run_id") if c in sample]
    return sample[first + [c for c in sample.columns if c not in first]]
