"""The alert leak matrix: every demo user who can receive an alert x every path an alert takes to a
person x the values that user must not see. Zero leaks is the only pass.

Paths: webhook payloads (a real HTTP receiver; personal `{user}` channels and the shared ones the demo
keeps), e-mail (a real SMTP server, aiosmtpd), the escalation, the service's `GET /api/v1/alerts`
and the cockpit's Alerts page (its inbox). Rules: the demo's own (`line_down` -> replan -> who to tell
what, overheating machines, downtime anomalies, on-time delivery, machine failure risk), plus rules
written here so that every demo user is in some audience and every kind of rule reaches a filtered
reader: revenue by site (escalated to finance and sales), revenue by customer, attrition by function,
every machine's failure risk, downtime outliers by site, and a line-down replan told to sales and HR.

What a user must not see is what the governed read path does not give them, read as them: orders,
customers, lines, sites and machines it does not return; employees' and supplier contacts' names
and e-mail it masks; the replan's amounts (from the same plans computed as the CFO) and the metric
values of rows it hides. Every user must have been told something, so that zero leaks is not zero
messages.
"""

from __future__ import annotations

import email
import email.header
import html
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlglot import exp

from companybrain.brain import Brain
from companybrain.decisions.network import Disruption
from companybrain.delivery import recipients
from companybrain.delivery.alerts import AlertEngine
from companybrain.delivery.events import EventProcessor
from companybrain.errors import PolicyDenied
from companybrain.semantic.query import MetricQuery
from tests.test_alerts import Clock, Mailbox, Receiver

pytestmark = pytest.mark.slow

USERS = ["ceo", "cfo", "emea_rep", "mke_plant_manager", "emea_hrbp", "data_steward"]
DOWN = [("BLQ", "BLQ-L1"), ("MKE", "MKE-L3")]  # a line of Bologna and one of Milwaukee stop
HOT = ["MKE-L2-M1", "BLQ-L2-M1"]  # a machine of each overheats
START = "2026-03-02"

# every demo user in some audience; personal channels (webhook and mail) and an escalation
RULES = """
alerts:
  revenue_by_site:
    type: threshold
    metric: revenue
    by: [site]
    period: "2025"
    above: 0
    max_per_hour: 1000
    audience: {roles: [executive, finance, sales_rep, plant_manager], users: [data_steward]}
    channels:
      - "json://127.0.0.1:8099/leaks/{user}"
      - "mailto://127.0.0.1:8025?from=brain@acme.example&to={user}@acme.example"
    escalation:
      after_minutes: 30
      audience: {roles: [finance, sales_rep]}
      channels: ["json://127.0.0.1:8099/escalated/{user}"]
  revenue_by_customer:
    type: threshold
    metric: revenue
    by: [customer]
    period: "2025"
    above: 1500000
    max_per_hour: 1000
    audience: {roles: [sales_rep, finance]}
    channels: ["json://127.0.0.1:8099/leaks/{user}"]
  attrition_by_function:
    type: threshold
    metric: attrition_rate
    by: [function]
    period: "2025"
    above: 0
    max_per_hour: 1000
    audience: {roles: [hr_partner, executive]}
    channels: ["mailto://127.0.0.1:8025?from=brain@acme.example&to={user}@acme.example"]
  failure_risk_by_plant:
    type: prediction
    usecase: machine_failure_risk
    above: 0.0
    show: [line_id, site_id]
    limit: 1000
    max_per_hour: 1000
    audience: {roles: [plant_manager, executive], users: [data_steward]}
    channels: ["json://127.0.0.1:8099/leaks/{user}"]
  downtime_outliers:
    type: anomaly
    metric: downtime_hours
    by: [site]
    z: 0.01
    min_history: 3
    max_per_hour: 1000
    audience: {roles: [plant_manager, executive], users: [data_steward]}
    channels: ["mailto://127.0.0.1:8025?from=brain@acme.example&to={user}@acme.example"]
  line_down_told_to_sales_and_hr:
    type: event
    event: line_down
    key: [line_id]
    as_user: cfo
    replan: {days: 7}
    audience: {roles: [sales_rep, hr_partner, finance]}
    channels: ["json://127.0.0.1:8099/leaks/{user}"]
"""


