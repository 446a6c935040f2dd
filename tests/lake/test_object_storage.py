"""The lake on object storage: the layers, a rerun, the dashboard's loaders, the lock and maintenance on an s3a:// lake.

The store is moto's S3 server, started on a free loopback port for this module; the tests' shared
session reaches it through S3A settings for its bucket only, set on the running session's Hadoop
configuration and removed afterwards, so the other tests' session is as it was. The landing folder
stays local. The S3A connector is on the session's class path from the start (lib/lake/session.py).
The tests that use the server are end_to_end; the one on the dashboard's options alone is fast.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer
from pyspark.sql import SparkSession

from lakehouse_testing import free_port, run_all_layers, scratch_params
from lib.contracts import tables
from lib.contracts.params import PipelineParams
from lib.lake import lock, session, storage
from lib.lake.session import settings
from lib.ops import maintain

BUCKET = "lakehouse-test"
LAKE = f"s3a://{BUCKET}/lake"
KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1, with the test bucket; stopped after the module."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    s3_client(url).create_bucket(Bucket=BUCKET)
    yield url
    server.stop()


def s3_client(url: str):
    return boto3.client("s3", endpoint_url=url, aws_access_key_id=KEYS["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=KEYS["AWS_SECRET_ACCESS_KEY"], region_name=KEYS["AWS_REGION"])


@pytest.fixture(scope="module")
def s3(spark: SparkSession, endpoint: str) -> Iterator[object]:
    """The running session set to reach the bucket on moto (settings for that bucket only); boto3 for checks."""
    jvm = spark.sparkContext._jvm
    if not session.connector_jars():
        pytest.fail("the S3A connector is not in .cache/ivy/jars: run `make setup` "
                    "(python -m lib.lake.session --fetch-jars)")
    configuration = spark.sparkContext._jsc.hadoopConfiguration()
    bucket = {"endpoint": endpoint, "endpoint.region": KEYS["AWS_REGION"], "path.style.access": "true",
              "connection.ssl.enabled": "false", "access.key": KEYS["AWS_ACCESS_KEY_ID"],
              "secret.key": KEYS["AWS_SECRET_ACCESS_KEY"]}
    for key, value in bucket.items():
        configuration.set(f"fs.s3a.bucket.{BUCKET}.{key}", value)
    yield s3_client(endpoint)
    jvm.org.apache.hadoop.fs.FileSystem.get(jvm.java.net.URI(f"s3a://{BUCKET}/"), configuration).close()
    for key in bucket:
        configuration.unset(f"fs.s3a.bucket.{BUCKET}.{key}")


def versions(spark: SparkSession, lake: str) -> dict[str, int | None]:
    return {name: storage.table_version(spark, lake, name) for name in tables.TABLES}


@pytest.fixture(scope="module")
def s3_lake(spark: SparkSession, s3: object, tmp_path_factory: pytest.TempPathFactory) -> tuple[PipelineParams, float]:
    """The three layers run once on the s3a:// lake: their parameters, and how long the run took."""
    # One generated day of 1,000 events, landed in a local folder.
    params = scratch_params(tmp_path_factory.mktemp("s3-run"), lake_dir=LAKE, generator_days=1,
                            generator_events_per_day=1000)
    started = time.monotonic()
    run_all_layers(spark, params)
    return params, time.monotonic() - started


@pytest.mark.end_to_end
def test_the_three_layers_write_every_table_to_the_s3_lake_and_a_rerun_changes_nothing(
    spark: SparkSession, s3, s3_lake: tuple[PipelineParams, float]
) -> None:
    params, seconds = s3_lake
    print(f"three layers on the s3a:// lake: {seconds:.0f} s")
    keys = {item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="lake/")
            for item in page.get("Contents", [])}
    written = {key.split("/")[1] for key in keys if "/_delta_log/" in key}
    assert {*tables.names("bronze", "silver", "gold", "quality", "ledger")} - written <= {
        tables.EVENTS_QUARANTINE.name, tables.QUARANTINE_HISTORY.name}, "every table but those only a fault makes"
    assert storage.read_table(spark, LAKE, tables.EVENTS_RAW.name).count() >= 1000
    assert f"lake/{lock.LOCK_FILE}" not in keys, "each run deleted its lock object"

    before = versions(spark, LAKE)
    run_all_layers(spark, dataclasses.replace(params, generate_input=False))
    after = versions(spark, LAKE)

    runs = tables.PIPELINE_RUNS.name
    assert after[runs] > before[runs], "each layer's rerun writes its row in pipeline_runs"
    assert {name: v for name, v in after.items() if name != runs} == {
        name: v for name, v in before.items() if name != runs
    }, "a rerun on the same landing files commits to no other table"
    layer_runs = storage.read_table(spark, LAKE, runs).filter("layer in ('bronze', 'silver', 'gold')")
    assert layer_runs.filter("status = 'succeeded'").count() == layer_runs.count() == 6


