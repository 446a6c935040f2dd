"""Airflow DAGs for the lakehouse: every day at 06:00 UTC, the three notebooks on yesterday's file.

A DAG file for an Airflow installation (2.4 or later, or 3), not imported by the project. Put it
in Airflow's `dags/` folder on a worker that has:

- the project at LAKEHOUSE_HOME (default /opt/lakehouse), set up with `make setup`;
- `apache-airflow-providers-papermill` installed in Airflow's own environment;
- the project's environment registered as a Jupyter kernel named `lakehouse`, so that papermill,
  running in Airflow's environment, executes the notebooks with the project's Python:
  `.venv/bin/python -m ipykernel install --user --name lakehouse --display-name "Lakehouse (.venv)"`.

Two DAGs, the same work; Airflow creates them paused: unpause one.

- `lakehouse_notebooks`: one PapermillOperator task per notebook, each given the parameters of
  the parameter file that its `parameters` cell declares, plus the day's `landing_glob` and a
  run id shared by the three; the executed notebooks go to `runs/<date>/<run_id>/`.
- `lakehouse_scheduled_command`: one BashOperator task calling `python -m lib.orchestration.schedule`, which
  does the same and also prunes old run folders; a failure's one-line reason is the task's error.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import papermill
import yaml
from airflow.providers.papermill.operators.papermill import PapermillOperator
from airflow.timetables.trigger import CronTriggerTimetable

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.operators.bash import BashOperator

PROJECT = Path(os.environ.get("LAKEHOUSE_HOME", "/opt/lakehouse"))
PARAMS_FILE = PROJECT / "params" / "default.yaml"
RUNS_DIR = PROJECT / "runs"
SERIES = ("01_bronze.ipynb", "02_silver.ipynb", "03_gold.ipynb")
KERNEL = "lakehouse"
KEEP_RUNS = 30

# The logical date of a CronTriggerTimetable run is its trigger time: the day before is the
# one whose file has landed in full.
DATE = "{{ macros.ds_add(ds, -1) }}"
RUN_ID = "airflow-{{ ts_nodash }}"
SCHEDULE = CronTriggerTimetable("0 6 * * *", timezone="UTC")
DEFAULT_ARGS = {"retries": 1, "retry_delay": dt.timedelta(minutes=10)}


def notebook_parameters(notebook: Path, values: dict[str, object]) -> dict[str, object]:
    """The parameters of the run that the notebook's `parameters` cell declares (as lib.orchestration.runner passes)."""
    declared = papermill.inspect_notebook(str(notebook))
    return {name: value for name, value in values.items() if name in declared}


RUN_VALUES = {
    **yaml.safe_load(PARAMS_FILE.read_text()),
    "generate_input": False,  # the files come from upstream into landing_dir
    "landing_glob": f"*{DATE}*",  # the generated and exported files are named YYYY-MM-DD.csv
    "run_id": RUN_ID,
}

with DAG(
    dag_id="lakehouse_notebooks",
    schedule=SCHEDULE,
    start_date=dt.datetime(2019, 10, 2, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["lakehouse"],
):
    run_folder = RUNS_DIR / DATE / RUN_ID
    previous = BashOperator(task_id="run_folder", bash_command=f"mkdir -p '{run_folder}'")
    for name in SERIES:
        notebook = PROJECT / "notebooks" / name
        task = PapermillOperator(
            task_id=name.removesuffix(".ipynb"),
            input_nb=str(notebook),
            output_nb=str(run_folder / name),
            parameters=notebook_parameters(notebook, RUN_VALUES),
            kernel_name=KERNEL,
            log_output=True,
        )
        previous >> task
        previous = task

with DAG(
    dag_id="lakehouse_scheduled_command",
    schedule=SCHEDULE,
    start_date=dt.datetime(2019, 10, 2, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["lakehouse"],
):
    BashOperator(
        task_id="scheduled_run",
        bash_command=(
            f"cd '{PROJECT}' && .venv/bin/python -m lib.orchestration.schedule --params '{PARAMS_FILE}' --date {DATE} "
            f"--keep {KEEP_RUNS} --runs-dir '{RUNS_DIR}' --set generate_input=false --no-progress"
        ),
    )
