"""The lake's I/O: the Spark session, Delta tables, landing files, the ledger, recovery and time travel."""
