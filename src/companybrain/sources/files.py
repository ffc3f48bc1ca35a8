"""Folders of exported files: CSV, Parquet, JSON lines and Excel, read as Arrow by file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from companybrain.errors import ConnectorError, MissingDependency
from companybrain.sources.base import Extract, Rejected
from companybrain.specs.project import FileSource, SourceTable

EXTENSIONS = {"csv": "csv", "parquet": "parquet", "jsonl": "jsonl", "excel": "xlsx"}
FILE_COLUMN = "_source_file"


class FileConnector:
    """One folder. A file is the unit of change: only new or changed files are read again."""

    def __init__(self, spec: FileSource, folder: Path) -> None:
        self.name = spec.name
        self.spec = spec
        self.folder = folder

    def extract(self, table: SourceTable, previous: dict[str, Any]) -> Extract:
        if not self.folder.is_dir():
            raise ConnectorError(f"source {self.name}: folder {self.folder} does not exist")
        fmt = table.format or self.spec.format
        pattern = table.files or f"{table.name}*.{EXTENSIONS[fmt]}"
        paths = sorted(p for p in self.folder.glob(pattern) if p.is_file())
        if not paths:
            raise ConnectorError(
                f"source {self.name}.{table.name}: no file matches {pattern!r} in {self.folder}",
                hint="check `files:` in brain.yaml",
            )
        seen: dict[str, list[int]] = previous.get("files", {})
        current = {p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in paths}
        changed = [p for p in paths if seen.get(p.name) != current[p.name]]
        full = (table.mode or "incremental") == "full"
        extract = Extract(batches=iter(()), state={"files": current}, replace=full)
        if not changed and set(seen) == set(current):
            extract.unchanged = True
            return extract
        to_read = paths if full else changed
        extract.replaced_files = [p.name for p in to_read if p.name in seen]
        extract.batches = self._read_all(to_read, fmt, table, extract.rejected)
        return extract

    def _read_all(
        self, paths: list[Path], fmt: str, table: SourceTable, rejected: list[Rejected]
    ) -> Iterator[pa.Table]:
        for path in paths:
            try:
                data = READERS[fmt](path, table, rejected)
            except (pa.ArrowInvalid, OSError, ValueError) as exc:
                raise ConnectorError(f"source {self.name}.{table.name}: cannot read {path.name}: {exc}") from None
            if data.num_rows:
                yield data.append_column(FILE_COLUMN, pa.repeat(pa.scalar(path.name, pa.string()), data.num_rows))


def _read_csv(path: Path, table: SourceTable, rejected: list[Rejected]) -> pa.Table:
    from pyarrow import csv

    def on_invalid(row: Any) -> str:
        where = f"{path.name}:{row.number}" if row.number is not None else path.name
        reason = f"malformed row: expected {row.expected_columns} fields, got {row.actual_columns}"
        rejected.append(Rejected(where, reason, row.text))
        return "skip"

    convert = csv.ConvertOptions(
        column_types={name: pa.string() for name in table.columns},
        strings_can_be_null=True,
        # only an empty field is null: "NA" is North America and "n/a" a value to quarantine
        null_values=[""],
    )
    return csv.read_csv(
        path,
        parse_options=csv.ParseOptions(invalid_row_handler=on_invalid),
        convert_options=convert,
        read_options=csv.ReadOptions(use_threads=False),
    )


def _read_parquet(path: Path, table: SourceTable, rejected: list[Rejected]) -> pa.Table:
    import pyarrow.parquet as pq

    return pq.read_table(path)


def _read_jsonl(path: Path, table: SourceTable, rejected: list[Rejected]) -> pa.Table:
    from pyarrow import json as pajson

    try:
        return pajson.read_json(path)
    except pa.ArrowInvalid:
        pass  # at least one bad line: read line by line, quarantining the bad ones
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                rejected.append(Rejected(f"{path.name}:{number}", f"invalid JSON: {exc.msg}", line.rstrip("\n")))
                continue
            if not isinstance(value, dict):
                rejected.append(Rejected(f"{path.name}:{number}", "a line must hold a JSON object", line.rstrip("\n")))
                continue
            rows.append(value)
    return pa.Table.from_pylist(rows)


def _read_excel(path: Path, table: SourceTable, rejected: list[Rejected]) -> pa.Table:
    try:
        import openpyxl
    except ImportError:
        raise MissingDependency("openpyxl", "excel", "reading Excel files") from None
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = book[table.sheet] if table.sheet else book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = [str(h) for h in next(rows, ())]
        records = []
        for number, values in enumerate(rows, start=2):
            if all(v is None for v in values):
                continue
            if len(values) > len(header) and any(v is not None for v in values[len(header) :]):
                rejected.append(Rejected(f"{path.name}:{number}", "value outside the header's columns", repr(values)))
                continue
            records.append(dict(zip(header, values, strict=False)))
    finally:
        book.close()
    columns = {}
    for name in header:
        values = [r.get(name) for r in records]
        if name in table.columns:
            # declared columns are validated from text, as for CSV
            columns[name] = pa.array([None if v is None else str(v) for v in values], pa.string())
            continue
        try:
            columns[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # a column of mixed cells: keep them as text
            columns[name] = pa.array([None if v is None else str(v) for v in values], pa.string())
    return pa.table(columns)


READERS = {"csv": _read_csv, "parquet": _read_parquet, "jsonl": _read_jsonl, "excel": _read_excel}
