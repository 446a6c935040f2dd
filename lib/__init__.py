"""Shared code of the medallion pipeline: the notebooks call into these modules."""
