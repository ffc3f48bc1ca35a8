"""Serving and landing together: with the embedded warehouse, `brain serve` keeps answering while it lands
and builds (jobs on a connection of their own), and the CLI's ingest, build, tokens and audit verify go
through the running service and print what they print without it.

Each test works on its own copy of the small demo. The concurrent and CLI tests are `slow`: they load and
build, or start `brain serve` as a process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from companybrain.brain import Brain
from companybrain.delivery.app import BrainService, create_app
from companybrain.delivery.jobs import LandingBrain
from companybrain.delivery.local import control_path, served_by
from companybrain.governance.principal import principal_for
from tests.live_service import serve

REVENUE = "/api/v1/metrics/query?metric=revenue&by=region"
ORDERS = "/api/v1/metrics/query?metric=revenue&metric=orders&by=site"
LINES = "/api/v1/objects/OrderLine/count"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def add_order_lines(root: Path, n: int = 500) -> float:
    """New lines (copies of existing ones of orders not cancelled) in the ERP; returns the revenue they add."""
    with sqlite3.connect(root / "sources" / "erp.sqlite") as con:
        top = con.execute("SELECT max(order_line_id) FROM order_lines").fetchone()[0]
        columns = [row[1] for row in con.execute("PRAGMA table_info(order_lines)")]
        rows = con.execute(
            "SELECT ol.* FROM order_lines ol JOIN orders o USING (order_id) WHERE o.status <> 'cancelled' LIMIT ?",
            (n,),
        ).fetchall()
        added = []
        for i, row in enumerate(rows):
            line = dict(zip(columns, row, strict=True))
            line |= {"order_line_id": top + 1 + i, "line_number": 1000 + i, "updated_at": "2099-01-01 00:00:00"}
            added.append(tuple(line[c] for c in columns))
        con.executemany(f"INSERT INTO order_lines VALUES ({', '.join('?' * len(columns))})", added)
    return float(sum(line[columns.index("net_amount")] for line in added))


def figures(body: dict[str, Any]) -> Any:
    return body["count"] if "count" in body else [tuple(r) for r in body["rows"]]


def run_job(http: httpx2.Client, headers: dict[str, str], kind: str, body: dict[str, Any]) -> dict[str, Any]:
    accepted = http.post(f"/api/v1/jobs/{kind}", json=body, headers=headers)
    assert accepted.status_code == 202, accepted.text
    job: dict[str, Any] = accepted.json()
    assert accepted.headers["location"] == f"/api/v1/jobs/{job['job_id']}"
    while job["status"] in ("queued", "running"):
        job = http.get(f"/api/v1/jobs/{job['job_id']}?wait=30", headers=headers).json()
    return job


# --- reads during a load and a build -------------------------------------------------------------


@pytest.mark.slow
def test_a_load_and_a_build_while_four_clients_read(small_demo: Callable[[str], Path]) -> None:
    """4 clients read all the time; every answer is the old build's figures or the new build's, never a mix
    and never an error; answers keep coming while the jobs run; after the build, the new figures at once."""
    root = small_demo("land")
    app = create_app(root)
    svc: BrainService = app.state.service
    reader = auth(svc.tokens.create("cfo", ["read:metrics", "read:objects"])[0])
    admin = auth(svc.tokens.create("data_steward", ["admin:data"])[0])
    urls = (REVENUE, ORDERS, LINES)
    with serve(app) as base, httpx2.Client(base_url=base, timeout=120) as http:
        old = {url: figures(http.get(url, headers=reader).json()) for url in urls}
        added = add_order_lines(root)
        reads: list[tuple[str, Any, float, float]] = []  # url, figures, started, ended
        errors: list[str] = []
        stop = threading.Event()
        unique = iter(range(10**6))  # a limit no one asked before: each answer computed, not cached

        def client(k: int) -> None:
            with httpx2.Client(base_url=base, timeout=120) as own:
                i = k
                while not stop.is_set():
                    url = urls[i % len(urls)]
                    i += 1
                    asked = url if url == LINES else f"{url}&limit={1000 + next(unique)}"
                    started = time.monotonic()
                    answer = own.get(asked, headers=reader)
                    if answer.status_code != 200:
                        errors.append(f"{answer.status_code} {answer.text[:200]}")
                        continue
                    reads.append((url, figures(answer.json()), started, time.monotonic()))

        clients = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for thread in clients:
            thread.start()
        try:
            time.sleep(0.5)
            began = time.monotonic()
            ingest = run_job(http, admin, "ingest", {})
            landed = time.monotonic()
            build = run_job(http, admin, "build", {"full": True, "factory": False})  # every type: a long transaction
            built = time.monotonic()
            time.sleep(0.5)
        finally:
            stop.set()
            for thread in clients:
                thread.join()
        new = {url: figures(http.get(url, headers=reader).json()) for url in urls}

    assert ingest["status"] == "ok" and build["status"] == "ok", (ingest["error"], build["error"])
    assert sum(s["rows_loaded"] for s in ingest["result"]["sources"]) == 500
    assert sorted(build["result"]["rebuilt"]) == sorted(build["result"]["objects"])  # --full: every type
    assert errors == []
    assert new[LINES] == old[LINES] + 500
    assert sum(r[1] for r in new[REVENUE]) == pytest.approx(sum(r[1] for r in old[REVENUE]) + added)
    mixed = [r for r in reads if r[1] not in (old[r[0]], new[r[0]])]
    assert mixed == [], f"{len(mixed)} reads of neither build, e.g. {mixed[0]}"
    during_build = [r for r in reads if landed <= r[2] and r[3] <= built]
    during_ingest = [r for r in reads if began <= r[2] and r[3] <= landed]
    assert during_ingest and during_build, "the readers waited for the jobs"
    assert {r[1] == old[r[0]] for r in during_ingest} == {True}  # a load changes no object
    late = [r for r in reads if r[2] > built and r[1] != new[r[0]]]
    assert late == [], "an answer of the old build after the new one was committed"
    with Brain.open(root) as brain:
        assert brain.audit.verify()["ok"]


@pytest.mark.slow
def test_an_approval_during_a_build_is_not_lost(
    small_demo: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build replaces the tables it rebuilds with what it read when it began: an action applied meanwhile
    (its decision object written at once) waits for the build to commit, and stays on the company model."""
    staging = threading.Event()
    build = LandingBrain.build

    def slow_build(self: LandingBrain, progress: Any = None, full: bool = False) -> Any:
        def each(name: str, done: int, total: int) -> None:  # inside the build's transaction
            staging.set()
            time.sleep(0.1)  # keep it open for a few seconds: the approval comes meanwhile

        return build(self, each, full)

    monkeypatch.setattr(LandingBrain, "build", slow_build)
    app = create_app(small_demo("approve"))
    svc: BrainService = app.state.service
    cfo = auth(svc.tokens.create("cfo", ["read:objects", "write:actions"])[0])
    ceo = auth(svc.tokens.create("ceo", ["read:objects", "write:actions"])[0])
    admin = auth(svc.tokens.create("data_steward", ["admin:data"])[0])
    with TestClient(app) as client:
        line = client.get("/api/v1/objects/OrderLine?limit=1", headers=cfo).json()["objects"][0]
        parameters = {"order_id": line["order_id"], "line": line["production_line_id"], "week": 2}
        proposed = client.post("/api/v1/actions", json={"action_type": "prioritise_order", "parameters": parameters},
                               headers=cfo)  # fmt: skip
        assert proposed.status_code == 200, proposed.text
        decisions = client.get("/api/v1/objects/OrderPriority/count", headers=cfo).json()["count"]
        job = client.post("/api/v1/jobs/build", json={"full": True, "factory": False}, headers=admin).json()
        assert staging.wait(60)
        approved = client.post("/api/v1/actions/approve", json={"ids": [proposed.json()[0]["action_id"]]}, headers=ceo)
        assert approved.status_code == 200 and approved.json()[0]["status"] == "applied", approved.text
        assert client.get(f"/api/v1/jobs/{job['job_id']}", headers=admin).json()["status"] == "ok"  # it waited
        job = client.get(f"/api/v1/jobs/{job['job_id']}?wait=60", headers=admin).json()
        assert job["status"] == "ok", job["error"]
        assert client.get("/api/v1/objects/OrderPriority/count", headers=cfo).json()["count"] == decisions + 1