@dataclass
class Forbidden:
    """What one user must never be told, as text to search for."""

    words: set[str] = field(default_factory=set)  # ids, names, e-mail: whole words
    orders: set[str] = field(default_factory=set)  # order ids, as the alerts write them ("order 123")
    figures: set[str] = field(default_factory=set)  # amounts and metric values, as the alerts write them

    def found_in(self, text: str) -> list[str]:
        # a plain substring test first: thousands of words x hundreds of messages
        words = [w for w in self.words if w in text]
        hits = [w for w in words if re.search(rf"(?<![\w.@-]){re.escape(w)}(?![\w@-])", text)]
        hits += [f"order {n}" for n in re.findall(r"\border (\d+)\b", text) if n in self.orders]
        figures = [f for f in self.figures if f in text]
        # a figure, not a part of a longer one or of an id (a comma or full stop after it may end the sentence)
        hits += [f for f in figures if re.search(rf"(?<!\w)(?<!\d[.,]){re.escape(f)}(?![.,]?\d)(?!\w)", text)]
        return hits


def _table(brain: Brain, name: str, *columns: str) -> list[dict[str, Any]]:
    query = exp.select(*columns).from_(exp.table_(name, db="ontology"))
    return brain.warehouse.query_arrow(query).to_pylist()


def _governed(brain: Brain, user: str, type_name: str, *columns: str) -> list[dict[str, Any]]:
    try:
        return brain.read(type_name, user=user, columns=list(columns)).to_pylist()
    except PolicyDenied:
        return []


def _masked(brain: Brain, user: str, type_name: str, prop: str) -> bool:
    """True when `user` may not read the property (denied, or masked)."""
    try:
        rows = brain.read(type_name, user=user, columns=[prop], limit=1).to_pylist()
    except PolicyDenied:
        return True
    return not rows or rows[0][prop] == "***"


def _amounts(value: Any) -> set[str]:
    """How an amount may be written (large enough not to be any other number in a message)."""
    if not isinstance(value, int | float) or abs(value) < 100:
        return set()
    return {f"{value:,.0f}", f"{value:,.2f}", f"{value:.2f}", f"{value:.0f}", str(value)}


def _values(brain: Brain, user: str, metric: str, by: str) -> dict[str, str]:
    """A metric by a dimension over 2025 as `user` reads it, written as the alerts write it."""
    try:
        rows = brain.query(MetricQuery(metrics=(metric,), by=(by,), period="2025"), user).rows
    except PolicyDenied:
        return {}
    return {str(k): f"{v:,.4g}" for k, v in rows if v is not None}


