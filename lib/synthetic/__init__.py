"""The generated default input: REES46-shaped days of clickstream, with injected faults."""
