"""Benchmarks and the DuckDB reference: how fast the pipeline is, and whether its numbers are right.

`bench.duckdb_reference` implements the definitions of `docs/definitions.md` again in DuckDB SQL, independently of `lib/`;
`python -m bench.run` times the Spark pipeline against it and writes `docs/benchmarks.md`.
"""
