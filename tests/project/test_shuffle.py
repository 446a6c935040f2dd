"""`pytest --shuffle SEED`: the suite in a drawn order, to show that no test needs another to have run first."""

from __future__ import annotations

import random
import types

from lakehouse_testing import shuffled


def items(*nodeids: str) -> list[types.SimpleNamespace]:
    return [types.SimpleNamespace(nodeid=nodeid) for nodeid in nodeids]


COLLECTED = items(*(f"tests/{folder}/test_{n}.py::test_{t}" for folder, n in (("a", 1), ("a", 2), ("b", 3), ("c", 4))
                    for t in range(5)))


def order(seed: int) -> list[str]:
    return [item.nodeid for item in shuffled(COLLECTED, random.Random(seed))]


def test_a_seed_draws_one_order_of_every_test_each_once_and_another_seed_another() -> None:
    assert order(7) == order(7)
    assert sorted(order(7)) == sorted(item.nodeid for item in COLLECTED)
    assert len({tuple(order(seed)) for seed in range(5)}) == 5


def test_the_files_and_each_files_tests_are_both_drawn_and_a_file_stays_together() -> None:
    drawn = [order(seed) for seed in range(20)]
    files = [[nodeid.split("::")[0] for nodeid in run] for run in drawn]
    for run in files:
        starts = [i for i, name in enumerate(run) if i == 0 or run[i - 1] != name]
        assert len(starts) == 4, f"a file's tests were split: {run}"
    assert len({tuple(dict.fromkeys(run)) for run in files}) > 1, "the files' order is always the same"
    first_file = [[nodeid for nodeid in run if nodeid.startswith("tests/a/test_1.py")] for run in drawn]
    assert len({tuple(run) for run in first_file}) > 1, "a file's tests keep their order"
