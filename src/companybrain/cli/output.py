"""Printing results: a readable table for people, JSON (or CSV) for scripts."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import enum
import json
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


class Format(enum.StrEnum):
    table = "table"
    json = "json"


class RowsFormat(enum.StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="table for people, json for scripts.")]
RowsFormatOpt = Annotated[RowsFormat, typer.Option("--format", "-f", help="table, json or csv.")]


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=_default, indent=2) + "\n")


def print_rows(
    rows: Sequence[dict[str, Any]],
    title: str | None = None,
    columns: list[str] | None = None,
    formats: dict[str, str] | None = None,
) -> None:
    """A table for people; `formats` (column -> percent, currency, count, number) shapes numbers."""
    from rich.table import Table

    columns = columns or (list(rows[0]) if rows else [])
    formats = formats or {}
    table = Table(title=title, show_lines=False, header_style="bold")
    for c in columns:
        numeric = c in formats
        table.add_column(c, overflow="fold", justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*[_cell(row.get(c), formats.get(c)) for c in columns])
    console.print(table)


def print_csv(rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
    writer.writeheader()
    for row in rows:  # full precision, ISO dates: CSV is for scripts
        writer.writerow({k: _raw(v) for k, v in row.items()})


def _raw(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, default=_default)
    return value


def _cell(value: Any, fmt: str | None = None) -> str:
    if value is None:
        return ""
    if fmt == "percent" and isinstance(value, int | float):
        return f"{value:.1%}"
    if fmt in ("currency", "count") and isinstance(value, int | float):
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat(sep=" ", timespec="seconds") if isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, default=_default)
    return str(value)
