"""What maintenance and gold read from a table's log before they do anything: the commits that removed rows,
the partitions commits added files to, the latest snapshot's files, bytes and properties, the checkpoint's
version, whether a file is old enough for VACUUM; each checked against what Delta itself says."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from lib.lake import delta_log, storage
from lib.ops import maintain

pytestmark = pytest.mark.lake

HOUR_MS = 3_600_000


def test_the_partitions_snapshot_and_checkpoint_read_from_the_log_are_what_delta_says(
    spark: SparkSession, tmp_path: Path
) -> None:
    path = str(tmp_path / "t")
    schema = "part STRING, id INT"
    for rows in ([("a", 1)], [(None, 2), ("a", 3)], [("b", 4)]):  # versions 0, 1 and 2
        spark.createDataFrame(rows, schema).write.format("delta").mode("append").partitionBy("part").save(path)
    assert delta_log.added_partitions(spark, path, ["part"], -1, 2) == [{"part": "a"}, {"part": None}, {"part": "b"}]
    assert delta_log.added_partitions(spark, path, ["part"], 1, 2) == [{"part": "b"}]
    DeltaTable.forPath(spark, path).optimize().executeCompaction()  # version 3: a's two files into one
    assert delta_log.added_partitions(spark, path, ["part"], 2, 3) == [], "a compaction adds no rows"
    assert delta_log.added_partitions(spark, path, [], -1, 0) == [{}]

    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('purpose' = 'test')")  # version 4
    detail = DeltaTable.forPath(spark, path).detail().first()
    snapshot = delta_log.snapshot(spark, path)
    assert detail["numFiles"] == 3, "a's two files compacted into one, None's and b's"
    assert (snapshot.version, snapshot.files, snapshot.bytes) == (4, 3, detail["sizeInBytes"])
    assert snapshot.properties == detail["properties"] and snapshot.properties["purpose"] == "test"

    assert delta_log.checkpoint_version(spark, path) is None
    maintain._checkpoint(spark, path)
    assert delta_log.checkpoint_version(spark, path) == 4

    (tmp_path / "t" / "_delta_log" / f"{1:020d}.json").unlink()
    assert delta_log.added_partitions(spark, path, ["part"], 0, 2) is None, "a commit gone: cannot tell"


def test_a_table_holds_a_file_older_than_the_cutoff_once_a_data_file_is_not_a_log_file(
    spark: SparkSession, tmp_path: Path
) -> None:
    storage.append(spark.createDataFrame([(1, "a")], "id INT, name STRING"), tmp_path, "t")
    path = storage.table_path(tmp_path, "t")
    cutoff = int(time.time() * 1000) - HOUR_MS
    assert not delta_log.holds_file_older_than(spark, path, cutoff)

    two_hours_ago = time.time() - 2 * 3600
    commit = tmp_path / "t" / "_delta_log" / f"{0:020d}.json"
    os.utime(commit, (two_hours_ago, two_hours_ago))
    assert not delta_log.holds_file_older_than(spark, path, cutoff), "the log's files are not VACUUM's"

    data_file = next((tmp_path / "t").glob("*.parquet"))
    os.utime(data_file, (two_hours_ago, two_hours_ago))
    assert delta_log.holds_file_older_than(spark, path, cutoff)
    assert not delta_log.holds_file_older_than(spark, path, cutoff - 2 * HOUR_MS)


def test_the_commits_that_removed_rows_are_told_from_those_that_only_inserted(
    spark: SparkSession, tmp_path: Path
) -> None:
    schema = "id INT, name STRING"
    path = storage.table_path(tmp_path, "t")
    storage.append(spark.createDataFrame([(1, "a"), (2, "b")], schema), tmp_path, "t")  # version 0
    storage.insert_new(spark.createDataFrame([(2, "b"), (3, "c")], schema), tmp_path, "t", ["id"])  # 1: inserts only
    DeltaTable.forPath(spark, path).delete("id = 1")  # version 2
    DeltaTable.forPath(spark, path).optimize().executeCompaction()  # version 3: no row changed
    storage.overwrite(spark.createDataFrame([(4, "d")], schema), tmp_path, "t")  # version 4
    assert delta_log.data_changes(spark, path, -1, 4) == [
        delta_log.Change(0, "WRITE", False),
        delta_log.Change(1, "MERGE", False),
        delta_log.Change(2, "DELETE", True),
        delta_log.Change(4, "WRITE", True),
    ]
    assert delta_log.data_changes(spark, path, 2, 3) == []
