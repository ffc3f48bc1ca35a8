"""Pydantic models of every project file, and the YAML loader that reports file and line."""