@pytest.mark.end_to_end
def test_the_dashboards_loaders_read_the_gold_tables_from_the_s3_lake(
    spark: SparkSession, endpoint: str, s3_lake: tuple[PipelineParams, float], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dashboard import data

    for key, value in {**KEYS, "AWS_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setenv(key, value)
    lake = data.lake_dir(["--lake", LAKE], environ={})
    assert isinstance(lake, data.LakeURI) and lake == LAKE

    for name in tables.names("gold"):
        ref = data.table_ref(lake, name)
        assert ref is not None, f"{name} not found through deltalake"
        assert ref.version == storage.table_version(spark, LAKE, name)
        assert len(data.read(ref)) == storage.read_table(spark, LAKE, name).count()
    daily = data.table_ref(lake, data.DAILY_SALES)
    assert data.date_bounds(daily) == (dt.date(2019, 10, 1), dt.date(2019, 10, 1))
    assert data.table_ref(lake, "no_such_table") is None


def test_the_dashboards_storage_options_come_from_the_environment() -> None:
    from dashboard import data

    environ = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_ACCESS_KEY_ID": "key",
               "AWS_SECRET_ACCESS_KEY": "secret", "AWS_DEFAULT_REGION": "eu-west-1", "HOME": "/root"}
    assert data.storage_options(environ) == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_ACCESS_KEY_ID": "key", "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_REGION": "eu-west-1", "AWS_ALLOW_HTTP": "true",
    }
    assert "AWS_ALLOW_HTTP" not in data.storage_options({"AWS_ENDPOINT_URL": "https://s3.example.com"})
    assert data.deltalake_uri("s3a://bucket/lake/customer_metrics") == "s3://bucket/lake/customer_metrics"
    assert data.deltalake_uri("abfss://c@a.dfs.core.windows.net/lake") == "abfss://c@a.dfs.core.windows.net/lake"
    assert data.lake_dir(["--lake=s3a://bucket/lake"], environ={}) == "s3a://bucket/lake"


def lock_object(s3, lake: str) -> dict | None:
    key = f"{lake.removeprefix(f's3a://{BUCKET}/')}/{lock.LOCK_FILE}"
    try:
        return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


@pytest.mark.end_to_end
def test_a_second_writer_on_the_s3_lake_is_refused_while_the_first_holds_its_lock(
    spark: SparkSession, s3, s3_lake: tuple[PipelineParams, float]
) -> None:
    params, _ = s3_lake
    ledger_version = storage.table_version(spark, LAKE, tables.PIPELINE_RUNS.name)
    with lock.lake_lock(LAKE, "first-run", "silver", timeout_seconds=5):
        held = lock_object(s3, LAKE)
        assert held is not None and held["run_id"] == "first-run" and held["expires"] > held["since"]
        second = dataclasses.replace(params, generate_input=False, lock_timeout_seconds=1, run_id="second-run")
        started = time.monotonic()
        with pytest.raises(lock.LakeBusy) as refused:
            run_all_layers(spark, second)
        assert 1 <= time.monotonic() - started < 30, "it waited lock_timeout_seconds, then stopped"
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"lake {LAKE} is being written by run first-run (silver, pid ")
    assert f"aws s3 rm s3://{BUCKET}/lake/{lock.LOCK_FILE}" in message
    assert storage.table_version(spark, LAKE, tables.PIPELINE_RUNS.name) == ledger_version, "the refused run wrote nothing"
    assert lock_object(s3, LAKE) is None, "the holder deleted its lock object"
    with lock.lake_lock(LAKE, "third-run", "gold", timeout_seconds=1):
        assert lock_object(s3, LAKE)["run_id"] == "third-run"


