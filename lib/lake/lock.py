"""One writer at a time per lake: an advisory lock file in the lake folder, or a lock object in object storage.

Delta's optimistic concurrency keeps each commit atomic, but a layer's run is several commits
(and recovery restores tables), so two runs interleaving on one lake could undo each other's
work. Every layer run holds this lock from its recovery to its ledger row. On a local lake the
operating system releases it when the holding process ends, even on SIGKILL, so it is never stale.

Object storage has no file lock. There the lock is an object, `.lakehouse.lock` in the lake,
created only if absent (S3's conditional put, `If-None-Match: *`), so of two runs exactly one
creates it. The holder renews its expiry time while it runs and deletes the object at the end; a
run that was killed leaves it behind, and its expiry time, no longer renewed, shows it is stale.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from py4j.protocol import Py4JJavaError
from pyspark import SparkContext

LOCK_FILE = ".lakehouse.lock"
# A lock object whose holder has not renewed it for this long is stale: that run was killed.
LEASE_SECONDS = 600.0
RENEW_SECONDS = 60.0
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


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
    return _describe(info)


def _describe(info: dict[str, Any]) -> str:
    return (
        f"run {info.get('run_id')} ({info.get('layer')}, pid {info.get('pid')} on {info.get('host')}, "
        f"since {info.get('since')} UTC)"
    )


def _holder_info(run_id: str, layer: str) -> dict[str, Any]:
    return {"run_id": run_id, "layer": layer, "pid": os.getpid(), "host": socket.gethostname(),
            "since": dt.datetime.now(dt.timezone.utc).strftime(TIME_FORMAT)}


@contextlib.contextmanager
def lake_lock(lake_dir: str | Path, run_id: str, layer: str, timeout_seconds: float) -> Iterator[None]:
    """Hold the lake's write lock; wait up to timeout_seconds for another holder, then raise LakeBusy.

    A lake given as a URI other than file:// (s3a://, abfss://) is locked with a lock object,
    through the running Spark session's Hadoop file system (the credentials its writes use).
    """
    location = urllib.parse.urlparse(str(lake_dir))
    if "://" in str(lake_dir) and location.scheme != "file":
        with _object_lock(str(lake_dir), _holder_info(run_id, layer), timeout_seconds):
            yield
        return
    lake = Path(location.path if location.scheme == "file" else lake_dir)
    lake.mkdir(parents=True, exist_ok=True)
    lock_path = lake / LOCK_FILE
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(descriptor, lock_path, timeout_seconds)
        info = _holder_info(run_id, layer)
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


@contextlib.contextmanager
def _object_lock(lake: str, info: dict[str, Any], timeout_seconds: float) -> Iterator[None]:
    """Hold the lock object of a lake in object storage, renewed while held, deleted on exit."""
    lock = LockObject(lake)
    info = {**info, "token": uuid.uuid4().hex}
    lock.acquire(info, timeout_seconds)
    stop = threading.Event()
    renewer = threading.Thread(target=lock.renew_until, args=(stop, info), name="lake-lock-renewal", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        lock.release(info)


class LockObject:
    """The lock object `.lakehouse.lock` of a lake in object storage, through Hadoop's file system API."""

    def __init__(self, lake: str) -> None:
        context = SparkContext._active_spark_context
        if context is None:
            raise RuntimeError(f"lake {lake} is locked through the Spark session's Hadoop file system: start the session first")
        self.uri = f"{lake.rstrip('/')}/{LOCK_FILE}"
        self._jvm = context._jvm
        self._path = self._jvm.org.apache.hadoop.fs.Path(self.uri)
        configuration = context._jsc.hadoopConfiguration()
        self._s3a = self._path.toUri().getScheme() == "s3a"
        if self._s3a and not configuration.getBoolean("fs.s3a.create.conditional.enabled", True):
            raise RuntimeError(f"lake {lake} cannot be locked with fs.s3a.create.conditional.enabled=false: "
                               "unset it (S3 and S3-compatible stores need conditional puts, If-None-Match)")
        self._fs = self._path.getFileSystem(configuration)

    def acquire(self, info: dict[str, Any], timeout_seconds: float) -> None:
        """Create the lock object; wait up to timeout_seconds while a live run holds it, then raise LakeBusy."""
        deadline = time.monotonic() + timeout_seconds
        announced = False
        while not self._create(_renewed(info)):
            held = self.read()
            if held is None:  # released between the two calls
                continue
            if _expired(held):
                raise LakeBusy(
                    f"lake {self.uri.rsplit('/', 1)[0]} has a stale lock: {_describe(held)} stopped renewing it, "
                    f"which expired at {held.get('expires')} UTC, so that run was killed; make sure it is not "
                    f"running, then delete {self.uri}{_delete_hint(self.uri)} and run again: the next run "
                    "undoes its unfinished writes."
                )
            if time.monotonic() >= deadline:
                raise LakeBusy(
                    f"lake {self.uri.rsplit('/', 1)[0]} is being written by {_describe(held)}; waited "
                    f"{timeout_seconds:g} s (parameter lock_timeout_seconds). Let that run finish, or run again "
                    f"later; if it was killed, its lock expires {LEASE_SECONDS:g} s after its last renewal (not "
                    f"before {held.get('expires')} UTC): then delete {self.uri}{_delete_hint(self.uri)}."
                )
            if not announced:
                print(f"lake {self.uri.rsplit('/', 1)[0]} is being written by {_describe(held)}: waiting up to "
                      f"{timeout_seconds:g} s", flush=True)
                announced = True
            time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))

    def read(self) -> dict[str, Any] | None:
        """What the lock object says (empty if unreadable), None if there is none."""
        try:
            stream = self._fs.open(self._path)
        except Py4JJavaError as error:
            if _java_class(error) == "java.io.FileNotFoundException":
                return None
            raise
        try:
            text = self._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
        finally:
            stream.close()
        try:
            info = json.loads(text)
        except ValueError:
            return {}
        return info if isinstance(info, dict) else {}

    def renew_until(self, stop: threading.Event, info: dict[str, Any]) -> None:
        """Move the expiry time on every RENEW_SECONDS until `stop`; stop early if the object is no longer ours."""
        while not stop.wait(RENEW_SECONDS):
            try:
                if (self.read() or {}).get("token") != info["token"]:
                    print(f"the lock object {self.uri} is no longer this run's: not renewing it", file=sys.stderr)
                    return
                self._write(_renewed(info), overwrite=True)
            except Exception:  # the JVM is gone: the object expires by itself
                return

    def release(self, info: dict[str, Any]) -> None:
        """Delete the lock object if it is still ours; say so when it cannot be deleted, without hiding the run's error."""
        try:
            if (self.read() or {}).get("token") == info["token"]:
                self._fs.delete(self._path, False)
        except Exception as error:
            print(f"the lock object {self.uri} was not deleted ({type(error).__name__}): it expires in "
                  f"{LEASE_SECONDS:g} s; then delete it{_delete_hint(self.uri)}", file=sys.stderr, flush=True)

    def _create(self, info: dict[str, Any]) -> bool:
        """Write the object only if none exists: False if another holder's is there."""
        try:
            self._write(info, overwrite=False)
        except Py4JJavaError as error:
            # S3A checks first (FileAlreadyExists); the conditional put then refuses a racing second (412).
            if _java_class(error) in ("org.apache.hadoop.fs.FileAlreadyExistsException",
                                      "org.apache.hadoop.fs.s3a.RemoteFileChangedException"):
                return False
            raise
        return True

    def _write(self, info: dict[str, Any], overwrite: bool) -> None:
        builder = self._fs.createFile(self._path).overwrite(overwrite)
        if self._s3a and not overwrite:
            # The PUT carries If-None-Match: *, so the store refuses it if the object appeared meanwhile.
            builder = builder.must("fs.option.create.conditional.overwrite", True)
        stream = builder.build()
        try:
            stream.write(json.dumps(info).encode())
        finally:
            stream.close()


def _renewed(info: dict[str, Any]) -> dict[str, Any]:
    now = dt.datetime.now(dt.timezone.utc)
    return {**info, "renewed": now.strftime(TIME_FORMAT),
            "expires": (now + dt.timedelta(seconds=LEASE_SECONDS)).strftime(TIME_FORMAT)}


def _expired(info: dict[str, Any]) -> bool:
    try:
        expires = dt.datetime.strptime(str(info.get("expires")), TIME_FORMAT).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return False
    return expires < dt.datetime.now(dt.timezone.utc)


def _delete_hint(uri: str) -> str:
    return f" (aws s3 rm {uri.replace('s3a://', 's3://', 1)})" if uri.startswith("s3a://") else ""


def _java_class(error: Py4JJavaError) -> str:
    return error.java_exception.getClass().getName()
