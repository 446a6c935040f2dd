"""Dashboard fixtures: the app under AppTest, and the app served by `streamlit run` for a browser."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lakehouse_testing import free_port
from lib.contracts.paths import REPO_ROOT

APP = REPO_ROOT / "dashboard" / "app.py"


@pytest.fixture
def open_app(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path, str], AppTest]:
    """Run the app on a lake (through `LAKE_DIR`, as an operator would) and open one page."""

    def open_page(lake: Path, page: str = "overview") -> AppTest:
        monkeypatch.setenv("LAKE_DIR", str(lake))
        app = AppTest.from_file(str(APP), default_timeout=60)
        app.run()
        if page != "overview":
            app.switch_page(f"views/{page}.py").run()
        assert not app.exception, [e.value for e in app.exception]
        return app

    return open_page


@pytest.fixture
def served_app(pipeline_lake: Path, tmp_path: Path) -> Iterator[str]:
    """`streamlit run` on a free localhost port over the fixture lake; its URL once healthy."""
    port = free_port()
    log = (tmp_path / "streamlit.log").open("w")
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", "localhost", "--server.port", str(port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--", "--lake", str(pipeline_lake),
    ]
    server = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start: {(tmp_path / 'streamlit.log').read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()