@pytest.mark.end_to_end
def test_a_killed_runs_lock_object_is_stale_once_expired_and_the_message_says_how_to_clear_it(s3) -> None:
    lake = f"s3a://{BUCKET}/stale-lake"
    expired = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)).strftime(lock.TIME_FORMAT)
    left = {"run_id": "killed-run", "layer": "bronze", "pid": 4321, "host": "worker-1", "since": expired,
            "renewed": expired, "expires": expired, "token": "theirs"}
    s3.put_object(Bucket=BUCKET, Key=f"stale-lake/{lock.LOCK_FILE}", Body=json.dumps(left).encode())

    started = time.monotonic()
    with pytest.raises(lock.LakeBusy) as refused:
        with lock.lake_lock(lake, "next-run", "bronze", timeout_seconds=60):
            pass
    assert time.monotonic() - started < 30, "a stale lock is said at once, not waited for"
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"lake {lake} has a stale lock: run killed-run (bronze, pid 4321 on worker-1, since ")
    assert f"expired at {expired} UTC" in message and f"aws s3 rm s3://{BUCKET}/stale-lake/{lock.LOCK_FILE}" in message
    assert lock_object(s3, lake) == left, "the stale object is left for a person to judge"

    s3.delete_object(Bucket=BUCKET, Key=f"stale-lake/{lock.LOCK_FILE}")
    with lock.lake_lock(lake, "next-run", "bronze", timeout_seconds=1):
        assert lock_object(s3, lake)["run_id"] == "next-run"


@pytest.mark.end_to_end
def test_the_holder_renews_its_lock_objects_expiry_while_it_runs(s3, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = f"s3a://{BUCKET}/renewed-lake"
    monkeypatch.setattr(lock, "RENEW_SECONDS", 0.3)
    with lock.lake_lock(lake, "long-run", "silver", timeout_seconds=1):
        first = lock_object(s3, lake)
        time.sleep(2.5)
        later = lock_object(s3, lake)
    assert later["token"] == first["token"] and later["since"] == first["since"]
    assert later["expires"] > first["expires"], "the expiry moved on while the run held the lock"
    assert lock_object(s3, lake) is None


@pytest.mark.end_to_end
def test_maintenance_compacts_vacuums_and_checkpoints_the_s3_lake_keeping_every_row(
    spark: SparkSession, s3, s3_lake: tuple[PipelineParams, float]
) -> None:
    params, _ = s3_lake
    present = [name for name in tables.TABLES if storage.table_exists(spark, LAKE, name)]
    rows = {name: storage.read_table(spark, LAKE, name).count() for name in present}

    # No retention, so that VACUUM has the compacted files to delete (Delta's check of the retention off for it).
    with settings(spark, {"spark.databricks.delta.retentionDurationCheck.enabled": "false"}):
        summary = maintain.maintain(spark, dataclasses.replace(params, generate_input=False,
                                                               maintenance_retention_hours=0))

    assert [table.table for table in summary.tables] == present
    assert all(table.files_after <= table.files_before for table in summary.tables)
    compacted = [table for table in summary.tables if table.files_compacted]
    assert compacted and all(table.files_vacuumed >= table.files_compacted for table in compacted), compacted
    runs = tables.PIPELINE_RUNS.name
    assert {name: storage.read_table(spark, LAKE, name).count() for name in present} == {**rows, runs: rows[runs] + 1}
    keys = {item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="lake/")
            for item in page.get("Contents", [])}
    data_files = Counter(key.split("/")[1] for key in keys if key.endswith(".parquet") and "/_delta_log/" not in key)
    after = {table.table: table.files_after for table in summary.tables if table.table != runs}  # + its own row
    assert {name: data_files[name] for name in after} == after, "after VACUUM the bucket holds the tables' files only"
    checkpointed = {key.split("/")[1] for key in keys if key.endswith(".checkpoint.parquet")}
    assert set(present) <= checkpointed, "each table got its checkpoint in the bucket"
    last = storage.read_table(spark, LAKE, runs).filter(f"run_id = '{summary.run_id}'").first()
    assert (last["layer"], last["status"]) == (maintain.LAYER, "succeeded")
    assert lock_object(s3, LAKE) is None, "maintenance deleted its lock object"
