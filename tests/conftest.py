"""Shared fixtures: projects written on the fly, fresh PostgreSQL/MariaDB databases, the CLI."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

PG_ADMIN = os.environ.get("BRAIN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
MYSQL_HOST = os.environ.get("BRAIN_TEST_MYSQL_HOST", "127.0.0.1")


def _pg_admin():
    import psycopg

    return psycopg.connect(PG_ADMIN, autocommit=True)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    name = f"cb_test_{uuid.uuid4().hex[:10]}"
    with _pg_admin() as con:
        con.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with _pg_admin() as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A fresh, empty MariaDB database, dropped afterwards."""
    import pymysql

    name = f"cb_test_{uuid.uuid4().hex[:10]}"
    con = pymysql.connect(host=MYSQL_HOST, user="root", password="", autocommit=True)
    with con.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    try:
        yield f"mysql://root@{MYSQL_HOST}:3306/{name}"
    finally:
        with con.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        con.close()


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.services)])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test against every warehouse engine."""
    if request.param == "duckdb":
        return "duckdb:///.brain/warehouse.duckdb"
    return request.getfixturevalue("pg_url")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run `brain ARGS...` in-process through the real entry point; return (exit code, stdout, stderr)."""
    from companybrain.cli.main import main, state

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["brain", *args])
        monkeypatch.setenv("COLUMNS", "200")
        state.project, state.debug = None, False
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def semantic_brain(tmp_path: Path, warehouse_url: str) -> Iterator[Any]:
    """The shop with order lines, metrics and policies, ingested and built, on every engine."""
    from companybrain import Brain
    from tests.semantic_shop import make_semantic_shop

    brain = Brain.open(make_semantic_shop(tmp_path / "shop", warehouse_url))
    brain.ingest()
    brain.build()
    yield brain
    brain.close()


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """A fresh copy of the small demo (seed 7), generated, ingested and built once per test run."""
    from companybrain import Brain
    from companybrain.demo.generate import generate_demo

    built = tmp_path_factory.mktemp("small-demo") / "acme"
    generate_demo(built, scale="small", seed=7)
    with Brain.open(built) as brain:
        brain.ingest()
        brain.build()

    def copy(name: str) -> Path:
        root = tmp_path_factory.mktemp(name) / "acme"
        shutil.copytree(built, root)
        return root

    return copy


# --- the browser of the cockpit's tests: Debian's chromium, driven by Playwright (never `playwright install`) ---
CHROMIUM = os.environ.get("BRAIN_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (never `playwright install`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# --- Apache Spark: one local session (a JVM) per test run, shared by every project on it ---
SPARK_LOCAL = "spark:local[2]"
