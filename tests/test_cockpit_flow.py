"""The headline flow in the cockpit, end to end in headless Chromium, on the small demo with its stand-in
systems (the ERP's order API on :8099, the account team's inbox on :8098, companybrain/demo/systems.py):

the plant reports Milwaukee L3 down (an event), the planner plans for it from the disruption page and
sees the plan summarised first (what it saves and costs, the
customers, what moves where as a flow chart) and submits it - a second click, even sent twice at once,
makes no second batch; the CFO and the planner see why they may not approve it; the CEO previews the
batch (what approving does, who must approve, the value expected) and approves it in one step; the
page says "applied", the ERP has the moves, the account team has the messages, the ledger entry counts,
and a second click on Approve decides nothing twice. Another plan is rejected with a reason.

Debian's chromium driven by Playwright (`apt-get install chromium`; never `playwright install`); every
request the browser makes must stay on this machine. Screenshots go to the test's temporary folder.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx2
import pytest

from companybrain.brain import Brain
from companybrain.delivery.app import BrainService, create_app
from tests.conftest import LOCAL_HOSTS
from tests.live_service import serve

SCOPES = ["read:metrics", "read:objects", "write:actions"]


@dataclass
class Demo:
    root: Path
    svc: BrainService
    url: str
    tokens: dict[str, str]
    stand_ins: Any

    def batches(self) -> set[int]:
        with self.svc.use() as brain:
            return {r["batch_id"] for r in brain.actions.find(limit=100_000)}

    def statuses(self, batch: int) -> dict[str, int]:
        with self.svc.use() as brain:
            found: dict[str, int] = {}
            for r in brain.actions.find(batch=batch, limit=100_000):
                found[r["status"]] = found.get(r["status"], 0) + 1
            return found

    def instructions(self) -> list[dict[str, Any]]:
        with sqlite3.connect(self.root / "sources" / "erp.sqlite") as db:
            db.row_factory = sqlite3.Row
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "production_instructions" not in tables:
                return []
            return [dict(r) for r in db.execute("SELECT * FROM production_instructions")]


@pytest.fixture(scope="module")
def demo(small_demo: Callable[[str], Path]) -> Iterator[Demo]:
    from companybrain.demo.systems import Servers

    root = small_demo("flow")
    try:
        stand_ins = Servers(root)
    except OSError as exc:
        pytest.fail(f"the demo's stand-in systems need 127.0.0.1:8099 and :8098 ({exc.strerror}): stop what uses them")
    brain = Brain.open(root)
    app = create_app(brain=brain)
    svc: BrainService = app.state.service
    tokens = {u: svc.tokens.create(u, SCOPES)[0] for u in ("planner", "ceo", "cfo")}
    tokens["sensors"] = svc.tokens.create("data_steward", ["write:events"])[0]  # the plant's line-down feed
    try:
        with serve(app) as url:
            yield Demo(root, svc, url, tokens, stand_ins)
    finally:
        stand_ins.close()
        brain.close()


@pytest.fixture
def seen() -> Iterator[list[str]]:
    """Every URL the browser requests; none may leave this machine."""
    urls: list[str] = []
    yield urls
    assert urls
    outside = [u for u in urls if not u.startswith("data:") and urlparse(u).hostname not in LOCAL_HOSTS]
    assert outside == [], f"the browser asked hosts other than the service: {outside}"


def signed_in(browser: Any, demo: Demo, user: str, seen: list[str]) -> tuple[Any, Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.on("request", lambda request: seen.append(request.url))
    page.goto(f"{demo.url}/cockpit/")
    page.fill("#token", demo.tokens[user])
    page.click("button[type=submit]")
    page.wait_for_url(f"{demo.url}/cockpit/", wait_until="load")
    return context, page


def declare(page: Any, demo: Demo, line: str, days: int) -> None:
    page.goto(f"{demo.url}/cockpit/disruption")
    page.select_option("select[name=site]", "MKE")
    page.fill("input[name=line]", line)
    page.fill("#capacity", "0")
    page.fill("input[name=start]", "2026-03-02")
    page.fill("input[name=days]", str(days))
    page.click("#disruption-form button[type=submit]")
    page.wait_for_selector("#plan", timeout=120_000)


def cookies_of(context: Any) -> dict[str, str]:
    return {c["name"]: c["value"] for c in context.cookies()}


def post_form(cookies: dict[str, str], demo: Demo, path: str, form: dict[str, str]) -> httpx2.Response:
    """The form as the signed-in browser would send it (its session cookie), without following the redirect."""
    return httpx2.post(f"{demo.url}{path}", data=form, cookies=cookies, follow_redirects=False, timeout=120)


def batch_of(url: str) -> int:
    found = re.search(r"/disruption/batches/(\d+)", url)
    assert found, url
    return int(found.group(1))


@pytest.mark.services
@pytest.mark.slow
def test_line_down_plan_approve_applied_told_and_in_the_ledger(
    browser: Any, demo: Demo, seen: list[str], tmp_path: Path
) -> None:
    before = demo.batches()
    # the line goes down: the plant's feed posts the event (its rule replans and alerts the plant managers)
    event = {
        "type": "line_down", "site_id": "MKE", "line_id": "MKE-L3", "machine_id": "MKE-L3-M1",
        "ts": "2026-03-02T06:00:00", "reason": "failure", "expected_duration_hours": 240,
    }  # fmt: skip
    posted = httpx2.post(
        f"{demo.url}/api/v1/events", json=event, headers={"Authorization": f"Bearer {demo.tokens['sensors']}"},
        timeout=120,
    )  # fmt: skip
    assert posted.status_code == 200 and posted.json()["plans"] == 1, posted.text
    # the planner sees it on the disruption page and plans for it: Milwaukee L3, 10 days, summarised first
    context, page = signed_in(browser, demo, "planner", seen)
    page.goto(f"{demo.url}/cockpit/disruption")
    assert "MKE-L3" in page.inner_text("#line-down-events")
    page.click("#line-down-events a")
    assert page.input_value("input[name=line]") == "MKE-L3" and page.input_value("input[name=days]") == "10"
    assert page.input_value("input[name=start]") == "2026-03-02"
    page.click("#disruption-form button[type=submit]")
    page.wait_for_selector("#plan", timeout=120_000)
    assert "MKE-L3" in page.inner_text("#plan h2")
    tiles = page.locator("#plan-summary .tile")
    assert tiles.count() == 4
    assert [tiles.nth(i).get_attribute("data-kpi") for i in range(4)] == [
        "revenue_at_risk", "cost", "customers", "actions"
    ]  # fmt: skip
    assert page.locator("#plan-flow svg path.band").count() >= 1  # what moves where, as a flow chart
    assert page.locator("#plan-delays tbody tr").count() >= 1
    assert page.get_attribute("#approve-form", "data-busy").startswith("Submitting")
    page.screenshot(path=str(tmp_path / "1-planner-plan.png"), full_page=True)

    # a double click, as the server sees it: the same submission twice at once makes one batch
    form = {
        "csrf": page.get_attribute("#approve-form input[name=csrf]", "value"),
        "plan_id": page.get_attribute("#approve-form input[name=plan_id]", "value"),
    }
    answers: list[httpx2.Response] = []
    cookies = cookies_of(context)  # read here: the browser's API is not for other threads
    both = [
        threading.Thread(target=lambda: answers.append(post_form(cookies, demo, "/cockpit/disruption/approve", form)))
        for _ in range(2)
    ]
    for t in both:
        t.start()
    for t in both:
        t.join()
    assert [a.status_code for a in answers] == [303, 303]
    (batch,) = {batch_of(a.headers["location"]) for a in answers}
    # and the button itself, a third time: the same batch again
    page.click("#approve")
    page.wait_for_selector("#approval")
    assert batch_of(page.url) == batch
    assert f"submitted as batch {batch}:" in page.inner_text("#approval")
    assert demo.batches() - before == {batch}
    assert set(demo.statuses(batch)) == {"proposed"}
    # the proposer may not approve it, and is told so (no Approve button)
    assert page.locator("#approve-batch-button").count() == 0
    assert "proposed by you" in page.inner_text("#not-yours")
    # a long step shows it is working: the submit button turns busy and cannot be clicked again
    page.goto(f"{demo.url}/cockpit/disruption")
    busy = page.evaluate(
        """() => { const f = document.getElementById('approve-form');
                  f.dispatchEvent(new Event('submit', {cancelable: true}));
                  const b = f.querySelector('button[type=submit]'); return [b.disabled, b.textContent]; }"""
    )
    assert busy[0] is True and busy[1].startswith("Submitting")
    context.close()

    # the CFO may approve part of it only: told why, in words, with no Approve button
    context, page = signed_in(browser, demo, "cfo", seen)
    page.goto(f"{demo.url}/cockpit/disruption/batches/{batch}")
    if page.locator("#not-yours").count():
        assert "ceo" in page.inner_text("#not-yours")
        assert page.locator("#approve-batch-button").count() == 0
    context.close()

    # the CEO: the batch awaiting a decision, its preview, one step
    context, page = signed_in(browser, demo, "ceo", seen)
    page.goto(f"{demo.url}/cockpit/disruption")
    page.locator(f"#pending-actions form[data-batch='{batch}'] button").click()
    page.wait_for_selector("#batch")
    assert batch_of(page.url) == batch
    assert "awaiting approval" in page.inner_text("#approval")
    assert page.locator("#batch-effects li[data-kind=call]").count() >= 1  # the ERP will be called
    assert page.locator("#batch-effects li[data-kind=message]").count() >= 1  # the account team told
    assert page.locator("#batch-approvers tbody tr").count() >= 1
    assert "ledger entry" in page.inner_text("#batch-value")
    assert page.get_attribute("#approve-batch", "data-busy").startswith("Approving")
    page.screenshot(path=str(tmp_path / "2-ceo-preview.png"), full_page=True)
    approve_form = {"csrf": page.get_attribute("#approve-batch input[name=csrf]", "value"), "note": ""}
    page.click("#approve-batch-button")
    page.wait_for_selector("#batch-done", timeout=120_000)
    page.screenshot(path=str(tmp_path / "3-ceo-applied.png"), full_page=True)
    assert "applied" in page.inner_text("#approval") and "failed" not in page.inner_text("#approval")
    assert set(demo.statuses(batch)) == {"applied"}

    # applied to the ERP: each move of the batch is a production instruction there
    with demo.svc.use() as brain:
        rows = brain.actions.find(batch=batch, limit=100_000)
    moves = {r["action_id"] for r in rows if r["action_type"] == "move_order"}
    erp = demo.instructions()
    assert moves and {i["brain_action"] for i in erp if i["status"] == "open"} >= moves
    # people told: every message of the batch sent, and received by the account team's inbox
    messages = page.locator("#batch-messages")
    total, sent = int(messages.get_attribute("data-total")), int(messages.get_attribute("data-sent"))
    delays = sum(1 for r in rows if r["action_type"] == "delay_order")
    assert total == sent == delays > 0
    received = [m for m in demo.stand_ins.stand_ins.received() if m["to"] == "/account-team"]
    assert len(received) >= delays and all("now ships on" in json.dumps(m["body"]) for m in received)
    # the expected value is in the ledger, and counts now
    assert "approved" in page.inner_text("#batch-value")
    with demo.svc.use() as brain:
        entries = [e for e in brain.value("ceo")["entries"] if e["batch_id"] == batch]
    assert [e["status"] for e in entries] == ["approved"]
    assert entries[0]["expected"]["revenue_at_risk_plan"] is not None

    # a second click on Approve decides nothing twice
    again = post_form(cookies_of(context), demo, f"/cockpit/disruption/batches/{batch}/approve", approve_form)
    assert again.status_code == 303
    page.goto(f"{demo.url}/cockpit/disruption/batches/{batch}")
    assert "decided already" in page.inner_text("#approval")
    assert len(demo.instructions()) == len(erp)
    assert set(demo.statuses(batch)) == {"applied"}
    context.close()


@pytest.mark.services
@pytest.mark.slow
def test_a_plan_rejected_with_a_reason_applies_nothing(browser: Any, demo: Demo, seen: list[str]) -> None:
    context, page = signed_in(browser, demo, "planner", seen)
    declare(page, demo, "", 7)  # the whole plant, a week
    page.click("#approve")
    page.wait_for_selector("#approval")
    batch = batch_of(page.url)
    context.close()

    calls = len(demo.instructions())
    context, page = signed_in(browser, demo, "ceo", seen)
    page.goto(f"{demo.url}/cockpit/disruption/batches/{batch}")
    page.fill("#reject-batch input[name=reason]", "Greenville is full that week")
    page.click("#reject-batch-button")
    page.wait_for_selector("#approval")
    assert "rejected" in page.inner_text("#approval")
    assert set(demo.statuses(batch)) == {"rejected"}
    assert len(demo.instructions()) == calls
    with demo.svc.use() as brain:
        rows = brain.actions.find(batch=batch, limit=100_000)
        entries = [e for e in brain.value("ceo")["entries"] if e["batch_id"] == batch]
    assert {r["error"] for r in rows} == {"Greenville is full that week"}
    assert [e["status"] for e in entries] == ["rejected"]
    assert page.locator("#approve-batch-button").count() == 0
    context.close()
