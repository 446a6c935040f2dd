"""Parameter loading and validation, and the notebooks' parameter cells against PipelineParams."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lib.config import ParameterError, PipelineParams, check_paths, load_params, params_from_mapping
from lib.notebooks import NOTEBOOK_DIR, SERIES, declared_parameters
from lib.spark import REPO_ROOT

ALL_DROP = {
    "valid_event_time": "drop",
    "valid_event_type": "drop",
    "valid_product_id": "drop",
    "valid_user_id": "drop",
    "valid_price": "drop",
    "parseable_record": "drop",
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_an_unknown_key_is_an_error_naming_the_key_and_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "max_price: 10.0\nmax_prize: 5\n")
    with pytest.raises(ParameterError, match=r"params\.yaml: unknown parameter 'max_prize'"):
        load_params(path)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"generator_days": "31"}, "parameter generator_days='31': expected int"),
        ({"generator_days": True}, "parameter generator_days=True: expected int"),
        ({"generator_days": 31.0}, "parameter generator_days=31.0: expected int"),
        ({"generate_input": 1}, "parameter generate_input=1: expected bool"),
        ({"max_price": "1e5"}, "parameter max_price='1e5': expected float"),
        ({"max_price": False}, "parameter max_price=False: expected float"),
        ({"lake_dir": None}, "parameter lake_dir=None: expected str"),
    ],
)
def test_a_wrong_type_is_an_error_naming_the_key_and_the_expected_type(values: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        params_from_mapping(values)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"rfm_recency_days": [7, "14", 30, 60]}, r"rfm_recency_days=\[7, '14', 30, 60\]: expected list\[int\]"),
        ({"rule_actions": ["drop"]}, r"parameter rule_actions=\['drop'\]: expected dict\[str, str\]"),
    ],
)
def test_a_wrong_item_type_names_the_expected_item_type(values: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        params_from_mapping(values)


def test_an_int_is_accepted_for_a_float() -> None:
    params = params_from_mapping({"max_price": 500, "rfm_monetary": [1000, 500, 100, 0]})
    assert (params.max_price, params.rfm_monetary) == (500, [1000, 500, 100, 0])


def test_rule_actions_with_an_unknown_rule_is_an_error_naming_it() -> None:
    with pytest.raises(ParameterError, match="unknown rule 'valid_prize'"):
        params_from_mapping({"rule_actions": {"valid_prize": "drop"}})


def test_rule_actions_with_an_unknown_action_is_an_error_naming_rule_and_action() -> None:
    with pytest.raises(ParameterError, match=r"rule_actions\['valid_price'\]='skip': expected one of drop, warn, fail"):
        params_from_mapping({"rule_actions": {"valid_price": "skip"}})


def test_partial_rule_actions_are_merged_with_the_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "rule_actions:\n  valid_price: warn\n  parseable_record: fail\n")
    assert load_params(path).rule_actions == {**ALL_DROP, "valid_price": "warn", "parseable_record": "fail"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"as_of_date": "2019-13-01"}, "parameter as_of_date='2019-13-01': expected a date YYYY-MM-DD"),
        ({"generator_start_date": ""}, "parameter generator_start_date='': expected a date"),
        ({"rfm_recency_days": [14, 7, 30, 60]}, "rfm_recency_days.*expected 4 thresholds in ascending order"),
        ({"rfm_frequency_sessions": [20, 10, 5]}, "rfm_frequency_sessions.*expected 4 thresholds in descending order"),
        ({"churn_medium_days": 31}, "churn_medium_days: expected at most churn_high_days"),
        ({"shuffle_partitions": 0}, "shuffle_partitions=0: expected a number >= 1"),
        ({"max_price": 0}, "max_price=0: expected a positive price"),
        ({"generator_fault_rate": 1.0}, "generator_fault_rate=1.0: expected 0 <= rate < 1"),
    ],
)
def test_an_out_of_range_value_is_an_error_naming_the_key(values: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        params_from_mapping(values)


def test_load_params_on_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match=r"parameter file .*missing\.yaml does not exist"):
        load_params(tmp_path / "missing.yaml")


def test_load_params_on_invalid_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "max_price: [1.0\n")
    with pytest.raises(ParameterError, match=r"parameter file .*params\.yaml is not valid YAML"):
        load_params(path)


def test_load_params_on_a_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- max_price\n")
    with pytest.raises(ParameterError, match="expected a mapping of parameter: value"):
        load_params(path)


def test_load_params_applies_overrides_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "max_price: 10.0\ngenerator_days: 3\n")
    params = load_params(path, {"max_price": 20.0})
    assert (params.max_price, params.generator_days, params.churn_high_days) == (20.0, 3, 30)


def test_an_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_params(write(tmp_path, "")) == PipelineParams()


def test_params_default_yaml_spells_out_the_defaults() -> None:
    assert load_params(REPO_ROOT / "params" / "default.yaml") == PipelineParams()


@pytest.mark.parametrize("name", ["ci.yaml", "rees46_sample.yaml"])
def test_every_params_file_loads(name: str) -> None:
    assert isinstance(load_params(REPO_ROOT / "params" / name), PipelineParams)


def test_notebook_parameter_defaults_equal_the_params_defaults() -> None:
    defaults = PipelineParams().as_dict()
    for notebook in SERIES:
        declared = declared_parameters(NOTEBOOK_DIR / notebook)
        assert set(declared) <= set(defaults), f"{notebook} declares unknown parameters"
        mismatched = {
            name: (value, defaults[name])
            for name, value in declared.items()
            if value != defaults[name] or type(value) is not type(defaults[name])
        }
        assert mismatched == {}, f"{notebook}: declared default != PipelineParams default"


def test_every_parameter_is_declared_by_a_notebook() -> None:
    declared = set().union(*(declared_parameters(NOTEBOOK_DIR / notebook) for notebook in SERIES))
    fields = {field.name for field in dataclasses.fields(PipelineParams)}
    assert fields - declared == set()


def test_path_parameters_resolve_from_the_project_root_and_keep_uris() -> None:
    params = PipelineParams(lake_dir="lake", landing_dir="s3a://bucket/landing")
    assert params.path("lake_dir") == REPO_ROOT / "lake"
    assert params.path("landing_dir") == "s3a://bucket/landing"
    assert PipelineParams(lake_dir="/data/lake").path("lake_dir") == Path("/data/lake")


def test_the_default_parameter_file_holds_the_defaults() -> None:
    """params/default.yaml, the notebooks' parameters cells and PipelineParams say the same."""
    assert load_params(REPO_ROOT / "params" / "default.yaml") == PipelineParams()


