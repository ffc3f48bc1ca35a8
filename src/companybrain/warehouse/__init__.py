"""Warehouse adapters: one per engine, all behind the `Warehouse` interface."""

from __future__ import annotations

from pathlib import Path

from companybrain.errors import ConfigError, Location
from companybrain.warehouse.base import Warehouse


def connect(url: str, root: Path, read_only: bool = False) -> Warehouse:
    """Open the warehouse named by a project's URL; relative DuckDB paths are under `root`. `read_only`: an
    embedded file is opened for reading only (and must exist); a server is only read by the caller."""
    if url.startswith(("sc://", "spark:")):
        from companybrain.warehouse.spark import SparkWarehouse

        return SparkWarehouse.from_url(url, root)
    scheme = url.split("://", 1)[0].split("+", 1)[0]
    if scheme == "duckdb":
        from companybrain.warehouse.duckdb import DuckDBWarehouse

        return DuckDBWarehouse.from_url(url, root, read_only)
    if scheme in ("postgresql", "postgres"):
        from companybrain.warehouse.postgres import PostgresWarehouse

        return PostgresWarehouse.from_url(url)
    raise ConfigError.at(
        Location("brain.yaml", key="warehouse"),
        f"unsupported warehouse {url!r}; use duckdb:///path.duckdb, postgresql://user@host/db, "
        "sc://host:15002 (Spark Connect) or spark:local[2]",
    )


__all__ = ["Warehouse", "connect"]