def test_audit_records_of_a_job_and_of_readers_form_one_chain(small_demo: Callable[[str], Path]) -> None:
    """A job's Brain appends on its own connection, under the service's lock: one chain, no seq twice."""
    root = small_demo("chain")
    with Brain.open(root) as brain:
        svc = BrainService(brain)
        landing = LandingBrain(brain.project, brain.warehouse.another_connection(), svc.lock)
        who = principal_for(brain.project, "cfo", None)

        def served(i: int) -> None:  # as every route does: the service's Brain under its lock
            with svc.use() as b:
                b.audit.append(who, "query", {"i": i}, None, 0, None)

        def job(i: int) -> None:  # as a job does: its own connection; the append takes the lock itself
            landing.audit.append(who, "query", {"i": i}, None, 0, None)

        def append(use: Callable[[int], None]) -> None:
            for i in range(40):
                use(i)

        threads = [threading.Thread(target=append, args=(f,)) for f in (served, job)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        landing.close()
        report = brain.audit.verify()
    assert report["ok"], report["problems"][:3]
    assert report["records"] >= 80


@pytest.mark.slow
def test_the_schedule_lands_and_builds(small_demo: Callable[[str], Path]) -> None:
    root = small_demo("schedule")
    for usecase in (root / "usecases").glob("*.yaml"):  # a scheduled build trains what is due: nothing, here
        text = usecase.read_text()
        usecase.write_text(re.sub(r"(?m)^schedule: \w+$", "schedule: manual", text))
    app = create_app(root, ingest_every=0.5)
    svc: BrainService = app.state.service
    reader = auth(svc.tokens.create("cfo", ["read:objects"])[0])
    admin = auth(svc.tokens.create("data_steward", ["admin:data"])[0])
    with TestClient(app) as client:
        before = client.get(LINES, headers=reader).json()["count"]
        add_order_lines(root, 50)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            jobs = client.get("/api/v1/jobs?limit=100", headers=admin).json()
            if any(j["kind"] == "build" and j["status"] in ("ok", "failed") for j in jobs):
                break
            time.sleep(0.2)
        assert client.get(LINES, headers=reader).json()["count"] == before + 50
    scheduled = {(j["kind"], j["status"]) for j in jobs if j["trigger"] == "schedule"}
    assert {("ingest", "ok"), ("build", "ok")} <= scheduled
    # an ingest that landed nothing builds nothing: every build follows an ingest that landed rows
    assert sum(j["kind"] == "build" for j in jobs) == sum(
        j["kind"] == "ingest" and j["status"] == "ok" and any(s["rows_loaded"] for s in j["result"]["sources"])
        for j in jobs
    )


# --- who may ask for jobs -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served_demo(small_demo: Callable[[str], Path]) -> Iterator[tuple[TestClient, BrainService]]:
    app = create_app(small_demo("jobs"))
    with TestClient(app) as client:
        yield client, app.state.service


def test_jobs_take_admin_data_or_the_local_secret_over_loopback(
    served_demo: tuple[TestClient, BrainService],
) -> None:
    client, svc = served_demo
    reader = auth(svc.tokens.create("cfo", ["read:metrics", "read:objects", "read:audit"])[0])
    admin = auth(svc.tokens.create("data_steward", ["admin:data"])[0])
    assert client.post("/api/v1/jobs/build", json={}).status_code == 401
    refused = client.post("/api/v1/jobs/build", json={}, headers=reader)
    assert refused.status_code == 403 and refused.json()["type"].endswith("insufficient-scope")
    assert "admin:data" in refused.json()["detail"]
    # the TestClient's peer is not a loopback address: the right secret is still refused from it
    local = client.post("/api/v1/jobs/build", json={}, headers=auth(svc.local_secret))
    assert local.status_code == 401 and "loopback" in local.json()["detail"]
    assert client.get("/api/v1/local/tokens", headers=auth(svc.local_secret)).status_code == 401
    # the local secret is never a read credential, nor an API token a local one
    assert client.get(REVENUE, headers=auth(svc.local_secret)).status_code == 401
    assert client.get("/api/v1/local/tokens", headers=admin).status_code == 401
    for body in ({"full": 0}, {"factory": "false"}, {"nope": True}):
        assert client.post("/api/v1/jobs/build", json=body, headers=admin).status_code == 422
    assert client.post("/api/v1/jobs/ingest", json={"sources": "erp"}, headers=admin).status_code == 422
    assert client.get("/api/v1/jobs/999999", headers=admin).status_code == 404

    accepted = client.post("/api/v1/jobs/ingest", json={"sources": ["nowhere"]}, headers=admin)
    assert accepted.status_code == 202 and accepted.headers["location"].endswith(f"/{accepted.json()['job_id']}")
    job = client.get(f"/api/v1/jobs/{accepted.json()['job_id']}?wait=30", headers=admin).json()
    assert job["status"] == "failed" and job["error"]["status"] == 404 and "nowhere" in job["error"]["message"]
    assert job["requested_by"].endswith("(data_steward)") and job["trigger"] == "request"
    assert client.get("/api/v1/jobs", headers=admin).json()[0]["job_id"] == job["job_id"]


def test_the_local_secret_works_over_loopback_only_with_this_runs_value(small_demo: Callable[[str], Path]) -> None:
    app = create_app(small_demo("loopback"))
    svc: BrainService = app.state.service
    with serve(app) as base, httpx2.Client(base_url=base, timeout=30) as http:
        assert http.get("/api/v1/local/tokens", headers=auth(svc.local_secret)).status_code == 200
        wrong = http.get("/api/v1/local/tokens", headers=auth("cbl_" + "x" * 43))
        assert wrong.status_code == 401 and "local secret" in wrong.json()["detail"]
        token = http.post(
            "/api/v1/local/tokens",
            json={"user": "cfo", "scopes": ["read:metrics"], "expires_days": 1},
            headers=auth(svc.local_secret),
        ).json()
        assert http.get("/api/v1/metrics", headers=auth(token["token"])).status_code == 200
        revoked = http.post(f"/api/v1/local/tokens/{token['id']}/revoke", headers=auth(svc.local_secret)).json()
        assert revoked["state"] == "revoked"
        assert http.get("/api/v1/metrics", headers=auth(token["token"])).status_code == 401  # at once
        unknown = http.post("/api/v1/local/tokens", json={"user": "mallory", "scopes": ["read:metrics"]},
                            headers=auth(svc.local_secret))  # fmt: skip
        assert unknown.status_code >= 400 and "mallory" in unknown.json()["detail"]


# --- the CLI against a running `brain serve` ------------------------------------------------------


@contextmanager
def brain_serve(root: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`brain serve --port 0` for the project as a process, once it answers (its URL is in .brain/serve.json);
    stopped with SIGTERM, as a service manager stops it."""
    log = root.parent / "serve.log"
    with log.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "companybrain.cli.main", "-p", str(root), "serve", "--port", "0"],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        _wait_until_served(root, process, log)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def _wait_until_served(root: Path, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = served_by(root)
        if found is not None and found.pid == process.pid:
            try:
                if httpx2.get(found.url + "/healthz", timeout=5).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
        assert process.poll() is None, log.read_text()
        time.sleep(0.2)
    raise AssertionError("brain serve did not start")


def shapes(value: Any) -> Any:
    """The JSON's shape: keys and types, not values."""
    if isinstance(value, dict):
        return {k: shapes(v) for k, v in value.items()}
    if isinstance(value, list):
        return "list"
    return type(value).__name__ if value is not None else None


@pytest.mark.slow
def test_cli_goes_through_the_running_service(
    small_demo: Callable[[str], Path], run_cli: Callable[..., tuple[int, str, str]]
) -> None:
    root = small_demo("cli")
    p = ("-p", str(root))
    with brain_serve(root) as process:
        control = control_path(root)
        assert stat.S_IMODE(control.stat().st_mode) == 0o600
        url = served_by(root).url

        code, out, err = run_cli(*p, "tokens", "create", "cfo", "--scope", "read:metrics", "--format", "json")
        assert code == 0, err
        token = json.loads(out)
        assert token["token"].startswith("cbt_") and token["state"] == "active"
        assert httpx2.get(url + "/api/v1/metrics", headers=auth(token["token"])).status_code == 200
        code, out, _ = run_cli(*p, "tokens", "revoke", token["id"], "--format", "json")
        assert code == 0 and json.loads(out)["state"] == "revoked"
        refused = httpx2.get(url + "/api/v1/metrics", headers=auth(token["token"]))
        assert refused.status_code == 401 and "revoked" in refused.json()["detail"]  # at once, not in 5 s
        code, _, err = run_cli(*p, "tokens", "revoke", "tok_nope")
        assert code == 1 and err.startswith("Error: no API token with id 'tok_nope'")
        code, served_list, _ = run_cli(*p, "tokens", "list", "--format", "json")
        assert code == 0

        add_order_lines(root, 20)
        code, out, err = run_cli(*p, "ingest", "--format", "json")
        assert code == 0, err
        served_ingest = json.loads(out)
        assert sum(s["rows_loaded"] for s in served_ingest["sources"]) == 20
        code, out, err = run_cli(*p, "build", "--no-factory", "--format", "json")
        assert code == 0, err
        served_build = json.loads(out)
        assert served_build["status"] == "ok" and served_build["factory"] == []
        code, table, _ = run_cli(*p, "build", "--no-factory")
        assert code == 0 and "rebuilt 0 of" in table and "contracts:" in table
        code, out, _ = run_cli(*p, "audit", "verify", "--format", "json")
        assert code == 0 and json.loads(out)["ok"]
        code, _, err = run_cli(*p, "ingest", "nowhere")
        assert code == 1 and "Error:" in err and "nowhere" in err
        code, _, err = run_cli(*p, "alerts", "list")  # not sent to the service: says who holds the warehouse
        assert code == 1 and f"pid {process.pid}" in err
    assert not control_path(root).exists()  # gone with the service (uvicorn re-raises SIGTERM after shutdown)

    # the same commands without the service print the same shapes (and the same tokens)
    code, local_list, _ = run_cli(*p, "tokens", "list", "--format", "json")
    assert code == 0 and json.loads(local_list) == json.loads(served_list)
    code, out, _ = run_cli(*p, "ingest", "--format", "json")
    assert code == 0 and shapes(json.loads(out)) == shapes(served_ingest)
    code, out, _ = run_cli(*p, "build", "--no-factory", "--format", "json")
    assert code == 0 and shapes(json.loads(out)) == shapes(served_build)
    code, _, err = run_cli(*p, "tokens", "revoke", "tok_nope")
    assert code == 1 and err.startswith("Error: no API token with id 'tok_nope'")


def test_a_file_left_by_a_killed_service_is_ignored(
    small_demo: Callable[[str], Path], run_cli: Callable[..., tuple[int, str, str]]
) -> None:
    root = small_demo("stale")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    control_path(root).write_text(
        json.dumps({"pid": dead.pid, "url": "http://127.0.0.1:9", "secret": "cbl_x", "warehouse": ""})
    )
    os.chmod(control_path(root), 0o600)
    assert served_by(root) is None
    code, out, err = run_cli("-p", str(root), "tokens", "list", "--format", "json")
    assert code == 0, err
    assert "tokens" in json.loads(out)
    # and a file that names a non-loopback address is never used
    control_path(root).write_text(
        json.dumps({"pid": os.getpid(), "url": "http://10.1.2.3:8765", "secret": "cbl_x", "warehouse": ""})
    )
    assert served_by(root) is None
