"""The Spark session: Delta-enabled, UTC, sized for the machine it runs on, shared by a process's callers.

A process has one session (a notebook kernel's, the tests'), and a caller asking for other settings
than it has is told: a runtime setting is set and said, a setting fixed when the session started is
an error. A caller that needs a runtime setting for its own work only takes it with `settings`.

Delta Lake's jars come from Maven Central once (`python -m lib.lake.session --fetch-jars`, run by the
set-up) into `.cache/ivy/jars`; every later session loads them from there with `spark.jars`, so
runs and tests work offline and a cluster's executors receive the same jars. The folder's manifest
records which Delta coordinate its jars were resolved for: after pyspark or delta-spark change
version, the jars of the old one are not loaded, and the set-up resolves the new one's.

The set-up also fetches the S3A connector (`hadoop-aws` of the Hadoop version inside pyspark, with
the AWS SDK bundle it needs, about 690 MB) so that a lake can be on S3. A local session puts it on
the driver's class path, where its executors (threads of the same JVM) find it without a copy: no
start-up cost could be measured. It is not shipped to a cluster's executors (docs/cluster.md).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from pathlib import Path

import pyspark
from pyspark import SparkConf, SparkContext
from pyspark.java_gateway import launch_gateway
from pyspark.sql import SparkSession

from lib.contracts.paths import REPO_ROOT

IVY_DIR = Path(os.environ.get("LAKEHOUSE_IVY_DIR", REPO_ROOT / ".cache" / "ivy"))
JARS_DIR = IVY_DIR / "jars"
LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")


def delta_maven_coordinate() -> str:
    """The delta-spark artifact matching the installed pyspark and delta-spark versions."""
    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    delta_version = importlib.metadata.version("delta-spark")
    return f"io.delta:delta-spark_{spark_minor}_2.13:{delta_version}"


MANIFEST_NAME = "delta-jars.json"


def jars_manifest() -> Path:
    """The file in the jars folder naming the Delta coordinate and the jars resolved for it."""
    return JARS_DIR / MANIFEST_NAME


def cached_jars() -> list[Path]:
    """The cached jars to load: Delta's for the installed versions, plus any jar put there by hand.

    Empty when the set-up has not fetched Delta's jars, or fetched them for another coordinate
    (pyspark or delta-spark changed since), so that no session loads another version's jars.
    Ivy leaves the jars of earlier resolutions in the folder; those, the jars whose names ivy's
    cache holds but the manifest does not list, are left out.
    """
    try:
        manifest = json.loads(jars_manifest().read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(manifest, dict) or manifest.get("coordinate") != delta_maven_coordinate():
        return []
    delta = {JARS_DIR / name for name in manifest.get("jars", [])}
    if not delta or not all(jar.is_file() for jar in delta):
        return []
    resolved_by_ivy = {f"{jar.parents[2].name}_{jar.name}" for jar in IVY_DIR.glob("cache/*/*/*/*.jar")}
    added = {jar for jar in JARS_DIR.glob("*.jar") if jar not in delta and jar.name not in resolved_by_ivy}
    return sorted(delta | added)


def hadoop_version() -> str:
    """The version of the Hadoop client inside the installed pyspark, which a Hadoop connector must match."""
    bundled = sorted(Path(pyspark.__file__).parent.glob("jars/hadoop-client-api-*.jar"))
    if not bundled:
        raise RuntimeError(f"pyspark {pyspark.__version__} has no hadoop-client-api jar: cannot tell its Hadoop version")
    return bundled[-1].name.removeprefix("hadoop-client-api-").removesuffix(".jar")


def s3a_maven_coordinate() -> str:
    """The S3A connector for the installed pyspark's Hadoop; its AWS SDK bundle comes as its dependency."""
    return f"org.apache.hadoop:hadoop-aws:{hadoop_version()}"


CONNECTORS_MANIFEST_NAME = "connector-jars.json"


