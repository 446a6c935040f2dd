"""The landing folder as bronze reads it: its files by name, their first bytes, their lines.

A landing file's name in the lake (`events_raw.source_file`) is its path under the landing folder,
worked out by `landing_files.source_file` from the file's percent-encoded URI on both sides of the
exactly-once check: here from the listing, in bronze from Spark's `_metadata.file_path` of its lines.
Files are opened and read by their Hadoop path (`Path.toString()`, not encoded).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lib.transforms import landing_files


def _file_system(spark: SparkSession, path: str | Path):
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(str(path))
    return hadoop_path, hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def folder_uri(spark: SparkSession, landing_dir: str | Path) -> str:
    """The landing folder's URI as Hadoop qualifies it (scheme included, percent-encoded), e.g. file:/work/data/landing."""
    path, fs = _file_system(spark, landing_dir)
    return fs.makeQualified(path).toUri().toString()


def list_files(spark: SparkSession, landing_dir: str | Path) -> dict[str, str]:
    """Every file under the landing folder (recursively) by its name in the lake, sorted: name -> Hadoop path.

    Names starting with `.` or `_` (hidden files, Spark's `_SUCCESS`) are skipped.
    """
    root, fs = _file_system(spark, landing_dir)
    if not fs.exists(root):
        raise FileNotFoundError(
            f"landing folder {landing_dir} does not exist: set the parameter landing_dir to the folder "
            "holding the CSV files, or generate_input: true to write the generated default input there"
        )
    landing_uri = fs.makeQualified(root).toUri().toString()
    files = fs.listFiles(root, True)
    found = {}
    while files.hasNext():
        path = files.next().getPath()
        if not path.getName().startswith((".", "_")):
            found[landing_files.source_file(path.toUri().toString(), landing_uri)] = path.toString()
    return dict(sorted(found.items()))


def read_lines(spark: SparkSession, paths: Sequence[str]) -> DataFrame:
    """Landing files as lines, each with its file's URI (`_file_path`), block offset and a scan-order row id."""
    return spark.read.format("text").load(list(paths)).select(
        F.col("value"),
        F.col("_metadata.file_path").alias("_file_path"),
        F.col("_metadata.file_block_start").alias("_block_start"),
        F.monotonically_increasing_id().alias("_row_id"),
    )


def file_head(spark: SparkSession, path: str, length: int) -> bytes:
    """A file's first `length` bytes (fewer if it is shorter; empty for an empty file)."""
    path, fs = _file_system(spark, path)
    stream = fs.open(path)
    try:
        return bytes(stream.readNBytes(length))
    finally:
        stream.close()
