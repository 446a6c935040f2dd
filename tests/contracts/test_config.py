"""Parameter loading, validation and overrides (in every command), and the notebooks' parameter cells."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
from pyspark.sql import Row

from lib import layers
from lib.contracts.params import (
    COMMAND_PARAMETERS,
    ParameterError,
    PipelineParams,
    check_paths,
    load_params,
    merge_parameters,
    params_from_mapping,
    parse_overrides,
)
from lib.contracts.paths import REPO_ROOT
from lib.ops import replay, reproduce
from lib.orchestration import notebooks, runner, schedule
from lib.orchestration.notebooks import NOTEBOOK_DIR, SERIES, declared_parameters

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
        ({"rule_actions": ["drop"]}, r"parameter rule_actions=\['drop'\]: expected dict\[valid_event_time \| "
                                     r"valid_event_type .*, drop \| warn \| fail\]"),
    ],
)
def test_a_wrong_item_type_names_the_expected_item_type(values: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        params_from_mapping(values)


def test_an_int_is_accepted_for_a_float() -> None:
    params = params_from_mapping({"max_price": 500, "rfm_monetary": [1000, 500, 100, 0]})
    assert (params.max_price, params.rfm_monetary) == (500, [1000, 500, 100, 0])


def test_rule_actions_with_an_unknown_rule_is_an_error_naming_it() -> None:
    with pytest.raises(ParameterError, match="parameter rule_actions: unknown key 'valid_prize'; expected one of "
                       "valid_event_time, valid_event_type, valid_product_id, valid_user_id, valid_price, parseable"):
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
        ({"churn_medium_days": 31}, r"churn_medium_days=31: expected at most churn_high_days \(30\)"),
        ({"shuffle_partitions": 0}, "shuffle_partitions=0: expected shuffle_partitions >= 1"),
        ({"max_price": 0}, "max_price=0: expected max_price > 0"),
        ({"generator_fault_rate": 1.0}, "generator_fault_rate=1.0: expected 0 <= generator_fault_rate <= 0.25"),
        ({"generator_fault_rate": 0.5}, "generator_fault_rate=0.5: expected 0 <= generator_fault_rate <= 0.25"),
        ({"generator_seed": -1}, "generator_seed=-1: expected generator_seed >= 0"),
        ({"generator_events_per_day": 0}, "generator_events_per_day=0: expected generator_events_per_day >= 1"),
        ({"lock_timeout_seconds": -1}, "lock_timeout_seconds=-1: expected lock_timeout_seconds >= 0"),
        ({"generator_start_date": "9999-12-30", "generator_days": 3},
         "generator_start_date='9999-12-30': expected a date whose 3 generated days end by 9999-12-31"),
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


# Parameters whose notebook default is meant to differ: what JupyterLab gets against what runs get.
WAY_OF_RUNNING_DEFAULTS = {"spark_ui": (True, False)}


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
        assert mismatched == {
            name: pair for name, pair in WAY_OF_RUNNING_DEFAULTS.items() if name in declared
        }, f"{notebook}: declared default != PipelineParams default"


def test_the_analyst_gets_the_spark_ui_and_runs_do_not() -> None:
    for notebook in SERIES:
        assert declared_parameters(NOTEBOOK_DIR / notebook)["spark_ui"] is True, notebook
    for name in ("default.yaml", "ci.yaml", "rees46_sample.yaml"):
        assert load_params(REPO_ROOT / "params" / name).spark_ui is False, name


def test_every_parameter_is_declared_by_a_notebook() -> None:
    declared = set().union(*(declared_parameters(NOTEBOOK_DIR / notebook) for notebook in SERIES))
    fields = {field.name for field in dataclasses.fields(PipelineParams)}
    assert fields - declared == set(COMMAND_PARAMETERS)


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
    with pytest.raises(ParameterError, match=r"column_aliases\['customer_id'\]='customer': expected one of "
                       r"event_time, event_type, product_id"):
        params_from_mapping({"column_aliases": {"customer_id": "customer"}})
    with pytest.raises(ParameterError, match=r"column_aliases=\['user_id'\]: expected dict\[str, event_time \| "):
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


def test_the_message_names_the_file_key_value_and_what_is_expected(tmp_path: Path) -> None:
    path = write(tmp_path, "generator_fault_rate: 0.5\n")
    with pytest.raises(ParameterError) as raised:
        load_params(path)
    expected = "expected 0 <= generator_fault_rate <= 0.25"
    assert str(raised.value) == f"{path}: parameter generator_fault_rate=0.5: {expected}"


def test_a_date_yaml_reads_unquoted_is_taken_as_its_text(tmp_path: Path) -> None:
    """`--set generator_start_date=2019-10-02` and an unquoted date in a file both read as a YAML date."""
    overrides = parse_overrides(["generator_start_date=2019-10-02"])
    params = load_params(write(tmp_path, "as_of_date: 2019-11-01\n"), overrides)
    assert (params.as_of_date, params.generator_start_date) == ("2019-11-01", "2019-10-02")


def test_merge_parameters_merges_mappings_recursively_and_replaces_the_rest() -> None:
    base = {"a": {"b": {"c": 1, "d": 2}, "e": 3}, "f": [1, 2], "g": 1}
    merged = merge_parameters(base, {"a": {"b": {"c": 5}}, "f": [3], "g": {"h": 1}})
    assert merged == {"a": {"b": {"c": 5, "d": 2}, "e": 3}, "f": [3], "g": {"h": 1}}
    assert base == {"a": {"b": {"c": 1, "d": 2}, "e": 3}, "f": [1, 2], "g": 1}


def test_parse_overrides_reads_the_dotted_form_into_one_mapping() -> None:
    pairs = ["rule_actions.valid_user_id=warn", "rule_actions={valid_price: fail}", "column_aliases.cust.id=user_id",
             "generator_days=7"]
    assert parse_overrides(pairs) == {
        "rule_actions": {"valid_user_id": "warn", "valid_price": "fail"},
        "column_aliases": {"cust.id": "user_id"},
        "generator_days": 7,
    }
    with pytest.raises(ParameterError, match=r"--set 'rule_actions.=warn': expected rule_actions.KEY=value"):
        parse_overrides(["rule_actions.=warn"])


def test_a_dotted_override_of_a_parameter_that_is_no_mapping_is_a_type_error(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match=r"parameter max_price=\{'x': 1\}: expected float"):
        load_params(write(tmp_path, ""), parse_overrides(["max_price.x=1"]))


# A parameter file that sets a non-default action and alias, and the two forms of overriding
# one more action: each must keep what the file set.
OVERRIDE_FORMS = [["rule_actions={valid_user_id: warn}"], ["rule_actions.valid_user_id=warn"]]
FILE_ACTIONS = {**ALL_DROP, "valid_event_type": "warn"}
MERGED_ACTIONS = {**ALL_DROP, "valid_event_type": "warn", "valid_user_id": "warn"}


def non_default_file(tmp_path: Path) -> Path:
    (tmp_path / "landing").mkdir(exist_ok=True)
    return write(tmp_path, f"lake_dir: {tmp_path / 'lake'}\nlanding_dir: {tmp_path / 'landing'}\n"
                           "generate_input: false\nrule_actions:\n  valid_event_type: warn\n"
                           "column_aliases:\n  customer_id: user_id\n")


@pytest.mark.parametrize("pairs", OVERRIDE_FORMS)
def test_an_override_of_one_action_keeps_the_actions_the_file_set(tmp_path: Path, pairs: list[str]) -> None:
    params = load_params(non_default_file(tmp_path), parse_overrides(pairs))
    assert params.rule_actions == MERGED_ACTIONS
    assert params.column_aliases == {"customer_id": "user_id"}


@pytest.mark.parametrize("pairs", [["column_aliases={cust: product_id}"], ["column_aliases.cust=product_id"]])
def test_an_override_of_one_alias_keeps_the_aliases_the_file_set(tmp_path: Path, pairs: list[str]) -> None:
    params = load_params(non_default_file(tmp_path), parse_overrides(pairs))
    assert params.column_aliases == {"customer_id": "user_id", "cust": "product_id"}
    assert params.rule_actions == FILE_ACTIONS


class NotebooksExecuted:
    """Stands in for notebooks.execute: records each notebook's parameters, runs nothing."""

    def __init__(self) -> None:
        self.parameters: dict[str, dict] = {}

    def __call__(self, notebook: Path, output: Path, parameters: dict, *args: object) -> SimpleNamespace:
        self.parameters[notebook.name] = dict(parameters)
        return SimpleNamespace(seconds=0.0)