def forbidden_for(brain: Brain, plans: list[Any]) -> dict[str, Forbidden]:
    """Per user: everything the governed path does not give them, read from the warehouse."""
    orders = {str(r["order_id"]) for r in _table(brain, "order", "order_id")}
    customers = _table(brain, "customer", "customer_id", "name")
    lines = {r["line_id"] for r in _table(brain, "line", "line_id")}
    sites = _table(brain, "site", "site_id", "name")
    machines = {r["machine_id"] for r in _table(brain, "machine", "machine_id")}
    people = _table(brain, "employee", "employee_id", "first_name", "last_name", "email")
    contacts = _table(brain, "supplier", "supplier_id", "contact_name", "contact_email")
    totals: set[str] = set()  # the network's, computed over every order
    by_order: dict[str, set[str]] = {}  # an order's value and freight
    parts: set[str] = set()  # expedite premiums, from the parts' standard costs
    for plan in plans:
        totals |= {f for column in plan.kpis.values() for v in column.values() for f in _amounts(v)}
        for a in plan.actions:
            if a["action"] == "expedite":
                parts |= _amounts(a.get("expedite_cost"))
            else:
                by_order.setdefault(str(a["order_id"]), set()).update(
                    _amounts(a.get("value")), _amounts(a.get("freight"))
                )
    shown_by = (("revenue", "site"), ("revenue", "customer"), ("attrition_rate", "function"))
    ceo_values = {(m, by): _values(brain, "ceo", m, by) for m, by in shown_by}
    out: dict[str, Forbidden] = {}
    for user in USERS:
        f = out[user] = Forbidden()
        f.orders = orders - {str(r["order_id"]) for r in _governed(brain, user, "Order", "order_id")}
        readable = {r["customer_id"] for r in _governed(brain, user, "Customer", "customer_id")}
        f.words |= {c["customer_id"] for c in customers if c["customer_id"] not in readable}
        f.words |= {c["name"] for c in customers if c["customer_id"] not in readable}
        f.words |= lines - {r["line_id"] for r in _governed(brain, user, "Line", "line_id")}
        readable = {r["site_id"] for r in _governed(brain, user, "Site", "site_id")}
        f.words |= {w for s in sites if s["site_id"] not in readable for w in (s["site_id"], s["name"])}
        f.words |= machines - {r["machine_id"] for r in _governed(brain, user, "Machine", "machine_id")}
        shown = {r["employee_id"]: r for r in _governed(brain, user, "Employee", "employee_id", "full_name", "email")}
        for p in people:
            mine = shown.get(p["employee_id"], {})
            if mine.get("email") in (None, "***"):
                f.words.add(p["email"])
            if mine.get("full_name") in (None, "***"):
                f.words.add(f"{p['first_name']} {p['last_name']}")
        shown = {r["supplier_id"]: r for r in _governed(brain, user, "Supplier", "supplier_id", "contact_name")}
        for c in contacts:
            if shown.get(c["supplier_id"], {}).get("contact_name") in (None, "***"):
                f.words |= {c["contact_name"], c["contact_email"]}
        every_amount = totals | parts | {f for figures in by_order.values() for f in figures}
        if _masked(brain, user, "OrderLine", "net_amount"):
            f.figures |= every_amount
        else:  # amounts they may see, but not of orders they may not read, nor totals over them
            f.figures |= {a for order in f.orders & set(by_order) for a in by_order[order]}
            f.figures |= totals if f.orders else set()
        if _masked(brain, user, "Component", "std_cost"):
            f.figures |= parts
        for (metric, by), theirs in ceo_values.items():
            mine = set(_values(brain, user, metric, by).values())
            # a value computed over rows they may not read (long enough not to be any other number)
            f.figures |= {v for v in set(theirs.values()) - mine if len(v.strip("-")) >= 4}
    return out


@dataclass
class Told:
    """Everything one user was told, by path."""

    texts: dict[str, list[str]] = field(default_factory=dict)

    def add(self, path: str, text: str) -> None:
        self.texts.setdefault(path, []).append(text)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    yield box
    box.controller.stop()


@pytest.fixture(scope="module")
def brain(small_demo: Callable[[str], Path], receiver: Receiver, mailbox: Mailbox) -> Iterator[Brain]:
    """The small demo, the failure-risk model trained and scored, the demo's rules and these, on local receivers."""
    from companybrain import factory

    root = small_demo("alert-leaks")
    demo_rules = (root / "alerts" / "operations.yaml").read_text(encoding="utf-8")
    for path, text in ((root / "alerts" / "operations.yaml", demo_rules), (root / "alerts" / "leaks.yaml", RULES)):
        text = text.replace("127.0.0.1:8099", f"127.0.0.1:{receiver.port}")
        path.write_text(text.replace("127.0.0.1:8025", f"127.0.0.1:{mailbox.port}"), encoding="utf-8")
    with Brain.open(root) as found:
        assert [r["status"] for r in factory.train(found, ["machine_failure_risk"])] == ["ok"]
        assert [r["status"] for r in factory.score(found, ["machine_failure_risk"])] == ["ok"]
        yield found


