"""Folders of exported files: CSV, Parquet, JSON lines and Excel, read as Arrow by file.

A file is untrusted bytes. In a text file, a line that cannot be a row (bytes that are not UTF-8, a
NUL byte, longer than MAX_LINE_BYTES) is quarantined and the rest of the file is read; a file that
no reader can make sense of fails its table with an error naming the file, never the whole ingest.
"""

from __future__ import annotations

import codecs
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from companybrain.errors import BrainError, ConnectorError, MissingDependency
from companybrain.sources.base import Extract, Rejected
from companybrain.specs.project import FileSource, SourceTable

EXTENSIONS = {"csv": "csv", "parquet": "parquet", "jsonl": "jsonl", "excel": "xlsx"}
FILE_COLUMN = "_source_file"
MAX_LINE_BYTES = 8 << 20  # a longer line of a text file is quarantined, not read
BLOCK_BYTES = 16 << 20  # Arrow's read block: a row must fit in one (and larger blocks read faster)
RECORD_BYTES = 2_000  # what the quarantine keeps of a line too long to be a row
GROUP_ROWS = 1_000_000  # rows of small files landed as one batch


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
        named = {file_name(p): p for p in paths}
        seen: dict[str, list[int]] = previous.get("files", {})
        current = {name: [p.stat().st_size, p.stat().st_mtime_ns] for name, p in named.items()}
        changed = [name for name in named if seen.get(name) != current[name]]
        full = (table.mode or "incremental") == "full"
        extract = Extract(batches=iter(()), state={"files": current}, replace=full)
        if not changed and set(seen) == set(current):
            extract.unchanged = True
            return extract
        to_read = list(named) if full else changed
        extract.replaced_files = [name for name in to_read if name in seen]
        extract.batches = self._read_all([(name, named[name]) for name in to_read], fmt, table, extract.rejected)
        return extract

    def _read_all(
        self, files: list[tuple[str, Path]], fmt: str, table: SourceTable, rejected: list[Rejected]
    ) -> Iterator[pa.Table]:
        """The files' rows, many small files in one batch (each batch costs a check and a write,
        which were most of the time of a folder of monthly files)."""
        group = _Group(list(table.primary_key))
        for name, path in files:
            data = self._read(name, path, fmt, table, rejected)
            if not data.num_rows:
                continue
            data = data.append_column(FILE_COLUMN, pa.repeat(pa.scalar(name, pa.string()), data.num_rows))
            if not group.add(data):
                yield group.take()
                group.add(data)
        if group.tables:
            yield group.take()

    def _read(self, name: str, path: Path, fmt: str, table: SourceTable, rejected: list[Rejected]) -> pa.Table:
        try:
            return READERS[fmt](path, name, table, rejected)
        except ConnectorError as exc:
            raise ConnectorError(f"source {self.name}.{table.name}: {exc.message}", hint=exc.hint) from None
        except BrainError:
            raise
        except Exception as exc:  # the readers parse untrusted bytes: whatever they raise, the file is unreadable
            what = str(exc).strip() or "no detail"
            kind = "" if isinstance(exc, pa.ArrowException | OSError) else f"{type(exc).__name__}: "
            raise ConnectorError(
                f"source {self.name}.{table.name}: cannot read {name}: {kind}{what}",
                hint="fix or remove the file, then `brain ingest` again; the table's previous state was kept",
            ) from None


class _Group:
    """Files read one after another, landed as one batch while that changes nothing: up to GROUP_ROWS
    rows, columns of the same types, and no key in two files (a later file's row replaces an earlier
    one's, which in one batch would be quarantined as a duplicate instead)."""

    def __init__(self, key: list[str]) -> None:
        self.key = key
        self.tables: list[pa.Table] = []
        self.rows = 0
        self.keys = 0  # distinct keys in the group

    def add(self, data: pa.Table) -> bool:
        """Add a file's rows; False (and nothing added) when they must be a batch of their own."""
        if not self.tables:
            self.tables, self.rows, self.keys = [data], data.num_rows, _distinct_keys(data, self.key)
            return True
        if self.rows + data.num_rows > GROUP_ROWS:
            return False
        try:
            pa.unify_schemas([self.tables[0].schema, data.schema])  # only a column of nulls may take a type
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return False
        merged = pa.concat_tables([*self.tables, data], promote_options="default")
        keys = _distinct_keys(merged, self.key)
        if keys != self.keys + _distinct_keys(data, self.key):
            return False
        self.tables, self.rows, self.keys = [merged], merged.num_rows, keys
        return True

    def take(self) -> pa.Table:
        """The group's rows as one table; the group is empty again."""
        (merged,) = self.tables
        self.tables, self.rows, self.keys = [], 0, 0
        return merged


