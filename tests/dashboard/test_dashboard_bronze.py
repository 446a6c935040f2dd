"""The data-quality page's arithmetic with bronze rows in `dq_metrics` beside silver's."""

from __future__ import annotations

import pandas as pd

from dashboard import metrics


def test_bronze_rows_do_not_enter_silver_quality_and_the_latest_bronze_run_is_shown() -> None:
    at = pd.to_datetime(["2024-05-01 10:00", "2024-05-01 10:00", "2024-05-01 10:05", "2024-05-01 10:05",
                         "2024-05-02 10:00"], utc=True)
    dq = pd.DataFrame({
        "run_id": ["r1", "r1", "r1", "r1", "r2"],
        "layer": ["bronze", "bronze", "silver", "silver", "bronze"],
        "rule": ["files_empty", "lines_rescued", "parseable_record", "quality_score", "files_empty"],
        "evaluated": [3, 100, 100, 100, 1],
        "failed": [1, 2, 2, 2, 0],
        "failed_pct": [33.33, 2.0, 2.0, 2.0, 0.0],
        "value": [33.33, 2.0, 2.0, 98.0, 0.0],
        "measured_at": at,
    })
    assert list(metrics.layer_rows(dq, "silver")["rule"]) == ["parseable_record", "quality_score"]
    assert list(metrics.quality_by_run(dq)["run_id"]) == ["r1"]  # r2 had a bronze run only
    assert metrics.bronze_monitors(dq).to_dict("records") == [
        {"rule": "files_empty", "evaluated": 1, "failed": 0, "failed_pct": 0.0}]
    assert list(metrics.layer_rows(dq.drop(columns="layer"), "silver")["rule"]) == list(dq["rule"])
