"""The landing folder as bronze sees it: the glob, binary files, per-file outcomes and monitors."""

from __future__ import annotations

import pytest

from lib.transforms import landing_files, quality


@pytest.mark.parametrize(
    ("glob", "selected"),
    [
        ("", ["2019-10-01.csv", "2019-10-02.csv", "late/2019-10-02.csv", "notes.md"]),
        ("2019-10-02*", ["2019-10-02.csv"]),
        ("**/2019-10-02*", ["2019-10-02.csv", "late/2019-10-02.csv"]),
        ("**/*.csv", ["2019-10-01.csv", "2019-10-02.csv", "late/2019-10-02.csv"]),
        ("*.csv", ["2019-10-01.csv", "2019-10-02.csv"]),
        ("2019-10-0[!1].csv", ["2019-10-02.csv"]),
        ("late/*", ["late/2019-10-02.csv"]),
    ],
)
def test_landing_glob_matches_paths_under_the_landing_folder(glob: str, selected: list[str]) -> None:
    paths = ["2019-10-01.csv", "2019-10-02.csv", "late/2019-10-02.csv", "notes.md"]
    assert landing_files.matching(paths, glob) == selected


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\x1f\x8b\x08\x00", "gzip"),
        (b"PAR1\x15\x04", "parquet"),
        (b"\x89PNG\r\n", "png"),
        (b"2019-10-01 00:00:00 UTC,vi\x00ew", "NUL bytes"),
        (b"event_time,event_type\n", None),
        ("brand,nestl\xe9\n".encode("latin-1"), None),  # not UTF-8, still text: its lines are rescued
        (b"", None),
    ],
)
def test_binary_kind_by_signature_or_nul_bytes(head: bytes, kind: str | None) -> None:
    assert landing_files.binary_kind(head) == kind


def test_monitor_counts_cover_every_bronze_monitor_over_new_files_and_lines() -> None:
    stats = landing_files.FileStats(rows=4, rescued=1, not_utf8=1, first_not_utf8_line=3, unbalanced_quotes=0,
                              first_rescued="x")
    outcomes = landing_files.file_outcomes(
        ["a.csv", "b.csv", "c.gz", "d.csv", "e.csv"],
        refused={"c.gz": "gzip"},
        headers={"a.csv": ["event_time", "event_type", "campaign"], "d.csv": ["event_time", "event_type"]},
        stats={"a.csv": stats, "b.csv": stats},
        aliases={},
    )
    assert [o.status for o in outcomes] == ["ingested", "ingested", "refused: binary", "header only", "empty"]
    counts = landing_files.monitor_counts(outcomes)
    assert list(counts) == list(quality.BRONZE_MONITORS)
    assert counts["files_refused_binary"] == (5, 1)
    assert counts["files_without_header"] == (2, 1)
    assert counts["files_extra_columns"] == counts["files_missing_columns"] == (1, 1)
    assert counts["lines_rescued"] == counts["lines_not_utf8"] == (8, 2)


@pytest.mark.parametrize(
    ("uri", "landing_uri", "name"),
    [
        ("file:/tmp/landing/2019-10-01.csv", "file:/tmp/landing", "2019-10-01.csv"),
        ("file:/tmp/landing/oct/2019-10-02.csv", "file:/tmp/landing/", "oct/2019-10-02.csv"),
        ("file:///tmp/landing/2019-10-03.csv", "file:/tmp/landing", "2019-10-03.csv"),
        ("file:/tmp/landing/day%201.csv", "file:/tmp/landing", "day 1.csv"),  # a space, percent-encoded
        ("file:/tmp/landing/c+d.csv", "file:/tmp/landing", "c+d.csv"),  # a plus sign stays one
        ("file:/tmp/landing/50%25.csv", "file:/tmp/landing", "50%.csv"),
        ("file:/tmp/my%20landing/x.csv", "file:/tmp/my%20landing", "x.csv"),
        ("s3a://bucket/landing/2019-10-01.csv", "s3a://bucket/landing", "2019-10-01.csv"),
    ],
)
def test_a_landing_file_is_named_by_its_path_under_the_landing_folder(uri: str, landing_uri: str, name: str) -> None:
    assert landing_files.source_file(uri, landing_uri) == name


def test_a_file_outside_the_landing_folder_is_an_error_naming_both() -> None:
    with pytest.raises(ValueError, match="file:/tmp/other/a.csv is not under the landing folder file:/tmp/landing"):
        landing_files.source_file("file:/tmp/other/a.csv", "file:/tmp/landing")