def _distinct_keys(data: pa.Table, key: list[str]) -> int:
    present = [k for k in key if k in data.column_names]
    if not present:
        return 0
    return data.group_by(present).aggregate([]).num_rows


def file_name(path: Path) -> str:
    """The name a file is known by in the raw table, the state and the quarantine: its name, with any
    byte that is not UTF-8 written as \\xNN (such a name cannot be stored as text)."""
    return os.fsencode(path.name).decode("utf-8", "backslashreplace")


def _needs_care(path: Path) -> bool:
    """True when a line of the file may not be a row: bytes that are not UTF-8, a NUL byte, or a line
    longer than MAX_LINE_BYTES (such a line holds a whole window of half that size with no line break).

    One pass at memory speed, so that the common clean file is read by Arrow directly."""
    window = MAX_LINE_BYTES // 2
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as handle:
        while chunk := handle.read(window):
            if (len(chunk) == window and b"\n" not in chunk and b"\r" not in chunk) or b"\x00" in chunk:
                return True
            if chunk.isascii() and not decoder.getstate()[0]:
                continue
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return True
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return True
    return False


def _lines(path: Path) -> Iterator[tuple[bytes, int]]:
    """Each line with its size in bytes; a line longer than MAX_LINE_BYTES is cut to RECORD_BYTES (never
    held whole in memory: a binary file may have no newline at all)."""
    with path.open("rb") as handle:
        while line := handle.readline(MAX_LINE_BYTES + 1):
            if len(line) <= MAX_LINE_BYTES or line.endswith(b"\n"):
                yield line, len(line)
                continue
            size = len(line)
            while more := handle.readline(1 << 20):
                size += len(more)
                if more.endswith(b"\n"):
                    break
            yield line[:RECORD_BYTES], size


def _line_problem(line: bytes, size: int) -> str | None:
    """Why a line of a text file cannot be a row, or None."""
    if size > MAX_LINE_BYTES:
        return f"a line of {size:,} bytes; a row may have at most {MAX_LINE_BYTES:,}"
    nul = line.find(b"\x00")
    if nul >= 0:
        return f"holds a NUL byte (at byte {nul + 1}): binary data, or text in UTF-16?"
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as exc:
        byte = f"0x{line[exc.start]:02x} at byte {exc.start + 1}"
        return f"not UTF-8 text ({byte}): binary data, or text in another encoding?"
    return None


def _as_record(line: bytes, size: int) -> str:
    """A line as the quarantine keeps it: bytes that are not UTF-8 as \\xNN, a long line's start only."""
    text = line.rstrip(b"\r\n").decode("utf-8", "backslashreplace")
    return text if size <= len(line) else f"{text}... ({size:,} bytes in all)"


def _read_csv(path: Path, name: str, table: SourceTable, rejected: list[Rejected]) -> pa.Table:
    if not _needs_care(path):
        return _parse_csv(path, name, table, rejected, removed=[])
    with tempfile.TemporaryDirectory(prefix="brain-csv-") as folder:
        cleaned = Path(folder) / "rows.csv"
        removed = _drop_bad_lines(path, name, cleaned, rejected)
        return _parse_csv(cleaned, name, table, rejected, removed)


def _drop_bad_lines(path: Path, name: str, cleaned: Path, rejected: list[Rejected]) -> list[int]:
    """Copy the file to `cleaned`, each line that cannot be a row quarantined and left empty (Arrow skips
    empty lines). Returns the row numbers, as Arrow counts them (non-empty lines), of the lines left out."""
    removed: list[int] = []
    row = 0
    with cleaned.open("wb") as out:
        for line, size in _lines(path):
            if not line.strip(b"\r\n"):
                out.write(line)
                continue
            row += 1
            problem = _line_problem(line, size)
            if problem is None:
                out.write(line)
                continue
            if row == 1:
                raise ConnectorError(
                    f"cannot read {name}: its header (line 1): {problem}",
                    hint="save the file as UTF-8 CSV with a header line, then `brain ingest` again",
                )
            removed.append(row)
            rejected.append(Rejected(f"{name}:{row}", problem, _as_record(line, size), unit=name))
            out.write(b"\n")
    return removed


