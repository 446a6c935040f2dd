"""The data dictionary: every table of a lake with its columns, comments, partitioning, lineage and rules.

    python -m lib.ops.datadocs --lake <dir> --out docs/data_dictionary.md           write it
    python -m lib.ops.datadocs --lake <dir> --out docs/data_dictionary.md --check   is it current?
    python -m lib.ops.datadocs --lake <dir> --apply-comments                        comment an older lake

It is generated from the tables' real Delta schemas (column comments included) and partition
columns, so it says what the lake holds; the column comments are the descriptions of the table
registry `lib/contracts/tables.py`, written by the pipeline, and the registry gives each table's
layer, lineage and key. A column without a comment is an error.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from pathlib import Path

from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from lib.contracts import paths, schemas, tables
from lib.contracts.params import load_params
from lib.contracts.paths import REPO_ROOT
from lib.contracts.schemas import column_description
from lib.lake import storage
from lib.lake.session import build_spark, running_session, settings
from lib.transforms import quality

DEFAULT_PARAMS = REPO_ROOT / "params" / "default.yaml"
DEFAULT_OUT = REPO_ROOT / "docs" / "data_dictionary.md"
# Columns named in the one-line error; a lake written before comments existed lacks them all.
MAX_NAMED = 10

LINEAGE_TEXT = """Bronze appends the new landing files to `events_raw`; silver reads the bronze rows appended since
its last run (change feed), inserts the valid new events into `events_cleaned` (MERGE on the
deduplication key) and appends the rows failing a `drop` rule to `events_quarantine`; a quarantine
replay (`python -m lib.ops.replay`) moves the rows that pass changed rules into `events_cleaned` and
records every evaluation in `quarantine_history`. Gold reads the events `events_cleaned` gained
since its last run (change feed) and updates the dates, users and products they touch (or rebuilds
from all of `events_cleaned`). Bronze and silver append their measurements to `dq_metrics`; every
layer's run appends its row to `pipeline_runs`."""

METRICS: dict[str, str] = {
    "duplicate_rate": "duplicates removed (within the batch and against silver) / rows deduplicated, in percent",
    "quality_score": "rows passing every rule / rows evaluated, in percent (value column); target > 99",
}


@dataclasses.dataclass(frozen=True)
class TableDoc:
    """A table as the lake holds it, its schema (None when absent) and partition columns, with the registry's account."""

    name: str
    layer: str
    built_from: str
    holds: str
    schema: T.StructType | None
    partition_columns: tuple[str, ...] = ()
    key: tuple[str, ...] = ()


def lineage_diagram() -> str:
    """The lineage as a mermaid flowchart, one subgraph per layer, drawn from the registry's `built_from` edges."""
    lines = ["```mermaid", "flowchart LR"]
    for layer in tables.LAYERS:
        lines.append(f"    subgraph {layer.capitalize()}")
        for table in tables.by_layer(layer):
            node = f"{table.name}[({table.name})]"
            lines += [f"        {_edge(upstream)} {node}" for upstream in table.built_from] or [f"        {node}"]
        lines.append("    end")
    return "\n".join(lines + ["```"])


def _edge(upstream: tables.Upstream) -> str:
    """An edge's start: its upstream node (outside the lake: a box with its text), the arrow and its label."""
    origin = re.sub(r"\W+", "_", upstream.name) + f"[{upstream.name}]" if upstream.outside else upstream.name
    arrow = "-.->" if upstream.evaluations else "-->"
    return f"{origin} {arrow}" + (f"|{upstream.label}|" if upstream.label else "")


def _built_from(table: tables.Table) -> str:
    """The table's upstreams as the dictionary names them: a table in code font, what the edge carries in brackets."""
    return ", ".join(
        (upstream.name if upstream.outside else f"`{upstream.name}`") + (f" ({upstream.label})" if upstream.label else "")
        for upstream in table.built_from
    )


def _from_registry(table: tables.Table) -> TableDoc:
    """The registry's account of a table; for an on-demand table, the schema the pipeline would write, described."""
    contract = schemas.struct(table.columns, described=True) if table.on_demand else None
    return TableDoc(table.name, table.layer, _built_from(table), table.holds, contract, table.partitioning, table.key)