@pytest.fixture(scope="module")
def told(brain: Brain, receiver: Receiver, mailbox: Mailbox) -> dict[str, Told]:
    """Fire every rule once (events, metric and prediction rules, the escalation), then collect what each
    user was told on every path."""
    clock = Clock(datetime.now(UTC))
    engine = AlertEngine(brain, clock=clock, sleep=lambda _: None)
    processor = EventProcessor(brain, engine=engine, clock=clock)
    try:
        events: list[dict[str, Any]] = [
            {"type": "line_down", "site_id": s, "line_id": ln, "ts": f"{START}T06:00:00", "reason": "failure"}
            for s, ln in DOWN
        ]
        events += [
            {"type": "telemetry", "machine_id": m, "line_id": m.rsplit("-M", 1)[0], "site_id": m[:3]}
            | {"ts": f"{START}T05:00:00", "temperature": 130.0}
            for m in HOT
        ]
        summary = processor.ingest(events, source="test")
        assert len(summary.plans) == 2 * len(DOWN)  # the demo's rule and the one written here
        checked = engine.check()
        assert checked["errors"] == {}, checked["errors"]
        clock.advance(31)
        assert engine.escalate()
    finally:
        processor.close()
    return collect(brain, receiver, mailbox)


def collect(brain: Brain, receiver: Receiver, mailbox: Mailbox) -> dict[str, Told]:
    """What reached each user: on a personal channel, its recipient; on a shared one, every member of its
    audience. Then each user's API inbox and cockpit Alerts page."""
    from companybrain.delivery.app import create_app

    project = brain.project
    paths: dict[str, set[str]] = {}
    mailboxes: dict[str, set[str]] = {}
    for rule in project.alerts.values():
        for stage, members in recipients.stages(project, rule).items():
            for url in recipients.stage_channels(rule, stage):
                addressed = (
                    {recipients.address(project, url, u): {u} for u in members}
                    if recipients.is_personal(url)
                    else {url: set(members)}
                )
                for target, who in addressed.items():
                    if target.startswith("mailto"):
                        rcpt = re.search(r"to=([^&]+)", target)
                        assert rcpt, target
                        mailboxes.setdefault(rcpt.group(1).replace("%40", "@"), set()).update(who)
                    else:
                        path = "/" + target.split("/", 3)[3]
                        paths.setdefault(path, set()).update(who)
    out = {u: Told() for u in USERS}
    with receiver.lock:
        posts = list(receiver.posts)
    for path, body, _ in posts:
        assert path in paths, f"a post to {path}, which no rule addresses"
        for user in paths[path] & set(USERS):
            out[user].add("webhook", f"{body.get('title', '')}\n{body.get('message', '')}")
    for rcpts, raw in mailbox.messages:
        text = _mail_text(raw)
        for rcpt in rcpts:
            assert rcpt in mailboxes, f"a mail to {rcpt}, which no rule addresses"
            for user in mailboxes[rcpt] & set(USERS):
                out[user].add("mail", text)
    app = create_app(brain=brain)
    tokens = {u: app.state.service.tokens.create(u, ["read:metrics"])[0] for u in USERS}
    with TestClient(app) as client:
        for user, token in tokens.items():
            inbox = client.get("/api/v1/alerts?limit=1000", headers={"Authorization": f"Bearer {token}"})
            assert inbox.status_code == 200, inbox.text
            for alert in inbox.json():
                out[user].add("api", json.dumps(alert, ensure_ascii=False))
            client.cookies.clear()
            page = client.post("/cockpit/signin", data={"token": token, "next": "/cockpit/alerts"})
            assert page.status_code == 200 and "/cockpit/signin" not in str(page.url), page.text[:300]
            out[user].add("cockpit", html.unescape(page.text))
    return out


def _mail_text(raw: str) -> str:
    """A mail's subject and body, decoded (apprise may send base64 or quoted-printable)."""
    message = email.message_from_string(raw)
    subject = "".join(
        part.decode(charset or "utf-8") if isinstance(part, bytes) else part
        for part, charset in email.header.decode_header(message.get("Subject", ""))
    )
    bodies = []
    for part in message.walk():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            bodies.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return subject + "\n" + "\n".join(bodies)


