"""Ingest of hostile input, on every warehouse: one bad file, line, value or name never stops the ingest.

Random bytes, NUL bytes, text that is not UTF-8, huge lines, quotes and `'; DROP TABLE` in file names,
values and error texts: the bad part is quarantined (or its table fails with an error naming the file),
the previous state stays, every other table loads and the report is complete (issue 13).
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlglot import exp

from companybrain import Brain
from companybrain.errors import ConnectorError
from companybrain.sources import load_log, loader
from companybrain.sources.base import Extract
from companybrain.sources.files import MAX_LINE_BYTES
from tests.shop import make_shop

OVERTIME = "columns: {employee_id: string, month: date, hours: float}"
DROP = "'; DROP TABLE raw.hris__employees; --"
HOSTILE_TEXT = f"\x00\x1b[2J\x07{DROP}\udc82\u202e" + "x" * 50_000


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


@pytest.fixture
def root(tmp_path: Path, warehouse_url: str) -> Path:
    root = make_shop(tmp_path / "shop", warehouse=warehouse_url)
    # few rows, most of them bad on purpose: these tests are about each bad row, not about the limit
    edit(root / "brain.yaml", OVERTIME, f"{OVERTIME}\n        max_quarantined: 1")
    edit(root / "brain.yaml", "primary_key: [ticket_id]}", "primary_key: [ticket_id], max_quarantined: 1}")
    edit(root / "brain.yaml", 'files: "readings_*.parquet"}', 'files: "readings_*.parquet", max_quarantined: 1}')
    return root


@pytest.fixture
def shop(root: Path) -> Brain:
    brain = Brain.open(root)
    yield brain
    brain.close()


def rows(brain: Brain, name: str, order: str) -> list[dict]:
    return brain.warehouse.query_arrow(exp.select("*").from_(exp.to_table(f"raw.{name}")).order_by(order)).to_pylist()


def loads(brain: Brain, names: list[str] | None = None) -> dict[str, loader.TableLoad]:
    return {f"{s.name}.{t.table}": t for s in brain.ingest(names) for t in s.tables}


def good_overtime(n: int) -> str:
    return "employee_id,month,hours\n" + "".join(f"E{i},2025-{1 + i % 12:02d}-01,{i % 9}.5\n" for i in range(n))


def assert_storable(text: str) -> None:
    """What the load log and the quarantine hold: no NUL, no control byte but tab and newline, UTF-8."""
    assert not any(ord(c) < 32 and c not in "\t\n" for c in text), repr(text[:200])
    text.encode("utf-8")  # no lone surrogate


def test_binary_tail_is_quarantined_and_every_table_loads(root: Path, run_cli) -> None:
    # the repro: 300 random bytes appended to a CSV stopped every later load, on every run
    path = root / "sources" / "hris" / "overtime.csv"
    path.write_text(good_overtime(200))
    with path.open("ab") as handle:
        handle.write(random.Random(13).randbytes(300) + b"\x00\xff\n")
    code, out, _ = run_cli("-p", str(root), "ingest", "--format", "json")
    report = {s["name"]: s for s in json.loads(out)["sources"]}
    assert code == 0 and set(report) == {"erp", "hris", "service", "telemetry"}
    assert all(s["status"] == "ok" for s in report.values())
    [overtime] = [t for t in report["hris"]["tables"] if t["table"] == "overtime"]
    assert overtime["rows_loaded"] == 200 and overtime["rows_quarantined"] >= 1
    with Brain.open(root) as brain:
        bad = brain.quarantine("hris", "overtime")
        assert len(bad) == overtime["rows_quarantined"]
        assert all(r["location"].startswith("overtime.csv:") for r in bad)
        assert any(r["reason"].startswith("holds a NUL byte") for r in bad)
        for r in bad:
            assert_storable(r["record"])
            assert_storable(r["reason"])


def test_lines_that_cannot_be_rows_are_quarantined_with_their_line(shop: Brain) -> None:
    path = shop.project.root / "sources" / "hris" / "overtime.csv"
    path.write_bytes(
        b"employee_id,month,hours\n"
        b"E1,2025-01-01,4.5\n"
        + "M\xfcller,2025-01-01,1\n".encode("latin-1")  # line 3: not UTF-8
        + b"E2,2025-01-01,1\x00\n"  # line 4: a NUL byte
        + b"E3,2025-01-01,"
        + b"9" * (20 << 20)
        + b"\n"  # line 5: 20 MB
        + b"E4,2025-01-01,1,extra\n"  # line 6: a malformed row, numbered as in the file
        + f'"{DROP}",2025-01-01,2\n'.encode()  # a value, loaded as it is
        + b"E5,2025-01-01,3"  # no newline at the end
    )
    overtime = loads(shop, ["hris"])["hris.overtime"]
    assert (overtime.status, overtime.rows_loaded, overtime.rows_quarantined) == ("ok", 3, 4)
    assert sorted(r["employee_id"] for r in rows(shop, "hris__overtime", "employee_id")) == sorted(["E1", "E5", DROP])
    bad = {r["location"]: r for r in shop.quarantine("hris", "overtime")}
    assert {k: v["reason"] for k, v in bad.items()} == {
        "overtime.csv:3": "not UTF-8 text (0xfc at byte 2): binary data, or text in another encoding?",
        "overtime.csv:4": "holds a NUL byte (at byte 16): binary data, or text in UTF-16?",
        "overtime.csv:5": f"a line of {(20 << 20) + 15:,} bytes; a row may have at most {MAX_LINE_BYTES:,}",
        "overtime.csv:6": "malformed row: expected 3 fields, got 4",
    }
    assert bad["overtime.csv:3"]["record"] == "M\\xfcller,2025-01-01,1"
    assert bad["overtime.csv:4"]["record"] == "E2,2025-01-01,1\\x00"
    assert bad["overtime.csv:5"]["record"] == "E3,2025-01-01," + "9" * 1986 + f"... ({(20 << 20) + 15:,} bytes in all)"
    assert len(rows(shop, "hris__employees", "employee_id")) == 3  # the value changed no statement


def test_a_header_that_is_not_text_fails_its_table_only(shop: Brain) -> None:
    shop.ingest()
    (shop.project.root / "sources" / "hris" / "overtime.csv").write_bytes("h\xf6urs,x\n1,2\n".encode("latin-1"))
    result = loads(shop)
    assert result["hris.overtime"].status == "failed"
    assert (result["hris.overtime"].message or "").startswith(
        "source hris.overtime: cannot read overtime.csv: its header (line 1): not UTF-8 text (0xf6 at byte 2)"
    )
    assert all(t.status in ("ok", "unchanged") for k, t in result.items() if k != "hris.overtime")
    assert len(rows(shop, "hris__overtime", "employee_id")) == 2  # the previous state


def test_hostile_json_lines_are_quarantined(shop: Brain) -> None:
    shop.ingest(["service"])
    path = shop.project.root / "sources" / "service" / "tickets_2025_02.jsonl"
    good = {"ticket_id": "T500", "customer_id": 1, "priority": "low"}
    path.write_bytes(
        b"".join(
            [
                json.dumps(good).encode() + b"\n",
                b'{"ticket_id": "T501", "priority": "\xff"}\n',  # 2: not UTF-8
                b'{"ticket_id": "T502", "priority": "a\x00b"}\n',  # 3: a raw NUL
                b'{"ticket_id": "T503", "priority": "a\\u0000b"}\n',  # 4: valid JSON, a NUL in the value
                b'{"ticket_id": "T504", "priority": "\\udc82"}\n',  # 5: a lone surrogate
                b"[" * 100_000 + b"\n",  # 6: nested too deeply for any parser
                b'{"ticket_id": "T506", "priority": "' + b"x" * (9 << 20) + b'"}\n',  # 7: 9 MB
                json.dumps({"ticket_id": DROP, DROP: DROP, "customer_id": 2}).encode() + b"\n",
                b"\n",
            ]
        )
    )
    [tickets] = loads(shop, ["service"]).values()
    assert (tickets.status, tickets.rows_loaded) == ("ok", 2)
    reasons = {r["location"]: r["reason"] for r in shop.quarantine("service", "tickets")}
    assert reasons["tickets_2025_02.jsonl:2"].startswith("not UTF-8 text (0xff at byte 36)")
    assert reasons["tickets_2025_02.jsonl:3"].startswith("holds a NUL byte")
    assert reasons["tickets_2025_02.jsonl:5"] == "invalid JSON: a string that is not text (a lone surrogate escape)"
    assert reasons["tickets_2025_02.jsonl:6"] == "invalid JSON: nested too deeply"
    assert reasons["tickets_2025_02.jsonl:7"].startswith(f"a line of {(9 << 20) + 38:,} bytes")
    assert reasons["tickets_2025_02.jsonl record 2"] == "priority: holds a NUL byte, which a text column cannot store"
    assert len(reasons) == 6
    loaded = {r["ticket_id"]: r for r in rows(shop, "service__tickets", "ticket_id")}
    assert loaded[DROP][DROP] == DROP and "T500" in loaded


def test_text_no_engine_stores_alike_is_quarantined_from_any_source(shop: Brain) -> None:
    # Parquet (like a SQL driver) hands over strings as they are: NUL, and bytes that are not UTF-8
    raw = pa.array([b"M1", b"M\x00X", b"M\xffY"], pa.binary())
    machine = pa.Array.from_buffers(pa.string(), 3, raw.buffers())
    readings = pa.table(
        {"machine_id": machine, "ts": pa.array([None] * 3, pa.timestamp("us")), "temperature": [1.0] * 3}
    )
    pq.write_table(readings, shop.project.root / "sources" / "telemetry" / "readings_2025_02.parquet")
    [telemetry] = loads(shop, ["telemetry"]).values()
    assert (telemetry.status, telemetry.rows_loaded, telemetry.rows_quarantined) == ("ok", 101, 2)
    bad = {r["reason"]: r["record"] for r in shop.quarantine("telemetry")}
    assert json.loads(bad["machine_id: holds a NUL byte, which a text column cannot store"])["machine_id"] == "M\x00X"
    assert json.loads(bad["machine_id: not UTF-8 text"])["machine_id"] == "M\\xffY"


def test_unreadable_files_fail_their_table_only(root: Path, run_cli) -> None:
    telemetry = root / "sources" / "telemetry"
    name = f"readings_{DROP}\x1b[31m.parquet"
    (telemetry / name).write_bytes(random.Random(1).randbytes(500))
    (root / "sources" / "hris" / "employees.csv").write_bytes(random.Random(2).randbytes(300))
    code, out, _ = run_cli("-p", str(root), "ingest", "--format", "json")
    report = {s["name"]: s for s in json.loads(out)["sources"]}
    assert code == 1 and set(report) == {"erp", "hris", "service", "telemetry"}
    assert report["erp"]["status"] == report["service"]["status"] == "ok"
    message = report["telemetry"]["tables"][0]["message"]
    assert message.startswith(f"source telemetry.readings: cannot read readings_{DROP}\\x1b[31m.parquet: ")
    [employees] = [t for t in report["hris"]["tables"] if t["table"] == "employees"]
    assert employees["status"] == "failed" and "employees.csv" in employees["message"]
    with Brain.open(root) as brain:
        status = {r["table"]: r for r in brain.sources_status()}
        for table in ("readings", "employees"):
            assert status[table]["status"] == "failed" and status[table]["rows"] is None  # never loaded
            assert_storable(status[table]["message"])


def test_a_garbage_excel_file_fails_its_table_only(tmp_path: Path, warehouse_url: str) -> None:
    root = make_shop(tmp_path / "shop", warehouse=warehouse_url)
    (root / "sources" / "plan").mkdir()
    (root / "sources" / "plan" / "capacity.xlsx").write_bytes(b"PK\x03\x04" + random.Random(3).randbytes(400))
    text = (root / "brain.yaml").read_text()
    text += "  - {name: plan, type: files, path: sources/plan, format: excel, tables: [{name: capacity}]}\n"
    (root / "brain.yaml").write_text(text)
    with Brain.open(root) as brain:
        result = loads(brain)
        assert result["plan.capacity"].status == "failed"
        assert "cannot read capacity.xlsx: BadZipFile: " in (result["plan.capacity"].message or "")
        assert result["erp.orders"].status == "ok" and result["telemetry.readings"].status == "ok"


def test_hostile_file_names_load_and_round_trip(shop: Brain) -> None:
    folder = shop.project.root / "sources" / "hris"
    quoted = folder / f"overtime_{DROP}.csv"
    quoted.write_text("employee_id,month,hours\nE7,2025-03-01,1\n")
    undecodable = os.path.join(os.fsencode(folder), b"overtime_\xff.csv")
    with open(undecodable, "wb") as handle:
        handle.write(b"employee_id,month,hours\nE8,2025-03-01,2\n")
    first = loads(shop, ["hris.overtime"])["hris.overtime"]
    assert (first.status, first.rows_loaded) == ("ok", 4)
    files = {r["employee_id"]: r["_source_file"] for r in rows(shop, "hris__overtime", "employee_id")}
    assert files["E7"] == f"overtime_{DROP}.csv" and files["E8"] == "overtime_\\xff.csv"
    assert loads(shop, ["hris.overtime"])["hris.overtime"].status == "unchanged"  # the state round-trips
    quoted.write_text("employee_id,month,hours\nE9,2025-03-01,10\n")  # a changed file replaces its rows
    assert loads(shop, ["hris.overtime"])["hris.overtime"].rows_loaded == 1
    assert {r["employee_id"] for r in rows(shop, "hris__overtime", "employee_id")} == {"E1", "E3", "E8", "E9"}


class _Failing:
    """A connector whose error text carries every kind of hostile byte."""

    name = "erp"

    def extract(self, table, previous) -> Extract:  # type: ignore[no-untyped-def]
        raise ConnectorError(HOSTILE_TEXT, hint=DROP)


def test_error_texts_are_stored_on_every_engine(shop: Brain) -> None:
    spec = shop.project.spec.sources[0].tables[1]
    load_log.ensure_tables(shop.warehouse)
    result = loader.load_table(shop.warehouse, _Failing(), spec, None)
    assert result.status == "failed"
    [logged] = [r for r in load_log.history(shop.warehouse) if r["table_name"] == "orders"]
    assert logged["message"] == result.message
    assert_storable(logged["message"])
    assert logged["message"].startswith(f"\\x00\\x1b[2J\\x07{DROP}\\x82\\u202exxx")
    assert logged["message"].endswith(f"({len(str(ConnectorError(HOSTILE_TEXT, hint=DROP))):,} characters in all)")
    assert len(logged["message"]) == load_log.MESSAGE_LIMIT
    assert loads(shop, ["erp"])["erp.orders"].rows_loaded == 3000  # the log still works, nothing was dropped


def test_an_unforeseen_error_fails_that_table_only(shop: Brain, monkeypatch: pytest.MonkeyPatch) -> None:
    real = loader.check_rows

    def check_rows(batch, **kwargs):  # type: ignore[no-untyped-def]
        if "ticket_id" in batch.column_names:
            raise KeyError(DROP + "\x00")
        return real(batch, **kwargs)

    monkeypatch.setattr(loader, "check_rows", check_rows)
    result = loads(shop)
    assert result["service.tickets"].status == "failed"
    assert result["service.tickets"].message == (
        f'service.tickets: the load failed on KeyError: "{DROP}\\x00"\n'
        "  hint: check the source's data; the table's previous state was kept"
    )
    assert all(t.status == "ok" for k, t in result.items() if k != "service.tickets")


def test_repeated_or_reserved_column_names_fail_their_table(shop: Brain) -> None:
    shop.ingest()
    path = shop.project.root / "sources" / "hris" / "overtime.csv"
    path.write_text("employee_id,month,hours,hours\nE1,2025-01-01,1,2\n")
    [overtime] = loads(shop, ["hris.overtime"]).values()
    assert overtime.status == "failed" and "overtime.csv: column name(s) ['hours'] are repeated" in overtime.message
    path.write_text("employee_id,month,hours,_load_id\nE1,2025-01-01,1,2\n")
    [overtime] = loads(shop, ["hris.overtime"]).values()
    assert overtime.status == "failed" and "['_load_id'] are repeated or the brain's own" in overtime.message
    assert len(rows(shop, "hris__overtime", "employee_id")) == 2


def test_storable_text() -> None:
    text = load_log.storable("a\x00b\x1b[31m\tc\nd\r\udc82\x85é\ud800", 100)
    assert text == "a\\x00b\\x1b[31m\tc\nd\\x0d\\x82\\x85é\\ud800"
    capped = load_log.storable("\x00" * 50, 40)
    assert capped == "\\x00\\x00\\x00\\x... (50 characters in all)" and len(capped) == 40
    assert load_log.storable(capped, 40) == capped and load_log.storable(text, 100) == text


def test_a_large_file_with_carriage_return_line_breaks_is_read_whole(shop: Brain) -> None:
    lines = "".join(f"E{i},2025-01-01,{i % 7}.5\r" for i in range(400_000))  # over 8 MiB, no \n at all
    (shop.project.root / "sources" / "hris" / "overtime.csv").write_text("employee_id,month,hours\r" + lines)
    [overtime] = loads(shop, ["hris.overtime"]).values()
    assert (overtime.status, overtime.rows_loaded, overtime.rows_quarantined) == ("ok", 400_000, 0)
