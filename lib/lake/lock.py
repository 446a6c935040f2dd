"""One writer at a time per lake: an advisory lock file in the lake folder.

Delta's optimistic concurrency keeps each commit atomic, but a layer's run is several commits
(and recovery restores tables), so two runs interleaving on one lake could undo each other's
work. Every layer run holds this lock from its recovery to its ledger row. The operating system
releases it when the holding process ends, even on SIGKILL, so it is never stale.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LOCK_FILE = ".lakehouse.lock"


class LakeBusy(RuntimeError):
    """Another run holds the lake's lock and did not release it in time."""


def _holder(lock_path: Path) -> str:
    """Who holds the lock, from what the holder wrote into the lock file."""
    try:
        info: dict[str, Any] = json.loads(lock_path.read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another run"
    return (
        f"run {info.get('run_id')} ({info.get('layer')}, pid {info.get('pid')} on {info.get('host')}, "
        f"since {info.get('since')} UTC)"
    )


@contextlib.contextmanager
def lake_lock(lake_dir: str | Path, run_id: str, layer: str, timeout_seconds: float) -> Iterator[None]:
    """Hold the lake's write lock; wait up to timeout_seconds for another holder, then raise LakeBusy.

    A lake given as a URI (s3a://, abfss://) has no shared file lock: runs on object storage
    rely on one scheduler starting them one after another.
    """
    if "://" in str(lake_dir):
        yield
        return
    lake = Path(lake_dir)
    lake.mkdir(parents=True, exist_ok=True)
    lock_path = lake / LOCK_FILE
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(descriptor, lock_path, timeout_seconds)
        info = {"run_id": run_id, "layer": layer, "pid": os.getpid(), "host": socket.gethostname(),
                "since": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, json.dumps(info).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(descriptor, 0)
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def _acquire(descriptor: int, lock_path: Path, timeout_seconds: float) -> None:
    deadline = time.monotonic() + timeout_seconds
    announced = False
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            holder = _holder(lock_path)
            if time.monotonic() >= deadline:
                raise LakeBusy(
                    f"lake {lock_path.parent} is being written by {holder}; waited {timeout_seconds:g} s "
                    "(parameter lock_timeout_seconds). Let that run finish, or run again later; "
                    "a lock whose process has ended is released by the operating system."
                ) from None
            if not announced:
                print(f"lake {lock_path.parent} is being written by {holder}: waiting up to "
                      f"{timeout_seconds:g} s", flush=True)
                announced = True
            time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
