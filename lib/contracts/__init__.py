"""What the data and a run are, stated once: tables, columns, rules and their targets, parameters, paths.

Nothing here imports pyspark except `schemas`, which turns the contracts into Spark types, so the
dashboard and the parameter checks use them without a JVM.
"""
