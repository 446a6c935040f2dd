"""The jar cache follows the versions: a session never loads Delta jars resolved for another coordinate."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from lib.lake import session as spark_module

OTHER_COORDINATE = "io.delta:delta-spark_4.1_2.13:4.3.0"
OLD_JARS = ["io.delta_delta-spark_4.1_2.13-4.3.0.jar", "io.delta_delta-storage-4.3.0.jar"]
NEW_JARS = ["io.delta_delta-spark_4.2_2.13-4.4.0.jar", "io.delta_delta-storage-4.4.0.jar"]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty ivy folder standing in for .cache/ivy."""
    monkeypatch.setattr(spark_module, "IVY_DIR", tmp_path)
    monkeypatch.setattr(spark_module, "JARS_DIR", tmp_path / "jars")
    (tmp_path / "jars").mkdir()
    return tmp_path


def resolved(cache: Path, names: list[str], coordinate: str) -> list[Path]:
    """Jars as ivy leaves them: retrieved into jars/, kept in its cache/, listed in the manifest."""
    for name in names:
        (cache / "jars" / name).write_bytes(b"jar")
        organisation, _, artifact_file = name.partition("_")
        kept = cache / "cache" / organisation / artifact_file.rsplit("-", 1)[0] / "jars" / artifact_file
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_bytes(b"jar")
    (cache / "jars" / "delta-jars.json").write_text(json.dumps({"coordinate": coordinate, "jars": names}))
    return sorted(cache / "jars" / name for name in names)


def test_jars_recorded_for_another_coordinate_are_not_loaded(cache: Path) -> None:
    resolved(cache, OLD_JARS, OTHER_COORDINATE)
    assert spark_module.delta_maven_coordinate() != OTHER_COORDINATE
    assert spark_module.cached_jars() == []
    assert spark_module.jar_settings() == {
        "spark.jars.packages": spark_module.delta_maven_coordinate(), "spark.jars.ivy": str(cache),
    }


def test_jars_without_a_manifest_are_not_loaded(cache: Path) -> None:
    for name in OLD_JARS:
        (cache / "jars" / name).write_bytes(b"jar")
    assert spark_module.cached_jars() == []


def test_jars_recorded_for_the_installed_coordinate_are_loaded(cache: Path) -> None:
    jars = resolved(cache, NEW_JARS, spark_module.delta_maven_coordinate())
    assert spark_module.cached_jars() == jars
    assert spark_module.jar_settings() == {"spark.jars": ",".join(str(jar) for jar in jars)}


def test_a_missing_recorded_jar_makes_the_cache_stale(cache: Path) -> None:
    jars = resolved(cache, NEW_JARS, spark_module.delta_maven_coordinate())
    jars[0].unlink()
    assert spark_module.cached_jars() == []


def test_an_earlier_resolution_is_left_out_and_a_jar_put_there_by_hand_is_kept(cache: Path) -> None:
    resolved(cache, OLD_JARS, OTHER_COORDINATE)
    jars = resolved(cache, NEW_JARS, spark_module.delta_maven_coordinate())
    connector = cache / "jars" / "hadoop-aws-3.4.2.jar"
    connector.write_bytes(b"jar")
    assert spark_module.cached_jars() == sorted([*jars, connector])


class FakeSession:
    """What fetch_jars reads of a session: the jars that spark.jars.packages resolved."""

    def __init__(self, jars: list[Path]) -> None:
        conf = {"spark.jars": ",".join(jar.as_uri() for jar in jars)}
        self.sparkContext = SimpleNamespace(getConf=lambda: SimpleNamespace(get=lambda key, default: conf[key]))

    def range(self, count: int) -> SimpleNamespace:
        return SimpleNamespace(count=lambda: count)

    def stop(self) -> None:
        pass


def test_fetch_resolves_again_after_a_version_change_and_records_the_coordinate(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolved(cache, OLD_JARS, OTHER_COORDINATE)
    new = [cache / "jars" / name for name in NEW_JARS]
    sessions = []

    def resolving_session(**options: object) -> FakeSession:
        assert spark_module.jar_settings()["spark.jars.packages"] == spark_module.delta_maven_coordinate()
        for jar in new:
            jar.write_bytes(b"jar")
        sessions.append(options)
        return FakeSession(new)

    monkeypatch.setattr(spark_module, "build_spark", resolving_session)
    assert spark_module.fetch_jars() == sorted(new)
    assert len(sessions) == 1
    manifest = json.loads((cache / "jars" / "delta-jars.json").read_text())
    assert manifest == {"coordinate": spark_module.delta_maven_coordinate(), "jars": sorted(NEW_JARS)}
    assert spark_module.fetch_jars() == sorted(new) and len(sessions) == 1, "a current cache starts no session"
