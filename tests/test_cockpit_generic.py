"""The cockpit reads the project, not the demo: a freshly `brain init`-ed project with two tables shows its own
metrics only (tiles, pages, breakdowns, object pages), and no panel of the demo's; a role's overview comes
from its grants, or from what the policies declare for it. /docs and /redoc work with no internet."""

from __future__ import annotations

import csv
import socket
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from fastapi.testclient import TestClient

from companybrain.brain import Brain
from companybrain.delivery.app import create_app
from companybrain.semantic.query import MetricQuery
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, LOCAL_HOSTS, write

SOURCES = """
sources:
  - name: shop
    type: files
    path: sources/shop
    format: csv
    tables:
      - {name: stores, files: "stores.csv", primary_key: [store_id], mode: full}
      - {name: sales, files: "sales.csv", primary_key: [sale_id], mode: full}
"""

ONTOLOGY = """
objects:
  Store:
    description: A shop of the chain.
    key: store_id
    source: raw.shop__stores
    properties:
      store_id: {type: string, description: Store}
      city: {type: string, description: City}
  Sale:
    description: One till receipt.
    key: sale_id
    source: raw.shop__sales
    time: sold_on
    properties:
      sale_id: {type: string}
      store_id: {type: string}
      sold_on: {type: date}
      amount: {type: float, currency: EUR}
    links:
      store: {to: Store, via: store_id, reverse: sales}
"""

METRICS = """
metrics:
  takings:
    description: Money taken at the tills.
    object: Sale
    expr: sum(amount)
    format: currency
    unit: EUR
    target: 40000
    better: higher
  receipts:
    description: Till receipts issued.
    object: Sale
    expr: count(*)
    format: count
  basket:
    label: Average basket
    description: Money taken per receipt.
    expr: takings / receipts
    format: currency
    unit: EUR
dimensions:
  city:
    description: City of the store.
    object: Store
    expr: city
"""

POLICIES = """
roles:
  manager:
    objects: "*"
    metrics: "*"
  clerk:
    objects: [Sale, Store]
    metrics: [receipts]
  owner:
    objects: "*"
    metrics: "*"
    cockpit: {overview: [basket, takings]}
users:
  mia: {roles: [manager]}
  carl: {roles: [clerk]}
  olga: {roles: [owner]}
default_user: mia
"""
TODAY = date(2026, 3, 1)


def make_project(root: Path, run_cli: Any) -> Path:
    """`brain init`, then two CSV tables, two object types and three metrics: what a new user writes."""
    code, out, err = run_cli("init", str(root))
    assert code == 0, out + err
    text = (root / "brain.yaml").read_text(encoding="utf-8").replace("sources: []\n", SOURCES.lstrip("\n"))
    (root / "brain.yaml").write_text(text + f"today: {TODAY.isoformat()}\n", encoding="utf-8")
    write(root / "ontology" / "objects.yaml", ONTOLOGY)
    write(root / "metrics" / "shop.yaml", METRICS)
    folder = root / "sources" / "shop"
    folder.mkdir(parents=True, exist_ok=True)
    stores = [("S1", "Lyon"), ("S2", "Lille"), ("S3", "Nantes")]
    with (folder / "stores.csv").open("w", newline="") as f:
        csv.writer(f).writerows([("store_id", "city"), *stores])
    with (folder / "sales.csv").open("w", newline="") as f:
        rows = [
            (f"R{i}", stores[i % 3][0], (TODAY - timedelta(days=1 + i % 500)).isoformat(), 10 + (i * 7) % 90)
            for i in range(900)
        ]
        csv.writer(f).writerows([("sale_id", "store_id", "sold_on", "amount"), *rows])
    code, out, err = run_cli("-p", str(root), "check")
    assert code == 0, out + err
    with Brain.open(root) as brain:
        brain.ingest()
        brain.build()
    return root


@pytest.fixture
def shop(tmp_path: Path, run_cli: Any) -> Path:
    return make_project(tmp_path / "shop", run_cli)


def pages_of(html: str) -> list[str]:
    import re

    nav = html.split("<nav>")[1].split("</nav>")[0]
    return [re.sub(r"<[^>]+>", "", m).strip() for m in re.findall(r"<(?:a|span)[^>]*>[^<]*</(?:a|span)>", nav)]