def test_landing_glob_and_column_aliases_are_checked() -> None:
    params = params_from_mapping({"landing_glob": "**/*.csv", "column_aliases": {"customer_id": "user_id"}})
    assert (params.landing_glob, params.column_aliases) == ("**/*.csv", {"customer_id": "user_id"})
    with pytest.raises(ParameterError, match=r"column_aliases\['customer_id'\]='customer': expected a source "
                       r"column, one of event_time, event_type"):
        params_from_mapping({"column_aliases": {"customer_id": "customer"}})
    with pytest.raises(ParameterError, match=r"column_aliases=\['user_id'\]: expected dict\[str, str\]"):
        params_from_mapping({"column_aliases": ["user_id"]})
    with pytest.raises(ParameterError, match=r"landing_glob='/data/\*\.csv': expected a glob relative to landing_dir"):
        params_from_mapping({"landing_glob": "/data/*.csv"})


def test_check_paths_accepts_folders_it_can_use_and_skips_uris(tmp_path: Path) -> None:
    (tmp_path / "landing").mkdir()
    check_paths(PipelineParams(lake_dir=str(tmp_path / "new" / "lake"), landing_dir=str(tmp_path / "landing"),
                               generate_input=False))
    check_paths(PipelineParams(lake_dir="s3a://bucket/lake", landing_dir="s3a://bucket/landing", generate_input=False))
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"landing_dir": "{root}/missing", "generate_input": False},
         "parameter landing_dir='{root}/missing': folder {root}/missing does not exist; expected a folder of CSV files"),
        ({"landing_dir": "{root}/a-file", "generate_input": False},
         "parameter landing_dir='{root}/a-file': {root}/a-file is not a folder; expected a folder of CSV files"),
        ({"lake_dir": "{root}/a-file"},
         "parameter lake_dir='{root}/a-file': {root}/a-file is not a folder; expected a folder where the Delta"),
        ({"lake_dir": "{root}/a-file/lake"},
         "parameter lake_dir='{root}/a-file/lake': {root}/a-file/lake cannot be created: {root}/a-file is a file"),
        ({"landing_dir": "{root}/a-file/landing"},
         "parameter landing_dir='{root}/a-file/landing': .* cannot be created: .*; expected a folder the generated"),
    ],
)
def test_check_paths_names_the_parameter_and_what_is_accepted(tmp_path: Path, values: dict, message: str) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    paths = {key: value.format(root=tmp_path) for key, value in values.items() if isinstance(value, str)}
    params = PipelineParams(**{"lake_dir": str(tmp_path / "lake"), **values, **paths})
    with pytest.raises(ParameterError, match=message.format(root=tmp_path)):
        check_paths(params)


def test_check_paths_on_folders_this_user_cannot_read_or_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The permission errors are simulated: the tests may run as root, whom permissions do not stop."""
    (tmp_path / "landing").mkdir()

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("os.scandir", denied)
    with pytest.raises(ParameterError, match=r"landing_dir='.*': folder .* cannot be read \(Permission denied\); "
                       "expected a folder this user can list and read"):
        check_paths(PipelineParams(lake_dir=str(tmp_path / "lake"), landing_dir=str(tmp_path / "landing"),
                                   generate_input=False))
    monkeypatch.setattr("tempfile.TemporaryFile", denied)
    with pytest.raises(ParameterError, match=r"lake_dir='.*lake': folder .*lake cannot be created in .* "
                       r"\(Permission denied\); expected a folder where the Delta tables can be written"):
        check_paths(PipelineParams(lake_dir=str(tmp_path / "lake")))
