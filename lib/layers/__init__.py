"""One layer's run each, top-down: the steps a notebook calls, from contracts, transforms and the lake.

    from lib import layers
    params = layers.parameters(globals())   # the notebook's parameters cell, validated
    spark = layers.session(params)
    summary = layers.run_bronze(spark, params)
"""

from lib.layers.bronze import run_bronze
from lib.layers.gold import GOLD_TABLES, run_gold
from lib.layers.notebook import parameters, session
from lib.layers.silver import ConservationError, RuleFailure, check_conservation, run_silver
from lib.layers.summary import LayerSummary

__all__ = [
    "GOLD_TABLES",
    "ConservationError",
    "LayerSummary",
    "RuleFailure",
    "check_conservation",
    "parameters",
    "run_bronze",
    "run_gold",
    "run_silver",
    "session",
]