def connector_jars() -> list[Path]:
    """The cached S3A connector's jars, if the set-up fetched them for the installed pyspark's Hadoop; else none."""
    try:
        manifest = json.loads((JARS_DIR / CONNECTORS_MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(manifest, dict) or manifest.get("coordinate") != s3a_maven_coordinate():
        return []
    jars = sorted(JARS_DIR / name for name in manifest.get("jars", []))
    return jars if jars and all(jar.is_file() for jar in jars) else []


def jar_settings() -> dict[str, str]:
    """How a session gets Delta's jars (the cached ones, or else resolved) and, when cached, the S3A connector.

    The connector goes on the driver's class path only: a local session's executors run in the
    driver's JVM and see it there, whereas in `spark.jars` every session would copy its 690 MB to
    the executors' folder before the first task. A cluster's executors need it installed (docs/cluster.md).
    """
    jars = cached_jars()
    found = ({"spark.jars": ",".join(str(jar) for jar in jars)} if jars else
             {"spark.jars.packages": delta_maven_coordinate(), "spark.jars.ivy": str(IVY_DIR)})
    connectors = connector_jars()
    if connectors:
        found["spark.driver.extraClassPath"] = os.pathsep.join(str(jar) for jar in connectors)
    return found


# Settings a session keeps from the caller that started it, whatever a later caller asks: the name
# labels the session (in its UI, in a cluster's applications), and the parallelism only sets how many
# partitions rows made on the driver get. Neither changes a result.
KEPT_FROM_THE_START = ("spark.app.name", "spark.default.parallelism")
# Settings the JVM takes when it starts: a session stopped and built again in the same process has them still.
JVM_SETTINGS = ("spark.driver.memory", "spark.driver.extraJavaOptions", "spark.driver.extraClassPath", "spark.jars",
                "spark.jars.packages", "spark.jars.ivy")
# Those of the JVM this module started in this process; empty until it starts one (or when another started it).
JVM_STARTED_WITH: dict[str, str] = {}


class SessionMismatch(RuntimeError):
    """A session asked for with another value of a setting the running session or JVM fixed when it started."""


def build_spark(
    master: str = "local[2]",
    app_name: str = "local-lakehouse",
    shuffle_partitions: int = 4,
    driver_memory: str = "4g",
    ui: bool = False,
) -> SparkSession:
    """The Delta-enabled session with these settings: the running one, or else a new one.

    The running session is returned as it is when it has these settings. A runtime setting it has
    another value of (`spark.sql.shuffle.partitions`) is set, for every later user of the session,
    and one line says so; a setting fixed when it started (master, driver memory, UI, jars) raises
    SessionMismatch, and nothing is set. It keeps its name and `spark.default.parallelism` (the
    shuffle partitions it started with). For its own work only, a caller takes runtime settings with
    `settings`.

    With `ui`, a new session serves Spark's web UI (port 4040, or the next free one; on loopback
    for a local master): for an analyst in JupyterLab. Scheduled runs and tests keep it off.
    """
    asked = {
        "spark.master": master,
        "spark.app.name": app_name,
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.default.parallelism": str(shuffle_partitions),
        "spark.driver.memory": driver_memory,
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={LOG4J_CONFIG.as_uri()}",
        "spark.ui.enabled": str(ui).lower(),
        "spark.ui.showConsoleProgress": "false",
        # A collect or createDataFrame hands its rows over a loopback socket that the JVM closes when Python
        # has not connected within this time. Spark's 15 s was too short on a loaded 2-core host: a collect
        # failed with CANNOT_OPEN_SOCKET ("Connection refused").
        "spark.python.authenticate.socketTimeout": "120s",
        # Delta reads its log with this many tasks; the default of 50 dominates small runs.
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
        "spark.sql.sources.partitionOverwriteMode": "static",
        # Silver keeps the first row of each dedup key, and a key rarely has a second. A partial
        # group limit would sort every row once more before the shuffle and remove almost none.
        "spark.sql.optimizer.windowGroupLimitThreshold": "-1",
        **jar_settings(),
    }
    running = running_session()
    if running is not None:
        _take_settings(running, asked)
        return running
    if master.startswith("local"):
        # A local session listens on loopback only (and says nothing about the host's address).
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # Its Python tasks run in this interpreter, not whichever `python3` is first on PATH: another
        # version there stops every Python task, and another environment lacks the project's packages.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if SparkContext._gateway is None and "PYSPARK_GATEWAY_PORT" not in os.environ:
        _start_jvm(asked)
    elif JVM_STARTED_WITH:
        fixed = {key: (JVM_STARTED_WITH.get(key), asked.get(key)) for key in JVM_SETTINGS
                 if asked.get(key) != JVM_STARTED_WITH.get(key)}
        if fixed:
            raise SessionMismatch(
                f"this process's Spark JVM cannot change {_changes(fixed)}, fixed when it started (a stopped "
                "session leaves its JVM running): ask for the JVM's values, or run this in a process of its own"
            )
    builder = SparkSession.builder
    for key, value in asked.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    # Delta declares its settings to Spark at its first table read or write; declared now, they count
    # as the runtime settings they are (`isModifiable`) from the start.
    spark.sparkContext._jvm.org.apache.spark.sql.delta.sources.DeltaSQLConf.DELTA_SNAPSHOT_PARTITIONS()
    return spark


def running_session() -> SparkSession | None:
    """This process's running session, as it is; None when none runs (none started yet, or it was stopped)."""
    if SparkContext._active_spark_context is None:
        return None
    # A builder without settings returns the running session and sets nothing on it.
    return SparkSession.builder.getOrCreate()


def _take_settings(spark: SparkSession, asked: Mapping[str, str]) -> None:
    """Set on the running session the runtime settings it has other values of, a line each; refuse a fixed one."""
    differing = {key: (spark.conf.get(key, None), value) for key, value in asked.items()
                 if key not in KEPT_FROM_THE_START and spark.conf.get(key, None) != value}
    fixed = {key: values for key, values in differing.items() if not spark.conf.isModifiable(key)}
    if fixed:
        raise SessionMismatch(
            f"the running Spark session cannot change {_changes(fixed)}, fixed when it started: ask for the "
            "running values, or run this in a process of its own"
        )
    for key, (running, value) in differing.items():
        spark.conf.set(key, value)
        print(f"Spark session: {_changes({key: (running, value)})}, for every later user of the session", flush=True)


@contextlib.contextmanager
def settings(spark: SparkSession, values: Mapping[str, str]) -> Iterator[None]:
    """Runtime settings for the block only: set on entry, the session's own values back on exit, also after an error.

    For a caller that shares the running session and needs a setting for its own work, e.g. one shuffle
    partition, which every later user of the session would otherwise get too.
    """
    fixed = [key for key in values if not spark.conf.isModifiable(key)]
    if fixed:
        raise ValueError(
            f"{', '.join(fixed)} cannot change in a running Spark session, fixed when it started: ask for it "
            "when building the session, in a process of its own"
        )
    before = {key: spark.conf.get(key, None) for key in values}
    for key, value in values.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def _changes(values: Mapping[str, tuple[str | None, str | None]]) -> str:
    """`key from running to asked` for each setting, a missing value named as unset."""
    return ", ".join(f"{key} from {running or 'unset'} to {value or 'unset'}"
                     for key, (running, value) in values.items())


# Spark's launcher gives every driver JVM `--add-modules=jdk.incubator.vector`, and Java then prints
# this line on its standard error at each start; no JVM option turns the line off.
INCUBATOR_WARNING = b"WARNING: Using incubator modules: jdk.incubator.vector\n"


def _start_jvm(conf: dict[str, str]) -> None:
    """Launch the session's JVM as PySpark would, its standard error passed on without that line."""
    read_end, write_end = os.pipe()
    threading.Thread(target=_pass_on_stderr, args=(read_end,), name="jvm-stderr", daemon=True).start()
    try:
        gateway = launch_gateway(SparkConf().setAll(conf.items()), popen_kwargs={"stderr": write_end})
    finally:
        os.close(write_end)
    SparkContext._ensure_initialized(gateway=gateway)
    JVM_STARTED_WITH.update({key: conf[key] for key in JVM_SETTINGS if key in conf})


def _pass_on_stderr(source: int) -> None:
    """Copy the JVM's standard error to this process's (a notebook's output, in a kernel) line by line."""
    with os.fdopen(source, "rb") as lines:
        for line in lines:
            if line != INCUBATOR_WARNING:
                os.write(2, line)


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
    """Resolve Delta's jars for the installed versions into the cache, unless it has them already.

    One session with `spark.jars.packages` resolves them (from Maven Central, or from ivy's cache
    for a coordinate resolved before); the jars it then loads are the coordinate's, and the manifest
    records their names.
    """
    if not cached_jars():
        coordinate = delta_maven_coordinate()
        spark = build_spark(master="local[1]", app_name="fetch-delta-jars")
        spark.range(1).count()
        names = _loaded_jars(spark)
        spark.stop()
        _write_manifest(jars_manifest(), coordinate, names)
    jars = cached_jars()
    if not jars:
        raise RuntimeError(
            f"Delta's jars were not resolved into {JARS_DIR}: check that Maven Central is "
            f"reachable and that {delta_maven_coordinate()} exists there."
        )
    return jars


def fetch_connector_jars() -> list[Path]:
    """Resolve the S3A connector for the installed pyspark's Hadoop into the cache, unless it has it already.

    A JVM's jars are fixed when it starts, and this process's may have Delta's already: a JVM of
    its own resolves the connector (`--resolve`), and the manifest records the jars it loaded.
    """
    if not connector_jars():
        coordinate = s3a_maven_coordinate()
        resolved = subprocess.run([sys.executable, "-m", "lib.lake.session", "--resolve", coordinate],
                                  cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, check=False)
        names = next((json.loads(line.removeprefix(RESOLVED)) for line in resolved.stdout.splitlines()
                      if line.startswith(RESOLVED)), [])
        if resolved.returncode == 0 and names:
            _write_manifest(JARS_DIR / CONNECTORS_MANIFEST_NAME, coordinate, names)
    jars = connector_jars()
    if not jars:
        raise RuntimeError(
            f"the S3A connector was not resolved into {JARS_DIR}: check that Maven Central is "
            f"reachable and that {s3a_maven_coordinate()} exists there."
        )
    return jars


# The line `--resolve` prints its jars' names on, after whatever Ivy prints.
RESOLVED = "resolved: "


def _resolve(coordinate: str) -> list[str]:
    """Resolve a Maven coordinate into the cache with a plain session's `spark.jars.packages`: the jars' names."""
    spark = (SparkSession.builder.master("local[1]").appName("fetch-jars")
             .config("spark.jars.packages", coordinate).config("spark.jars.ivy", str(IVY_DIR))
             .config("spark.ui.enabled", "false")
             .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={LOG4J_CONFIG.as_uri()}")
             .getOrCreate())
    names = _loaded_jars(spark)
    spark.stop()
    return names


def _loaded_jars(spark: SparkSession) -> list[str]:
    """The names of the jars the session loaded (`spark.jars`, where resolved packages end up)."""
    loaded = spark.sparkContext.getConf().get("spark.jars", "")
    return sorted(Path(urllib.parse.urlparse(uri).path).name for uri in loaded.split(",") if uri)


def _write_manifest(manifest: Path, coordinate: str, names: list[str]) -> None:
    """Record the coordinate and its jars' names, replacing the manifest in one step."""
    partial = manifest.with_suffix(".tmp")
    partial.write_text(json.dumps({"coordinate": coordinate, "jars": names}, indent=1) + "\n")
    partial.replace(manifest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.lake.session", description=__doc__)
    parser.add_argument("--fetch-jars", action="store_true",
                        help="resolve Delta's jars and the S3A connector into the cache")
    parser.add_argument("--resolve", metavar="COORDINATE",
                        help="resolve one Maven coordinate into the cache and print its jars (for --fetch-jars)")
    args = parser.parse_args(argv)
    if args.resolve:
        print(RESOLVED + json.dumps(_resolve(args.resolve)), flush=True)
    if args.fetch_jars:
        jars = fetch_jars()
        print(f"{len(jars)} jars for {delta_maven_coordinate()} in {JARS_DIR}")
        connectors = fetch_connector_jars()
        print(f"{len(connectors)} jars for {s3a_maven_coordinate()} in {JARS_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
