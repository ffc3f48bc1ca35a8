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
    """A table for people; `formats` (column -> percent, currency, count, number) shapes numbers.

    The table fits the terminal: numbers and short values are never broken across lines (long text wraps
    at word boundaries instead). Sent to a file or a pipe, it is as wide as its content, never cut at 80."""
    from rich.table import Table

    columns = columns or (list(rows[0]) if rows else [])
    formats = formats or {}
    cells = [[_cell(row.get(c), formats.get(c)) for c in columns] for row in rows]
    table = Table(title=title, show_lines=False, header_style="bold")
    for i, c in enumerate(columns):
        values = [r[i] for r in cells]
        numeric = c in formats or (bool(values) and all(_numeric(row.get(c)) for row in rows))
        widest = max((len(v) for v in values), default=0)
        short = numeric or widest <= SHORT_CELL
        table.add_column(
            c,
            justify="right" if numeric else "left",
            no_wrap=short,  # a number or an id broken over two lines reads as two values
            min_width=min(widest, SHORT_CELL) if short else min(len(c), SHORT_CELL),
            overflow="ellipsis" if short else "fold",
        )
    for row_cells in cells:
        table.add_row(*row_cells)
    if console.is_terminal:
        console.print(table)
    else:  # a file or a pipe has no width: print the table whole rather than wrapped at 80 columns
        from rich.measure import Measurement

        natural = Measurement.get(console, console.options.update_width(100_000), table).maximum
        Console(width=max(natural, console.width)).print(table)


SHORT_CELL = 24  # cells up to this long (numbers, ids, dates) are never wrapped


def _numeric(value: Any) -> bool:
    return value is None or (isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool))


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
    """One way to write a value: percent with one decimal, money and counts in whole units, other numbers
    with thousands separators and two decimals (three significant digits below 1; never an exponent)."""
    if value is None:
        return ""
    if isinstance(value, decimal.Decimal):
        value = float(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if fmt == "percent" and isinstance(value, int | float):
        return f"{value:.1%}"
    if fmt in ("currency", "count") and isinstance(value, int | float):
        return f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return format_number(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat(sep=" ", timespec="seconds") if isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, default=_default)
    return str(value)


def format_number(value: float) -> str:
    """A number as every table writes it: 12,346 / 1,234.57 / 12.50 / 0.0123 (no exponent)."""
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    size = abs(value)
    if size >= 1e4:
        return f"{value:,.0f}"
    if size >= 1 or value == 0:
        return f"{value:,.2f}"
    return format(decimal.Decimal(f"{value:.3g}"), "f")  # three significant digits: 0.0123, 0.000123
