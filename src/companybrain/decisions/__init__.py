"""Decisions: optimization over the company model (network replanning when capacity is lost)."""
