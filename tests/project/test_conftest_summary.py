"""The reliability summary in conftest.py survives a test file that fails to import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lib.contracts.paths import REPO_ROOT

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
# The project's summary hook, loaded under another module name into a scratch suite.
SCRATCH_CONFTEST = f"""
import importlib.util

spec = importlib.util.spec_from_file_location("lakehouse_conftest", {str(CONFTEST)!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
pytest_terminal_summary = module.pytest_terminal_summary
"""


def test_a_collection_error_is_shown_and_fails_the_run(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(SCRATCH_CONFTEST)
    (tmp_path / "test_bad_input.py").write_text('raise FileNotFoundError("sample rows not found: data/x.csv")\n')
    (tmp_path / "test_reliability.py").write_text("def test_survives():\n    assert True\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(CONFTEST.parent), str(REPO_ROOT)])}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode not in (0, 5), output
    assert "FileNotFoundError: sample rows not found: data/x.csv" in output
    assert "INTERNALERROR" not in output and "user_properties" not in output, output
