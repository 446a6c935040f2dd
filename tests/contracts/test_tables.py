"""The table registry: the one place tables are listed, loaded without Spark, and what a pipeline lake holds."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from lib.contracts import rules, schemas, tables
from lib.contracts.paths import REPO_ROOT
from lib.lake import storage

REGISTRY = REPO_ROOT / "lib" / "contracts" / "tables.py"


def lines_listing_tables(source: str) -> list[int]:
    """The lines of every tuple, list, set or dict (keys) naming two or more tables in a module-level assignment."""
    found = []
    for statement in ast.parse(source).body:
        if not isinstance(statement, (ast.Assign, ast.AnnAssign)) or statement.value is None:
            continue
        for node in ast.walk(statement.value):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                elements = node.elts
            elif isinstance(node, ast.Dict):
                elements = node.keys
            else:
                continue
            named = {item.value for item in elements if isinstance(item, ast.Constant) and item.value in tables.TABLES}
            if len(named) >= 2:
                found.append(node.lineno)
    return found


def test_no_module_but_the_registry_lists_tables() -> None:
    modules = sorted([*(REPO_ROOT / "lib").rglob("*.py"), *(REPO_ROOT / "dashboard").rglob("*.py")])
    assert REGISTRY in modules
    listing = [
        f"{module.relative_to(REPO_ROOT)}:{line}"
        for module in modules if module != REGISTRY
        for line in lines_listing_tables(module.read_text())
    ]
    assert listing == [], "list the tables in lib/contracts/tables.py and read them from there"


def test_the_check_finds_a_list_of_tables() -> None:
    source = (
        'ONE = {"events_raw": 1}\n'
        'PAIR: tuple[str, ...] = ("events_raw", "dq_metrics")\n'
        'NESTED = frozenset({"customer_metrics", "conversion_funnel"})\n'
        'def local():\n    return ("events_raw", "dq_metrics")\n'
    )
    assert lines_listing_tables(source) == [2, 3]


@pytest.mark.end_to_end
def test_importing_the_registry_loads_no_pyspark() -> None:
    code = "import sys, lib.contracts.tables; print(sorted(name for name in sys.modules if name.startswith('pyspark')))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_source_fields_are_the_rules_source_columns() -> None:
    assert tuple(column.name for column in tables.SOURCE_FIELDS) == rules.SOURCE_COLUMNS
    assert tables.EVENTS_RAW.columns[: len(rules.SOURCE_COLUMNS)] == tables.SOURCE_FIELDS


def test_layers_list_their_tables_in_the_order_data_flows() -> None:
    assert tables.names() == tuple(tables.TABLES)
    assert tables.names("gold") == ("customer_metrics", "product_performance", "daily_sales_summary", "conversion_funnel")
    assert tables.by_layer("quality", "ledger") == (tables.DQ_METRICS, tables.PIPELINE_RUNS)
    with pytest.raises(ValueError, match="no layer platinum"):
        tables.by_layer("platinum")


def test_an_entry_with_an_unknown_layer_or_column_is_refused() -> None:
    user_id = tables.Column("user_id", "BIGINT", "A user")
    with pytest.raises(ValueError, match="table t in lib/contracts/tables.py has layer 'platinum'"):
        tables.Table("t", "platinum", "Rows.", (user_id,))
    with pytest.raises(ValueError, match="partitions or keys on event_date"):
        tables.Table("t", "gold", "Rows.", (user_id,), partitioning=("event_date",))
    with pytest.raises(ValueError, match="names a column twice"):
        tables.Table("t", "gold", "Rows.", (user_id, user_id))


def test_every_column_type_is_spark_s_spelling_of_it() -> None:
    misspelled = [
        f"{table.name}.{column.name}: {column.type}"
        for table in tables.TABLES.values()
        for column in table.columns
        if schemas.spark_type(column.type).simpleString().upper() != column.type
    ]
    assert misspelled == []
    assert schemas.spark_type("map<string, array<bigint>>") == T.MapType(T.StringType(), T.ArrayType(T.LongType()))
    with pytest.raises(ValueError, match="column type 'DECIMAL\\(10,2\\)' in lib/contracts/tables.py"):
        schemas.spark_type("DECIMAL(10,2)")


def test_the_pipeline_lake_holds_every_table_as_registered(spark: SparkSession, pipeline_lake: Path) -> None:
    in_lake = sorted(path.name for path in pipeline_lake.iterdir() if (path / "_delta_log").is_dir())
    assert set(in_lake) <= set(tables.TABLES)
    assert sorted(set(tables.TABLES) - set(in_lake)) == [table.name for table in tables.TABLES.values() if table.on_demand]
    for name in in_lake:
        table = tables.TABLES[name]
        rows = storage.read_table(spark, pipeline_lake, name)
        held = [(field.name, field.dataType, field.metadata.get("comment")) for field in rows.schema]
        # The ledger's maintenance-only columns come with the first maintenance run's row; a pipeline run writes none.
        registered = [(field.name, field.dataType, field.metadata["comment"])
                      for field in schemas.struct(table.columns, described=True)
                      if field.name not in schemas.MAINTENANCE_ONLY]
        assert [column for column in held if column[0] in table.column_names] == registered, name
        extra = [column for column in held if column[0] not in table.column_names]
        assert extra == [] or {(kind, comment) for _, kind, comment in extra} == {(T.StringType(), table.extra_column)}
        detail = DeltaTable.forPath(spark, storage.table_path(pipeline_lake, name)).detail().first()
        assert tuple(detail["partitionColumns"]) == table.partitioning, name
        assert detail["properties"] == dict(table.properties), name
        assert rows.count() == rows.select(*table.key).distinct().count() > 0, f"{name}: key {table.key} repeats"
