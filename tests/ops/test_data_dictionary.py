"""The data dictionary: committed and current, every column described, the check's failures."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lib.contracts import schemas, tables
from lib.contracts.params import load_params
from lib.lake import storage
from lib.ops import datadocs


def copy_tables(lake: Path, target: Path, *names: str) -> Path:
    for name in names:
        shutil.copytree(lake / name, target / name)
    return target


def comments(spark: SparkSession, lake: Path, name: str) -> dict[str, str | None]:
    schema = storage.read_table(spark, lake, name).schema
    return {field.name: field.metadata.get("comment") for field in schema}


def test_every_registered_column_has_a_description() -> None:
    undescribed = [
        f"{table.name}.{column.name}"
        for table in tables.TABLES.values()
        for column in table.columns
        if not (schemas.column_description(table.name, column.name) or "").strip()
    ]
    assert undescribed == []


# A mermaid edge as the diagram draws it: `origin[text] -->|label| target[(target)]`, dotted `-.->`.
MERMAID_EDGE = re.compile(r"^\s*(\w+)(?:\[([^\]]*)\])? (-->|-\.->)(?:\|([^|]*)\|)? (\w+)\[\(\w+\)\]$")


def test_lineage_diagram_draws_every_registry_edge_in_its_layer() -> None:
    diagram = datadocs.lineage_diagram()
    edges, layer_of, layer = set(), {}, None
    for line in diagram.splitlines():
        if line.strip().startswith("subgraph "):
            layer = line.strip().removeprefix("subgraph ").lower()
        elif match := MERMAID_EDGE.match(line):
            origin, text, arrow, label, target = match.groups()
            edges.add((text or origin, label or "", arrow == "-.->", target))
            layer_of[target] = layer
        elif match := re.fullmatch(r"\s*(\w+)\[\(\w+\)\]", line):
            layer_of[match.group(1)] = layer

    expected = {
        (upstream.name, upstream.label, upstream.evaluations, table.name)
        for table in tables.TABLES.values()
        for upstream in table.built_from
    }
    assert edges == expected
    assert layer_of == {table.name: table.layer for table in tables.TABLES.values()}


def test_every_column_of_the_lake_has_its_description_as_comment(spark: SparkSession, pipeline_lake: Path) -> None:
    docs = datadocs.read_tables(spark, pipeline_lake)
    assert [table.name for table in docs if table.schema is None] == []
    for table in docs:
        if not storage.table_exists(spark, pipeline_lake, table.name):
            assert tables.TABLES[table.name].on_demand
            continue
        expected = {field.name: schemas.column_description(table.name, field.name) for field in table.schema}
        assert comments(spark, pipeline_lake, table.name) == expected, table.name
    assert datadocs.undescribed_columns(docs) == []


def test_committed_dictionary_is_what_the_generator_writes(spark: SparkSession, pipeline_lake: Path) -> None:
    generated = datadocs.render(
        datadocs.read_tables(spark, pipeline_lake), load_params(datadocs.DEFAULT_PARAMS).rule_actions
    )
    committed = datadocs.DEFAULT_OUT.read_text()
    assert committed == generated, f"run make docs: {datadocs.first_difference(committed, generated)}"
    assert str(pipeline_lake) not in generated and "fixture-run" not in generated


def test_check_passes_on_the_pipeline_lake(spark: SparkSession, pipeline_lake: Path) -> None:
    assert datadocs.main(["--lake", str(pipeline_lake), "--out", str(datadocs.DEFAULT_OUT), "--check"]) == 0


def test_check_fails_naming_a_column_added_without_a_description(
    spark: SparkSession, pipeline_lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = copy_tables(pipeline_lake, tmp_path / "lake", "events_raw", "customer_metrics")
    raw = storage.read_table(spark, lake, "events_raw").limit(1).withColumn("coupon_code", F.lit("AUTUMN"))
    storage.append(raw, lake, "events_raw")
    metrics = storage.read_table(spark, lake, "customer_metrics").limit(1).withColumn("loyalty_points", F.lit(7))
    storage.append(metrics, lake, "customer_metrics")

    out = tmp_path / "data_dictionary.md"
    assert datadocs.main(["--lake", str(lake), "--out", str(out)]) == 1
    assert datadocs.main(["--lake", str(lake), "--out", str(out), "--check"]) == 1

    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: columns without a description: customer_metrics.loyalty_points ")
    assert "events_raw" not in error
    assert comments(spark, lake, "events_raw")["coupon_code"] == tables.EVENTS_RAW.extra_column
    assert "| `loyalty_points` | int | **no description** |" in out.read_text()


def test_check_fails_naming_the_section_when_the_committed_file_differs(
    spark: SparkSession, pipeline_lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "data_dictionary.md"
    stale.write_text(datadocs.DEFAULT_OUT.read_text().replace("| `rfm_score` | int |", "| `rfm_score` | bigint |"))

    assert datadocs.main(["--lake", str(pipeline_lake), "--out", str(stale), "--check"]) == 1

    error = capsys.readouterr().err.strip()
    assert "\n" not in error
    assert "not current" in error and "### `customer_metrics` (gold)" in error and "rfm_score" in error


@pytest.mark.lake
def test_apply_comments_describes_a_lake_written_before_comments(spark: SparkSession, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    rows = [("r1", "silver", "valid_price", "drop", 10, 1, 10.0, 10.0, None)]
    old = spark.createDataFrame(rows, schemas.DQ_METRICS)
    old.write.format("delta").save(storage.table_path(lake, "dq_metrics"))
    storage.append(old, lake, "dq_metrics")
    assert set(comments(spark, lake, "dq_metrics").values()) == {None}, "an append keeps the columns' comments"

    changed = datadocs.apply_comments(spark, lake)

    assert changed == [f"dq_metrics.{name}" for name in schemas.DQ_METRICS.names]
    expected = {name: schemas.column_description("dq_metrics", name) for name in schemas.DQ_METRICS.names}
    assert comments(spark, lake, "dq_metrics") == expected
    assert datadocs.apply_comments(spark, lake) == []


def test_first_difference_names_line_and_section() -> None:
    committed = "# Data dictionary\n\n### `events_raw` (bronze)\n\n| `a` | int | x |\n"
    generated = committed.replace("int", "bigint")

    message = datadocs.first_difference(committed, generated)

    assert message.startswith("line 5 (under ### `events_raw` (bronze)): committed '| `a` | int | x |'")
    assert datadocs.first_difference("a\n", "a\nb\n") == "line 2: only the generated one has 'b'"
