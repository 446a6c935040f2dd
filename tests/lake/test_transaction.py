"""The run transaction is a module of its own; the ledger only records."""

from __future__ import annotations

import ast

from lib.contracts.paths import REPO_ROOT
from lib.lake import ledger, transaction

LAKE = REPO_ROOT / "lib" / "lake"


def imported_modules(name: str) -> set[str]:
    tree = ast.parse((LAKE / f"{name}.py").read_text())
    found = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_the_ledger_reads_and_appends_rows_and_holds_no_lock_recovery_or_jvm_diagnosis() -> None:
    imports = imported_modules("ledger")
    assert not imports & {"lib.lake.lock", "lib.lake.session.SparkStopped", "lib.lake.session.jvm_answers"}, imports
    assert not hasattr(ledger, "recorded_run")
    assert "contextmanager" not in (LAKE / "ledger.py").read_text()


def test_the_transaction_holds_the_lock_recovery_tags_and_the_ledger_row() -> None:
    imports = imported_modules("transaction")
    assert {"lib.lake.lock", "lib.lake.recovery", "lib.lake.ledger"} <= imports
    assert callable(transaction.layer_run)
