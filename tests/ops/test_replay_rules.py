"""A replay applies silver's own rules and checks: a `fail` rule stops it before any write, naming rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from lakehouse_testing import run_all_layers, scratch_params
from lib import layers
from lib.lake import storage
from lib.ops import replay


def test_a_fail_rule_stops_the_replay_naming_the_rule_and_rows_and_writes_nothing(
    spark: SparkSession, tmp_path: Path
) -> None:
    params = scratch_params(tmp_path, run_id="replay-rules", generator_days=1, generator_events_per_day=400,
                            generator_fault_rate=0.05)
    run_all_layers(spark, params)
    lake = params.path("lake_dir")
    tables = ("events_quarantine", "events_cleaned", "quarantine_history", "dq_metrics")
    before = {name: storage.table_version(spark, lake, name) for name in tables}
    failing = scratch_params(tmp_path, run_id="replay-fail", generate_input=False,
                             rule_actions={"valid_price": "fail"})
    with pytest.raises(layers.RuleFailure,
                       match=r"rule valid_price \(action fail\) failed on \d+ of \d+ rows, e\.g\. at \S+\.csv:\d+"):
        replay.run_replay(spark, failing)
    assert {name: storage.table_version(spark, lake, name) for name in tables} == before