def test_a_new_project_shows_its_own_metrics_and_nothing_of_the_demo(shop: Path) -> None:
    with Brain.open(shop) as brain:
        app = create_app(brain=brain)
        token, _ = app.state.service.tokens.create("local", ["read:metrics", "read:objects"])
        with TestClient(app) as client:
            client.post("/cockpit/signin", data={"token": token, "next": "/cockpit/"})
            overview = client.get("/cockpit/")
            assert overview.status_code == 200
            assert pages_of(overview.text) == ["Overview", "Shop", "Alerts", "Ask"]
            for demo_word in ("Machine", "Not available", "Disruption", "Scenarios", "Predictions", "(none)"):
                assert demo_word not in overview.text
            for name in ("takings", "receipts", "basket"):
                assert f'data-metric="{name}"' in overview.text
            assert "Average basket" in overview.text and "Target 40.0k EUR" in overview.text
            page = client.get("/cockpit/shop?metric=takings&by=city")
            assert page.status_code == 200 and 'data-by="city"' in page.text
            assert "/cockpit/objects/Store?city=Lyon" in page.text  # a figure links to its objects
            store = client.get("/cockpit/objects/Store?city=Lyon")  # one store: straight to its page
            assert store.url.path == "/cockpit/objects/Store/S1" and "Lyon" in store.text
            exported = client.get("/cockpit/export.csv?m=takings&by=city")
            expected = brain.query(MetricQuery(("takings",), by=("city",), period="2025-03-01..2026-02-28")).rows
            lines = exported.text.strip().splitlines()
            assert lines[0] == "City,Takings" and len(lines) == 1 + len(expected)
            assert client.get("/cockpit/machines").status_code == 404
            # no records a what-if changes: no kind of change offered, and no word of the demo's
            scenarios = client.get("/cockpit/scenarios")
            assert scenarios.status_code == 200 and 'id="kind"' not in scenarios.text
            assert "none of the records a what-if changes" in scenarios.text
            assert not any(w in scenarios.text for w in ("PUMP", "Milwaukee", "EMEA", "Operations"))


def test_each_role_lands_on_its_own_overview(shop: Path) -> None:
    write(shop / "policies" / "shop.yaml", POLICIES)
    with Brain.open(shop) as brain:
        app = create_app(brain=brain)
        svc = app.state.service
        with TestClient(app) as client:
            shown = {}
            for user in ("mia", "carl", "olga"):
                token, _ = svc.tokens.create(user, ["read:metrics"])
                client.cookies.clear()
                client.post("/cockpit/signin", data={"token": token, "next": "/cockpit/"})
                html = client.get("/cockpit/").text
                shown[user] = [m for m in ("takings", "receipts", "basket") if f'data-metric="{m}"' in html]
                assert "Not available" not in html
            assert shown == {
                "mia": ["takings", "receipts", "basket"],
                "carl": ["receipts"],
                "olga": ["takings", "basket"],
            }
            # the declared order holds: basket first for the owner
            assert html.index('data-metric="basket"') < html.index('data-metric="takings"')
            assert "The overview of your role (Owner)" in html


# --- the browser -------------------------------------------------------------------------------------------