def set_flags(pairs: list[str]) -> list[str]:
    return [argument for pair in pairs for argument in ("--set", pair)]


@pytest.mark.parametrize("pairs", OVERRIDE_FORMS)
@pytest.mark.parametrize("command", [runner, schedule], ids=["runner", "schedule"])
def test_the_commands_pass_the_silver_notebook_the_merged_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pairs: list[str], command: ModuleType
) -> None:
    executed = NotebooksExecuted()
    monkeypatch.setattr(notebooks, "execute", executed)
    argv = ["--params", str(non_default_file(tmp_path)), "--runs-dir", str(tmp_path / "runs"), "--no-progress",
            *set_flags(pairs)]
    assert command.main(argv) == 0
    assert executed.parameters["02_silver.ipynb"]["rule_actions"] == MERGED_ACTIONS


@pytest.mark.parametrize("pairs", OVERRIDE_FORMS)
def test_the_replay_evaluates_with_the_merged_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pairs: list[str]
) -> None:
    replayed: list[PipelineParams] = []

    def run_replay(spark: object, params: PipelineParams) -> None:
        replayed.append(params)
        raise layers.RuleFailure("the test stops the replay here")

    monkeypatch.setattr(replay, "build_spark", lambda *args, **kwargs: None)
    monkeypatch.setattr(replay, "run_replay", run_replay)
    assert replay.main(["--params", str(non_default_file(tmp_path)), *set_flags(pairs)]) == 1
    assert [params.rule_actions for params in replayed] == [MERGED_ACTIONS]


