"""The one rule for a relative path given to the project: it is from the project root, not the current folder.

A parameter file's `lake_dir: lake` names `<project root>/lake` from wherever `python -m lib.orchestration.runner`
runs, so `--lake lake` (the dashboard, lib.ops.datadocs, lib.ops.reproduce) and `--runs-dir runs` name the
same folders from wherever those run. Only the file named with `--params` is from the current
folder, as any file named on a command line is. Nothing here imports Spark: the dashboard uses it too.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# Said by each command's --help for its path options.
RULE = "relative: from the project root, wherever the command runs"
PARAMS_RULE = "relative: from the current folder; a relative lake_dir or landing_dir in it is from the project root"


def resolve(value: str | os.PathLike[str]) -> Path | str:
    """A path as the project reads it: `~` expanded, relative from the project root; a URI (s3a://) as given."""
    text = os.fspath(value)
    if "://" in text:
        return text
    path = Path(text).expanduser()
    return path if path.is_absolute() else REPO_ROOT / path


def local_path(value: str | os.PathLike[str]) -> Path:
    """`resolve` for a folder or file on this machine (executed notebooks, a document, the dashboard's lake).

    A URI raises ValueError; as an argparse `type`, that is a usage error naming the option.
    """
    resolved = resolve(value)
    if isinstance(resolved, str):
        raise ValueError(f"{resolved} is not a local path")
    return resolved
