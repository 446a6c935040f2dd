"""The notebook series run for you: papermill execution, the runner, the daily scheduler."""