@pytest.mark.parametrize("pairs", OVERRIDE_FORMS)
def test_a_reproduction_merges_the_overrides_into_the_recorded_parameters(tmp_path: Path, pairs: list[str]) -> None:
    recorded = load_params(non_default_file(tmp_path)).as_dict()
    run = Row(run_id="r1", layer="silver", notebook="02_silver.ipynb", parameters=json.dumps(recorded))
    values = reproduce.notebook_parameters(run, parse_overrides(pairs), tmp_path / "scratch", tmp_path / "landing",
                                           "r1-reproduced")
    assert (values["rule_actions"], values["lake_dir"]) == (MERGED_ACTIONS, str(tmp_path / "scratch"))


def test_a_run_recorded_before_a_parameter_existed_is_reproduced_with_the_pipeline_default(tmp_path: Path) -> None:
    """The notebooks' own default of spark_ui is true (for JupyterLab); a reproduction must not start a UI."""
    recorded = {name: value for name, value in PipelineParams().as_dict().items() if name != "spark_ui"}
    run = Row(run_id="r1", layer="gold", notebook="03_gold.ipynb", parameters=json.dumps(recorded))
    values = reproduce.notebook_parameters(run, {}, tmp_path / "scratch", tmp_path / "landing", "r1-reproduced")
    assert values["spark_ui"] is False


def test_the_runner_stops_a_fault_rate_the_generator_refuses_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """0.5 once passed validation and failed inside the bronze notebook, in the generator."""
    executed = NotebooksExecuted()
    monkeypatch.setattr(notebooks, "execute", executed)
    params_file = REPO_ROOT / "params" / "ci.yaml"
    argv = ["--params", str(params_file), "--runs-dir", str(tmp_path / "runs"), "--set", "generator_fault_rate=0.5"]
    assert runner.main(argv) == 2
    assert capsys.readouterr().err == (
        f"error: {params_file}: parameter generator_fault_rate=0.5: expected 0 <= generator_fault_rate <= 0.25\n"
    )
    assert executed.parameters == {} and not (tmp_path / "runs").exists()
