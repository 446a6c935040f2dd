"""Spark's web UI: served on loopback for an analyst's session, off for every other session."""

from __future__ import annotations

import subprocess
import sys
import urllib.parse

import pytest
from pyspark.sql import SparkSession

from lib.contracts.paths import REPO_ROOT
from lib.lake.session import SessionMismatch, build_spark

# In its own JVM because the UI is fixed when a JVM's first context starts, and the tests' session has none.
SERVE_UI = """
import socket, urllib.parse, urllib.request
from lib.lake.session import build_spark
spark = build_spark("local[1]", app_name="ui-test", shuffle_partitions=1, driver_memory="1g", ui=True)
url = spark.sparkContext.uiWebUrl
port = urllib.parse.urlparse(url).port
with urllib.request.urlopen(f"http://127.0.0.1:{port}/jobs/", timeout=60) as response:
    status = response.status
# The host's own address other than loopback (no packet is sent), where the UI must not answer.
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
    probe.connect(("10.255.255.255", 1))
    address = probe.getsockname()[0]
try:
    socket.create_connection((address, port), timeout=5).close()
    elsewhere = "answers"
except OSError:
    elsewhere = "refused"
print(url, status, address, elsewhere)
spark.stop()
"""


@pytest.mark.end_to_end
def test_a_session_built_with_ui_serves_it_on_loopback_only() -> None:
    result = subprocess.run([sys.executable, "-c", SERVE_UI], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    url, status, address, elsewhere = result.stdout.split()
    shown = urllib.parse.urlparse(url)
    assert (shown.scheme, shown.hostname, status) == ("http", "localhost", "200")
    assert 4040 <= shown.port <= 4056, "4040, or one of the next 16 when another session holds it"
    assert elsewhere == "refused" or address.startswith("127."), f"the UI answers on {address}"


def test_the_default_session_serves_no_ui(spark: SparkSession) -> None:
    assert spark.sparkContext.uiWebUrl is None
    assert spark.conf.get("spark.ui.enabled") == "false"


def test_asking_the_running_session_without_a_ui_for_one_is_an_error(spark: SparkSession) -> None:
    """Its UI is fixed when it starts: the caller is told, rather than given a session without the UI it asked for."""
    partitions = int(spark.conf.get("spark.sql.shuffle.partitions"))
    with pytest.raises(SessionMismatch, match="cannot change spark.ui.enabled from false to true, fixed when it"):
        build_spark(spark.conf.get("spark.master"), shuffle_partitions=partitions,
                    driver_memory=spark.conf.get("spark.driver.memory"), ui=True)
    assert spark.sparkContext.uiWebUrl is None