def _other_tables(spark: SparkSession, lake_dir: str | Path) -> list[str]:
    """Delta tables in a local lake folder that the dictionary does not list, so none goes unseen."""
    folder = Path(lake_dir)
    if "://" in str(lake_dir) or not folder.is_dir():
        return []
    return sorted(
        path.name for path in folder.iterdir()
        if path.is_dir() and path.name not in tables.TABLES and DeltaTable.isDeltaTable(spark, str(path))
    )


def read_tables(spark: SparkSession, lake_dir: str | Path) -> list[TableDoc]:
    """Every table of the registry, plus any other Delta table in the lake, as the lake holds it."""
    docs = [_from_registry(table) for table in tables.TABLES.values()]
    docs += [TableDoc(name, "other", "?", "A Delta table the dictionary does not know.", None)
             for name in _other_tables(spark, lake_dir)]
    read = []
    for doc in docs:
        path = storage.table_path(lake_dir, doc.name)
        if not DeltaTable.isDeltaTable(spark, path):
            read.append(doc)
            continue
        detail = DeltaTable.forPath(spark, path).detail().select("partitionColumns").first()
        schema = spark.read.format("delta").load(path).schema
        read.append(dataclasses.replace(doc, schema=schema, partition_columns=tuple(detail["partitionColumns"])))
    return read


