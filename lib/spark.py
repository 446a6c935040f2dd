"""The Spark session: Delta-enabled, UTC, sized for the machine it runs on.

Delta Lake's jars come from Maven Central once (`python -m lib.spark --fetch-jars`, run by the
set-up) into `.cache/ivy/jars`; every later session loads them from there with `spark.jars`, so
runs and tests work offline and a cluster's executors receive the same jars.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
from pathlib import Path

import pyspark
from pyspark.sql import SparkSession

REPO_ROOT = Path(__file__).resolve().parents[1]
IVY_DIR = Path(os.environ.get("LAKEHOUSE_IVY_DIR", REPO_ROOT / ".cache" / "ivy"))
JARS_DIR = IVY_DIR / "jars"
LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")


def delta_maven_coordinate() -> str:
    """The delta-spark artifact matching the installed pyspark and delta-spark versions."""
    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    delta_version = importlib.metadata.version("delta-spark")
    return f"io.delta:delta-spark_{spark_minor}_2.13:{delta_version}"


def cached_jars() -> list[Path]:
    """The Delta jars already resolved into the cache, empty if set-up has not fetched them."""
    if not JARS_DIR.is_dir():
        return []
    return sorted(JARS_DIR.glob("*.jar"))


def build_spark(
    master: str = "local[2]",
    app_name: str = "local-lakehouse",
    shuffle_partitions: int = 4,
    driver_memory: str = "4g",
) -> SparkSession:
    """Return the active Delta-enabled session, creating it with the project's defaults."""
    if master.startswith("local"):
        # A local session listens on loopback only (and says nothing about the host's address).
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", str(shuffle_partitions))
        .config("spark.driver.memory", driver_memory)
        .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={LOG4J_CONFIG.as_uri()}")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # Delta reads its log with this many tasks; the default of 50 dominates small runs.
        .config("spark.databricks.delta.snapshotPartitions", "2")
        .config("spark.databricks.delta.schema.autoMerge.enabled", "false")
        .config("spark.sql.sources.partitionOverwriteMode", "static")
        # Silver keeps the first row of each dedup key, and a key rarely has a second. A partial
        # group limit would sort every row once more before the shuffle and remove almost none.
        .config("spark.sql.optimizer.windowGroupLimitThreshold", "-1")
    )
    jars = cached_jars()
    if jars:
        builder = builder.config("spark.jars", ",".join(str(jar) for jar in jars))
    else:
        builder = builder.config("spark.jars.packages", delta_maven_coordinate()).config(
            "spark.jars.ivy", str(IVY_DIR)
        )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


class SparkStopped(RuntimeError):
    """The JVM behind the Spark session stopped in the middle of a run (killed, or out of memory)."""


def jvm_answers(spark: SparkSession) -> bool:
    """Whether the session's JVM still answers calls from Python."""
    try:
        spark.sparkContext._jvm.java.lang.System.nanoTime()
    except Exception:
        return False
    return True


def fetch_jars() -> list[Path]:
    """Resolve Delta's jars from Maven Central into the cache by starting one session."""
    if not cached_jars():
        spark = build_spark(master="local[1]", app_name="fetch-delta-jars")
        spark.range(1).count()
        spark.stop()
    jars = cached_jars()
    if not jars:
        raise RuntimeError(
            f"Delta's jars were not resolved into {JARS_DIR}: check that Maven Central is "
            f"reachable and that {delta_maven_coordinate()} exists there."
        )
    return jars


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.spark", description=__doc__)
    parser.add_argument("--fetch-jars", action="store_true", help="resolve Delta's jars into the cache")
    args = parser.parse_args(argv)
    if args.fetch_jars:
        jars = fetch_jars()
        print(f"{len(jars)} jars for {delta_maven_coordinate()} in {JARS_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