@pytest.fixture(scope="module")
def forbidden(brain: Brain) -> dict[str, Forbidden]:
    plans = [
        brain.replan(Disruption(site=s, line=ln, capacity=0.0, start=date.fromisoformat(START), days=7), "cfo")
        for s, ln in DOWN
    ]
    return forbidden_for(brain, plans)


def test_no_alert_tells_anyone_what_they_may_not_read(told: dict[str, Told], forbidden: dict[str, Forbidden]) -> None:
    leaks = [
        (user, path, hit)
        for user in USERS
        for path, texts in told[user].texts.items()
        for text in texts
        for hit in forbidden[user].found_in(text)
    ]
    matrix = {u: {p: len(t) for p, t in told[u].texts.items()} for u in USERS}
    assert leaks == [], f"{len(leaks)} leak(s), e.g. {sorted(set(leaks))[:20]} (messages per user and path: {matrix})"


def test_every_user_was_told_something_on_every_path(told: dict[str, Told]) -> None:
    for user in USERS:
        assert {"api", "cockpit"} <= set(told[user].texts), user
        assert told[user].texts.get("webhook") or told[user].texts.get("mail"), user
    # the cockpit page lists each user's alerts (its inbox is not empty)
    assert all("data-alert=" in told[u].texts["cockpit"][0] for u in USERS)


def test_each_user_reads_their_own_share_of_the_replan(told: dict[str, Told], brain: Brain) -> None:
    def said(user: str, needle: str) -> bool:
        return any(needle in t for texts in told[user].texts.values() for t in texts)

    # Milwaukee's manager: Milwaukee's replan with its own orders, no amounts, nothing of Bologna's
    assert said("mke_plant_manager", "Replan: MKE-L3") and not said("mke_plant_manager", "Replan: BLQ-L1")
    own = [t for t in told["mke_plant_manager"].texts["webhook"] if "Replan: MKE-L3" in t]
    assert own and all("order " in t and "Revenue at risk" not in t for t in own)
    # the data steward: every site's plan and customers, amounts masked
    assert said("data_steward", "Replan: BLQ-L1") and said("data_steward", "Revenue at risk ***")
    # finance and the CEO (by escalation): the whole plan with its amounts
    assert any(re.search(r"Revenue at risk [\d,]+,", t) for t in told["cfo"].texts["webhook"])
    assert said("ceo", "[escalated] line_down") and any(
        re.search(r"Revenue at risk [\d,]+,", t) for t in told["ceo"].texts["mail"]
    )
    # the EMEA rep: only EMEA customers' orders of the plan; HR: the lines, no orders
    assert said("emea_rep", "Replan: BLQ-L1") and said("emea_hrbp", "Replan: BLQ-L1")
    assert not any(re.search(r"\border \d+", t) for t in told["emea_hrbp"].texts["webhook"])
    # machines: Milwaukee's overheating reaches its manager, Bologna's reaches no one (its only audience)
    assert said("mke_plant_manager", "MKE-L2-M1") and not said("mke_plant_manager", "BLQ-L2-M1")


def test_the_shared_channels_carry_only_what_their_whole_audience_reads(brain: Brain, receiver: Receiver) -> None:
    """The demo keeps two shared channels (its executives' mailbox, the failure-risk webhook): each
    carried exactly one message per alert, the very one each member was told."""
    engine = AlertEngine(brain)
    try:
        rows = {r["alert_id"]: r for r in engine.alerts(1000) if r["rule"] == "machine_failure_risk_high"}
        told = {a["alert_id"]: a["message"] for a in engine.addressed_to("data_steward", 1000) if a["alert_id"] in rows}
        ceo = {a["alert_id"]: a["message"] for a in engine.addressed_to("ceo", 1000) if a["alert_id"] in rows}
    finally:
        engine.close()
    posted = [body["message"] for path, body, _ in receiver.posts if path == "/alerts"]
    assert rows and len(posted) == len(rows) and told == ceo and sorted(posted) == sorted(told.values())