@pytest.fixture
def served(shop: Path) -> Iterator[tuple[str, str]]:
    import uvicorn

    brain = Brain.open(shop)
    app = create_app(brain=brain)
    token, _ = app.state.service.tokens.create("local", ["read:metrics", "read:objects"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", token
    server.should_exit = True
    thread.join(10)
    app.state.service.stop()
    brain.close()


@pytest.mark.services
def test_in_the_browser_the_new_project_shows_only_its_metrics_and_docs_work_offline(
    served: tuple[str, str], tmp_path: Path
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (never `playwright install`)")
    from playwright.sync_api import sync_playwright

    base, token = served
    seen: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        page.on("request", lambda request: seen.append(request.url))
        page.goto(f"{base}/cockpit/signin")
        page.fill("#token", token)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/cockpit/")
        tiles = page.locator(".tile").evaluate_all("els => els.map(e => e.dataset.metric)")
        assert sorted(tiles) == ["basket", "receipts", "takings"]
        nav = page.locator("header nav a, header nav span").all_inner_texts()
        assert nav == ["Overview", "Shop", "Alerts", "Ask"]
        assert page.locator("#risks").count() == 0  # no model, no panel for one
        page.screenshot(path=str(tmp_path / "new-project-overview.png"), full_page=True)
        page.click("header nav a:has-text('Shop')")
        page.locator("#dims a", has_text="by city").click()
        assert sorted(page.locator("#breakdown text.blabel").evaluate_all("els => els.map(e => e.dataset.label)")) == [
            "Lille",
            "Lyon",
            "Nantes",
        ]
        page.locator("#figures a", has_text="Lyon").click()
        page.wait_for_selector("#properties")
        assert "Lyon" in page.inner_text("#properties")
        page.screenshot(path=str(tmp_path / "new-project-store.png"), full_page=True)
        # the API's documentation, with no internet: its scripts come from the service
        page.goto(f"{base}/docs")
        page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
        page.goto(f"{base}/redoc")
        page.wait_for_selector("h1", timeout=30_000)
        page.screenshot(path=str(tmp_path / "redoc.png"))
        browser.close()
    seen = [u.removeprefix("blob:") for u in seen if not u.startswith("data:")]  # a blob: URL names its origin
    outside = [u for u in seen if urlparse(u).hostname not in LOCAL_HOSTS]
    assert outside == [], f"the browser asked hosts other than the service: {outside}"
    print(f"screenshots in {tmp_path}")


# --- the service's docs and logs, the CLI's tables --------------------------------------------------------


def test_docs_pages_load_their_files_from_the_service(shop: Path) -> None:
    import re

    with Brain.open(shop) as brain, TestClient(create_app(brain=brain)) as client:
        for path in ("/docs", "/redoc"):
            page = client.get(path)
            assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
            assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
            assert assets and all(a.startswith("/") for a in assets), assets
            for asset in assets:
                assert client.get(asset).status_code == 200, asset
        assert b"cdn.redoc.ly" not in client.get("/docs/redoc.js").content


def test_one_log_level_for_the_service_and_its_access_log(run_cli: Any, shop: Path) -> None:
    from companybrain.delivery.app import configure_logging

    config = configure_logging("debug")
    assert {config["loggers"][n]["level"] for n in ("companybrain", "uvicorn", "uvicorn.access")} == {"DEBUG"}
    code, _, err = run_cli("-p", str(shop), "serve", "--log-level", "loud")
    assert code == 2 and "use one of debug, info, warning, error" in err


@pytest.mark.slow
def test_brain_serve_writes_an_access_log_line_per_request(shop: Path) -> None:
    """`brain serve --log-level info` (the default) logs each request with its time, method, path and status;
    at warning it logs none."""
    import re
    import subprocess
    import sys

    import httpx2

    def served(level: str) -> str:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        args = [sys.executable, "-m", "companybrain.cli.main", "-p", str(shop), "serve", "--port", str(port)]
        proc = subprocess.Popen(
            [*args, "--log-level", level], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                        break
                except httpx2.TransportError:
                    time.sleep(0.2)
            else:
                pytest.fail("brain serve did not answer within 60 s")
        finally:
            proc.terminate()
            out, _ = proc.communicate(timeout=30)
        return out

    logged = served("info")
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d.*\"GET /healthz HTTP/1.1\" 200", logged, re.M), logged
    assert "GET /healthz" not in served("warning")


def test_tables_fit_the_terminal_and_write_numbers_one_way(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from companybrain.cli import output

    screen = Console(width=60, force_terminal=True, record=True, color_system=None)
    monkeypatch.setattr(output, "console", screen)
    rows = [
        {"customer": "A customer with a very long name indeed, Inc.", "revenue": 12345678.9, "share": 0.000123},
        {"customer": "Short", "revenue": 2.5, "share": 0.25},
    ]
    output.print_rows(rows, formats={"revenue": "currency"})
    text = screen.export_text()
    assert max(len(line) for line in text.splitlines()) <= 60
    assert "12,345,679" in text and "0.000123" in text and "0.25" in text  # never split, never an exponent
    assert [output.format_number(v) for v in (1e-7, 12.5, 123456.7)] == ["0.0000001", "12.50", "123,457"]