def _parse_csv(path: Path, name: str, table: SourceTable, rejected: list[Rejected], removed: list[int]) -> pa.Table:
    from pyarrow import csv

    def on_invalid(row: Any) -> str:
        where = f"{name}:{_original_row(row.number, removed)}" if row.number is not None else name
        reason = f"malformed row: expected {row.expected_columns} fields, got {row.actual_columns}"
        rejected.append(Rejected(where, reason, row.text, unit=name))
        return "skip"

    convert = csv.ConvertOptions(
        column_types={column: pa.string() for column in table.columns},
        strings_can_be_null=True,
        # only an empty field is null: "NA" is North America and "n/a" a value to quarantine
        null_values=[""],
    )
    with _arrow_file(path) as source:
        return csv.read_csv(
            source,
            parse_options=csv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=convert,
            read_options=csv.ReadOptions(use_threads=False, block_size=BLOCK_BYTES),
        )


def _arrow_file(path: Path) -> pa.NativeFile:
    """The file for Arrow's readers, opened by its bytes: a name that is not UTF-8 opens too."""
    return pa.OSFile(os.fsencode(path))


def _original_row(number: int, removed: list[int]) -> int:
    """The row number in the file of row `number` of its copy without the `removed` rows (ascending)."""
    for gone in removed:
        if gone > number:
            break
        number += 1
    return number


def _read_parquet(path: Path, name: str, table: SourceTable, rejected: list[Rejected]) -> pa.Table:
    import pyarrow.parquet as pq

    with _arrow_file(path) as source:
        return pq.read_table(source)


def _read_jsonl(path: Path, name: str, table: SourceTable, rejected: list[Rejected]) -> pa.Table:
    from pyarrow import json as pajson

    if not _needs_care(path):
        try:
            with _arrow_file(path) as source:
                return pajson.read_json(source, read_options=pajson.ReadOptions(block_size=BLOCK_BYTES))
        except pa.ArrowInvalid:
            pass  # at least one bad line: read line by line, quarantining the bad ones
    rows = []
    for number, (line, size) in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        problem = _line_problem(line, size)
        if problem is not None:
            rejected.append(Rejected(where, problem, _as_record(line, size), unit=name))
            continue
        text = line.decode("utf-8").rstrip("\r\n")
        value, problem = _parse_json(text)
        if problem is not None:
            rejected.append(Rejected(where, problem, text, unit=name))
            continue
        if not isinstance(value, dict):
            rejected.append(Rejected(where, "a line must hold a JSON object", text, unit=name))
            continue
        rows.append(value)
    # every key of every line (from_pylist would keep only the first line's keys)
    return pa.Table.from_struct_array(pa.array(rows, pa.struct([]) if not rows else None))


def _parse_json(text: str) -> tuple[Any, str | None]:
    """A line's JSON value, or why it is not one that can be stored."""
    try:
        value = json.loads(text)
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # a lone \\udXXX escape decodes to no text
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg}"
    except UnicodeEncodeError:
        return None, "invalid JSON: a string that is not text (a lone surrogate escape)"
    except RecursionError:
        return None, "invalid JSON: nested too deeply"
    return value, None


def _read_excel(path: Path, name: str, table: SourceTable, rejected: list[Rejected]) -> pa.Table:
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
                where = f"{name}:{number}"
                rejected.append(Rejected(where, "value outside the header's columns", repr(values), unit=name))
                continue
            records.append(dict(zip(header, values, strict=False)))
    finally:
        book.close()
    columns = {}
    for column in header:
        values = [r.get(column) for r in records]
        if column in table.columns:
            # declared columns are validated from text, as for CSV
            columns[column] = pa.array([None if v is None else str(v) for v in values], pa.string())
            continue
        try:
            columns[column] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # a column of mixed cells: keep them as text
            columns[column] = pa.array([None if v is None else str(v) for v in values], pa.string())
    return pa.table(columns)


READERS = {"csv": _read_csv, "parquet": _read_parquet, "jsonl": _read_jsonl, "excel": _read_excel}
