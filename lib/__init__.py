"""The medallion pipeline's code, in packages by role; each imports only the packages before it.

    contracts       what the data and a run are: tables, schemas, rules, parameters, paths (no Spark
                    at import, but for `schemas`)
    synthetic       the generated default input (REES46-shaped days)
    transforms      DataFrame to DataFrame: bronze parsing, silver rules, gold aggregates; no I/O
    lake            Delta tables, landing files, the session, the ledger, recovery, time travel
    layers          one layer's run, top-down: what each notebook calls
    orchestration   the notebook series through papermill: runner, scheduler
    ops             operations on a built lake: replay, reproduce, the data dictionary

`import lib` is the notebooks' entry point: `lib.layers`, `lib.lake` and the rest are imported
when first named, so importing `lib` (or `lib.contracts`) starts no Spark.
"""

from __future__ import annotations

import importlib
from types import ModuleType

PACKAGES = ("contracts", "synthetic", "transforms", "lake", "layers", "orchestration", "ops")


def __getattr__(name: str) -> ModuleType:
    if name in PACKAGES:
        return importlib.import_module(f"lib.{name}")
    raise AttributeError(f"module 'lib' has no attribute {name!r}")
