"""DataFrame to DataFrame, no I/O: bronze's parsing, silver's rules and derivations, gold's aggregates.

`landing_files` is the same for files: what bronze makes of a landing file's name, bytes and header.
"""