def undescribed_columns(docs: list[TableDoc]) -> list[str]:
    """`table.column` for every column of the lake without a comment."""
    return [
        f"{table.name}.{field.name}"
        for table in docs if table.schema is not None
        for field in table.schema if not str(field.metadata.get("comment", "")).strip()
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table_section(table: TableDoc) -> list[str]:
    lines = [f"### `{table.name}` ({table.layer})", "", table.holds, ""]
    if table.schema is None:
        return lines + ["_Not in this lake._", ""]
    partitioning = ", ".join(f"`{name}`" for name in table.partition_columns) or "none"
    facts = [f"Built from: {table.built_from}."] if table.built_from else []
    facts.append(f"Partitioned by: {partitioning}.")
    if table.key:
        facts.append(f"Key: {', '.join(f'`{name}`' for name in table.key)}.")
    lines += [" ".join(facts), ""]
    lines += ["| column | type | description |", "|---|---|---|"]
    for field in table.schema:
        comment = str(field.metadata.get("comment", "")).strip() or "**no description**"
        lines.append(f"| `{field.name}` | {field.dataType.simpleString()} | {_cell(comment)} |")
    return lines + [""]


def _rules_section(rule_actions: dict[str, str]) -> list[str]:
    lines = [
        "## Rules",
        "",
        "Silver evaluates every rule on the standardized bronze rows; the condition is what a valid row",
        "meets (a null result fails). A rule's action is the parameter `rule_actions` (shown: its value in",
        "`params/default.yaml`): `drop` quarantines the failing row, `warn` keeps and counts it, `fail`",
        "stops the run before anything is written. A monitor counts the rows (or files) meeting its",
        "condition and is never acted on; a metric is computed per run. Each is one row per run in `dq_metrics`.",
        "",
        "| rule | layer | action | condition | description |",
        "|---|---|---|---|---|",
    ]
    for rule in quality.EXPECTATIONS:
        condition = rule.condition.replace("{max_price}", "max_price")
        action = rule_actions.get(rule.name, "drop")
        lines.append(f"| `{rule.name}` | silver | {action} | `{_cell(condition)}` | {_cell(rule.description)} |")
    for name, condition in quality.MONITORS.items():
        lines.append(f"| `{name}` | silver | monitor | `{_cell(condition)}` | rows meeting the condition |")
    for name, description in quality.BRONZE_MONITORS.items():
        lines.append(f"| `{name}` | bronze | monitor | | {_cell(description)} |")
    for name, description in METRICS.items():
        lines.append(f"| `{name}` | silver | metric | | {_cell(description)} |")
    return lines + [""]


def render(docs: list[TableDoc], rule_actions: dict[str, str]) -> str:
    """The data dictionary as markdown: deterministic, so a committed copy can be compared."""
    lines = [
        "# Data dictionary",
        "",
        "Generated by `make docs` (`python -m lib.ops.datadocs`) from a lake built on `params/ci.yaml`: the",
        "tables' Delta schemas, column comments and partition columns. Do not edit it by hand: the tables, their",
        "lineage, keys (the columns that identify a row) and column descriptions live in `lib/contracts/tables.py`,",
        "and the pipeline writes the descriptions as Delta column comments.",
        "How every value is computed, rule by rule and column by column, is in [definitions.md](definitions.md).",
        "",
        "## Lineage",
        "",
        lineage_diagram(),
        "",
        LINEAGE_TEXT,
        "",
        "## Tables",
        "",
    ]
    for table in docs:
        lines += _table_section(table)
    lines += _rules_section(rule_actions)
    return "\n".join(lines).rstrip("\n") + "\n"


def first_difference(committed: str, generated: str) -> str:
    """A one-line account of where the committed dictionary and the generated one first differ."""
    old, new = committed.splitlines(), generated.splitlines()
    for number, (before, after) in enumerate(zip(old, new), start=1):
        if before != after:
            section = next((line for line in reversed(new[:number]) if line.startswith("#")), "the top")
            return f"line {number} (under {section}): committed {before!r}, generated {after!r}"
    longer, what = (old, "committed") if len(old) > len(new) else (new, "generated")
    return f"line {min(len(old), len(new)) + 1}: only the {what} one has {longer[min(len(old), len(new))]!r}"


def apply_comments(spark: SparkSession, lake_dir: str | Path) -> list[str]:
    """Write each column's description as its comment where it differs; return `table.column` changed.

    Appends keep a column's existing comment (mergeSchema adds new columns only), so a lake
    created before the pipeline wrote comments gets them from here.
    """
    changed = []
    for table in read_tables(spark, lake_dir):
        for field in table.schema or []:
            text = column_description(table.name, field.name)
            if text is None or field.metadata.get("comment") == text:
                continue
            column = "`" + field.name.replace("`", "``") + "`"
            literal = text.replace("\\", "\\\\").replace("'", "\\'")
            path = storage.table_path(lake_dir, table.name).replace("`", "``")
            spark.sql(f"ALTER TABLE delta.`{path}` ALTER COLUMN {column} COMMENT '{literal}'")
            changed.append(f"{table.name}.{field.name}")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.ops.datadocs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", type=paths.resolve, required=True, help=f"the lake folder to document ({paths.RULE})")
    parser.add_argument("--out", type=paths.local_path, default=DEFAULT_OUT,
                        help=f"the markdown file (default: docs/data_dictionary.md; {paths.RULE})")
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    parser.add_argument("--apply-comments", action="store_true", help="write the descriptions as column comments")
    args = parser.parse_args(argv)
    # Called in-process, it shares the caller's running session, whatever its master and memory;
    # its few small tables take one shuffle partition, for this work only.
    spark = running_session() or build_spark("local[1]", app_name="datadocs", shuffle_partitions=1, driver_memory="1g")
    with settings(spark, {"spark.sql.shuffle.partitions": "1"}):
        return document(spark, args)


def document(spark: SparkSession, args: argparse.Namespace) -> int:
    """What the command line asks for: the comments applied, or the dictionary written or checked; the exit code."""
    if args.apply_comments:
        changed = apply_comments(spark, args.lake)
        print(f"commented {len(changed)} columns" + (f": {', '.join(changed)}" if changed else ""))
        return 0
    docs = read_tables(spark, args.lake)
    text = render(docs, load_params(DEFAULT_PARAMS).rule_actions)
    missing = undescribed_columns(docs)
    if not args.check:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"wrote {args.out}")
    if missing:
        more = len(missing) - MAX_NAMED
        named = ", ".join(missing[:MAX_NAMED]) + (f" and {more} more" if more > 0 else "")
        print(f"error: columns without a description: {named} "
              "(describe them in lib/contracts/tables.py)", file=sys.stderr)
        return 1
    committed = args.out.read_text() if args.out.exists() else ""
    if args.check and committed != text:
        print(f"error: {args.out} is not current: {first_difference(committed, text)}; run make docs",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
