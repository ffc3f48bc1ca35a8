"""Alerts: rules on metrics through the governed query path, delivered over real SMTP (aiosmtpd) and a
real local HTTP receiver standing in for Slack/Teams webhooks; dedup, throttle, escalation and
acknowledgement on an injected clock; failing, retried and refused channels in the delivery log.

One small demo project for the module, built once, with the rules written for the receivers' ports.
"""

from __future__ import annotations

import json
import shutil
import socket
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from companybrain.brain import Brain
from companybrain.delivery.alerts import AlertEngine, robust_z
from companybrain.delivery.channels import channel_host, check_egress, redact
from companybrain.errors import ConfigError
from companybrain.governance.egress import EgressDenied, host_allowed
from companybrain.project import Project


class Receiver(ThreadingHTTPServer):
    """A webhook receiver on 127.0.0.1: /fail always answers 500, /flaky fails once per path, others 200."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any], datetime]] = []
        self.flaky_seen: set[str] = set()
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def at(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [body for p, body, _ in self.posts if p == path]

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        status = 200
        if self.path.startswith("/fail"):
            status = 500
        elif self.path.startswith("/flaky") and self.path not in self.server.flaky_seen:
            self.server.flaky_seen.add(self.path)
            status = 503
        if status == 200:
            with self.server.lock:
                self.server.posts.append((self.path, body, datetime.now(UTC)))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class Mailbox:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[tuple[list[str], str]] = []
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())
        self.controller.start()
        self.port = self.controller.port

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.content.decode("utf-8", "replace")))
        return "250 OK"

    def to(self, address: str) -> list[str]:
        return [text for rcpt, text in self.messages if address in rcpt]


class Clock:
    """An injectable clock: tests move time instead of sleeping."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_project(root: Path, alerts_yaml: str, allow: str = "[127.0.0.1, localhost]") -> Brain:
    """The small demo (seed 7) with these alert rules and loopback egress, ingested and built."""
    from companybrain.demo.generate import generate_demo

    generate_demo(root, scale="small", seed=7)
    shutil.rmtree(root / "alerts", ignore_errors=True)
    (root / "alerts").mkdir()
    (root / "alerts" / "rules.yaml").write_text(textwrap.dedent(alerts_yaml).lstrip(), encoding="utf-8")
    brain_yaml = root / "brain.yaml"
    text = brain_yaml.read_text(encoding="utf-8")
    assert "egress: {allow: [127.0.0.1, localhost]}" in text
    brain_yaml.write_text(
        text.replace("egress: {allow: [127.0.0.1, localhost]}", f"egress: {{allow: {allow}}}"), encoding="utf-8"
    )
    brain = Brain.open(root)
    brain.ingest()
    brain.build()
    return brain


RULES = """
alerts:
  revenue_by_region:
    type: threshold
    description: Revenue of a region in 2025.
    metric: revenue
    by: [region]
    period: "2025"
    above: 0
    audience: {{roles: [executive]}}
    channels:
      - "json://127.0.0.1:{http}/slack"
      - "mailto://127.0.0.1:{smtp}?from=brain@acme.test&to=exec@acme.test"
  throttled:
    type: threshold
    metric: revenue
    by: [region]
    period: "2025"
    above: 0
    dedup_minutes: 0
    max_per_hour: 2
    audience: {{users: [cfo]}}
    channels: ["json://127.0.0.1:{http}/throttled"]
  escalating:
    type: threshold
    metric: revenue
    period: "2025"
    above: 0
    audience: {{roles: [plant_manager]}}
    channels: ["json://127.0.0.1:{http}/first"]
    escalation:
      after_minutes: 30
      audience: {{roles: [finance]}}
      channels:
        - "json://127.0.0.1:{http}/teams"
        - "mailto://127.0.0.1:{smtp}?from=brain@acme.test&to=cfo@acme.test"
  failing:
    type: threshold
    metric: revenue
    period: "2025"
    above: 0
    attempts: 3
    audience: {{users: [ceo]}}
    channels:
      - "json://127.0.0.1:{http}/fail"
      - "json://127.0.0.1:{dead}/dead"
      - "json://127.0.0.1:{http}/flaky"
      - "mailto://127.0.0.1:{smtp}?from=brain@acme.test&to=ceo@acme.test"
  refused:
    type: threshold
    metric: revenue
    period: "2025"
    above: 0
    audience: {{users: [ceo]}}
    channels:
      - "json://hooks.example.com/hook"
      - "slack://T000/B000/XXXX"
      - "json://127.0.0.1:{http}/allowed"
  downtime_anomaly:
    type: anomaly
    metric: downtime_hours
    grain: month
    by: [site]
    z: 0.01
    min_history: 3
    audience: {{roles: [plant_manager]}}
    channels: ["json://127.0.0.1:{http}/anomaly"]
  on_time_change:
    type: change
    metric: on_time_delivery
    grain: month
    change_pct: 0.0001
    audience: {{roles: [executive]}}
    channels: ["json://127.0.0.1:{http}/change"]
"""


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
def brain(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver, mailbox: Mailbox) -> Iterator[Brain]:
    root = tmp_path_factory.mktemp("alerts") / "acme"
    found = demo_project(root, RULES.format(http=receiver.port, smtp=mailbox.port, dead=free_port()))
    yield found
    found.close()


@pytest.fixture
def engine(brain: Brain) -> Iterator[AlertEngine]:
    found = AlertEngine(brain, clock=Clock(datetime.now(UTC)), sleep=lambda _: None)
    yield found
    found.close()


def test_threshold_alerts_reach_webhook_and_mail_then_deduplicate(
    engine: AlertEngine, receiver: Receiver, mailbox: Mailbox
) -> None:
    result = engine.check(["revenue_by_region"])
    fired = result["fired"]
    assert len(fired) == 4 and {f["status"] for f in fired} == {"sent"}
    assert sorted(f["key"] for f in fired) == ["APAC", "EMEA", "LATAM", "NA"]
    posts = receiver.at("/slack")
    assert len(posts) == 4 and all("revenue is" in p["message"] for p in posts)
    assert all("brain alerts ack al_" in p["message"] for p in posts)
    assert len(mailbox.to("exec@acme.test")) == 4
    log = engine.deliveries(100)
    assert sum(1 for row in log if row["rule"] == "revenue_by_region" and row["status"] == "sent") == 8

    again = engine.check(["revenue_by_region"])["fired"]
    assert {f["status"] for f in again} == {"deduplicated"}
    assert len(receiver.at("/slack")) == 4
    engine.clock.advance(61)  # type: ignore[attr-defined]
    assert {f["status"] for f in engine.check(["revenue_by_region"])["fired"]} == {"sent"}
    assert len(receiver.at("/slack")) == 8


def test_throttle_caps_alerts_per_rule_and_hour(engine: AlertEngine, receiver: Receiver) -> None:
    statuses = [f["status"] for f in engine.check(["throttled"])["fired"]]
    assert statuses.count("sent") == 2 and statuses.count("throttled") == 2
    engine.clock.advance(30)  # type: ignore[attr-defined]
    assert {f["status"] for f in engine.check(["throttled"])["fired"]} == {"throttled"}
    engine.clock.advance(31)
    statuses = [f["status"] for f in engine.check(["throttled"])["fired"]]
    assert statuses.count("sent") == 2
    assert len(receiver.at("/throttled")) == 4


def test_unacknowledged_alert_escalates_once_acknowledged_does_not(
    engine: AlertEngine, receiver: Receiver, mailbox: Mailbox
) -> None:
    clock: Clock = engine.clock  # type: ignore[assignment]
    [first] = engine.check(["escalating"])["fired"]
    assert first["status"] == "sent" and len(receiver.at("/first")) == 1
    first_post = receiver.at("/first")[0]["message"]
    assert "mke_plant_manager" in first_post  # the audience, resolved from the role
    clock.advance(10)
    assert engine.escalate() == []
    clock.advance(21)
    [escalated] = engine.escalate()
    assert escalated.status == "escalated" and escalated.alert_id == first["alert_id"]
    assert {a.status for a in escalated.attempts} == {"sent"}
    [teams] = receiver.at("/teams")
    assert "Not acknowledged within 30 minutes" in teams["message"] and "cfo" in teams["message"]
    assert len(mailbox.to("cfo@acme.test")) == 1
    assert engine.escalate() == []  # once
    stages = {row["stage"] for row in engine.deliveries(50, first["alert_id"])}
    assert stages == {"alert", "escalation"}

    clock.advance(24 * 60)
    [second] = engine.check(["escalating"])["fired"]
    acked = engine.ack(second["alert_id"], "mke_plant_manager")
    assert acked["status"] == "acked" and acked["acked_by"] == "mke_plant_manager"
    clock.advance(120)
    assert engine.escalate() == []
    assert len(receiver.at("/teams")) == 1


def test_failing_channel_is_retried_logged_and_does_not_block_the_others(
    engine: AlertEngine, receiver: Receiver, mailbox: Mailbox
) -> None:
    [fired] = engine.check(["failing"])["fired"]
    assert fired["status"] == "partial"
    log = engine.deliveries(100, fired["alert_id"])
    by_channel: dict[str, list[tuple[int, str]]] = {}
    for row in log:
        by_channel.setdefault(row["channel"].rsplit("/", 1)[-1], []).append((row["attempt"], row["status"]))
    assert sorted(by_channel["fail"]) == [(1, "failed"), (2, "failed"), (3, "failed")]
    assert sorted(by_channel["dead"]) == [(1, "failed"), (2, "failed"), (3, "failed")]
    assert sorted(by_channel["flaky"]) == [(1, "failed"), (2, "sent")]  # retried, then delivered
    assert len(receiver.at("/flaky")) == 1
    assert len(mailbox.to("ceo@acme.test")) == 1
    assert all(row["error"] for row in log if row["status"] == "failed")


def test_host_not_on_the_egress_allow_list_is_refused(engine: AlertEngine, receiver: Receiver) -> None:
    [fired] = engine.check(["refused"])["fired"]
    assert fired["status"] == "partial"
    log = {row["channel"]: row for row in engine.deliveries(20, fired["alert_id"])}
    assert log["json://hooks.example.com/hook"]["status"] == "refused"
    assert "egress.allow" in log["json://hooks.example.com/hook"]["error"]
    assert log["slack://hooks.slack.com"]["status"] == "refused"  # no token in the log
    assert len(receiver.at("/allowed")) == 1


def test_anomaly_and_change_rules_read_through_the_governed_path(
    engine: AlertEngine, brain: Brain, receiver: Receiver
) -> None:
    result = engine.check(["downtime_anomaly", "on_time_change"])
    assert result["errors"] == {}
    rules = {f["rule"] for f in result["fired"]}
    assert rules == {"downtime_anomaly", "on_time_change"}
    # each recipient's alert is read as them: the Milwaukee plant manager hears of Milwaukee only
    assert {f["key"] for f in result["fired"] if f["rule"] == "downtime_anomaly"} == {"Milwaukee Works"}
    assert any("outlier" in p["message"] for p in receiver.at("/anomaly"))
    users = {(r["user_name"], r["action"]) for r in brain.audit.tail(10)}
    assert ("mke_plant_manager", "query") in users  # the audience of downtime_anomaly
    assert ("ceo", "query") in users  # the executive, the audience of on_time_change


def test_robust_z() -> None:
    history = [10.0, 11.0, 9.0, 10.0, 12.0, 8.0]
    assert robust_z(10.0, history) == 0.0
    assert robust_z(30.0, history) > 3.5
    assert robust_z(-5.0, history) < -3.5
    assert robust_z(5.0, [5.0, 5.0, 5.0]) == 0.0
    assert robust_z(6.0, [5.0, 5.0, 5.0]) == float("inf")


def test_egress_hosts() -> None:
    assert channel_host("slack://T0/B0/X") == "hooks.slack.com"
    assert channel_host("mailto://user:pw@acme.com?smtp=mail.acme.com") == "mail.acme.com"
    assert channel_host("mailto://user:pw@gmail.com") == "smtp.gmail.com"  # where apprise really connects
    assert channel_host("json://hooks.acme.com:8443/x") == "hooks.acme.com"
    assert channel_host("workflows://prod-1.westeurope.logic.azure.com:443/a/b") == "prod-1.westeurope.logic.azure.com"
    assert host_allowed("a.b.acme.com", ["*.acme.com"]) and not host_allowed("acme.com.evil.io", ["*.acme.com"])
    with pytest.raises(EgressDenied, match=r"host='hooks\.slack\.com'"):
        check_egress("slack://T0/B0/X", ["127.0.0.1"])
    assert "secret" not in redact("mailto://user:secret@mail.acme.com")
    assert redact("json://h.acme.com/services/averyveryverylongsecrettoken") == "json://h.acme.com/services/***"


def test_invalid_rules_say_file_and_line(tmp_path: Path) -> None:
    root = tmp_path / "p"
    (root / "alerts").mkdir(parents=True)
    (root / "brain.yaml").write_text("name: p\n", encoding="utf-8")
    (root / "alerts" / "a.yaml").write_text(
        "alerts:\n  x:\n    type: threshold\n    metric: revenue\n    abvoe: 1\n"
        "    audience: {roles: [r]}\n    channels: ['json://h/x']\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        Project.load(root)
    assert "alerts/a.yaml:5" in str(info.value) and "abvoe" in str(info.value)


def test_unknown_audience_is_a_config_error(brain: Brain) -> None:
    from companybrain.specs.alerts import ThresholdRule

    rule = ThresholdRule.model_validate(
        {
            "type": "threshold",
            "metric": "revenue",
            "above": 1,
            "audience": {"roles": ["ceoo"]},
            "channels": ["json://x"],
        }
    )
    project = brain.project
    saved = project.alerts
    project.alerts = {**saved, "bad": rule}
    try:
        with pytest.raises(ConfigError, match="unknown role 'ceoo'"):
            AlertEngine(brain)
    finally:
        project.alerts = saved


def test_the_inbox_over_the_api_shows_and_acknowledges_the_callers_alerts(engine: AlertEngine, brain: Brain) -> None:
    from fastapi.testclient import TestClient

    from companybrain.delivery.app import create_app

    engine.check(["revenue_by_region"])
    with TestClient(create_app(brain=brain)) as client:
        svc = client.app.state.service  # type: ignore[attr-defined]
        ceo, rep = (svc.tokens.create(u, ["read:metrics"])[0] for u in ("ceo", "emea_rep"))
        mine = client.get("/api/v1/alerts?status=open", headers={"Authorization": f"Bearer {ceo}"}).json()
        assert mine and all("ceo" in a["recipients"] for a in mine)
        assert {a["rule"] for a in mine} >= {"revenue_by_region"}
        theirs = client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {rep}"}).json()
        assert not {a["alert_id"] for a in theirs} & {a["alert_id"] for a in mine}  # not the rep's audience
        first = mine[0]["alert_id"]
        denied = client.post(f"/api/v1/alerts/{first}/ack", headers={"Authorization": f"Bearer {rep}"})
        assert denied.status_code == 404
        acked = client.post(f"/api/v1/alerts/{first}/ack", headers={"Authorization": f"Bearer {ceo}"}).json()
        assert acked["status"] == "acked" and acked["acked_by"] == "ceo"


def _rules_of(brain: Brain, tmp_path: Path, rules: str) -> list[tuple[str, str]]:
    """(location, message) of every problem of these rules, checked against the module's demo project."""
    from companybrain.delivery.recipients import check_rules

    root = tmp_path / "acme"
    shutil.copytree(brain.project.root, root, ignore=shutil.ignore_patterns(".brain", "sources", "ground_truth"))
    shutil.rmtree(root / "alerts")
    (root / "alerts").mkdir()
    (root / "alerts" / "rules.yaml").write_text(textwrap.dedent(rules).lstrip(), encoding="utf-8")
    project = Project.load(root)
    from companybrain.semantic.model import SemanticModel

    return [(str(loc), msg) for loc, msg in check_rules(project, SemanticModel(project))]


def test_a_channel_shared_by_readers_of_different_things_is_refused_at_load(brain: Brain, tmp_path: Path) -> None:
    problems = _rules_of(
        brain,
        tmp_path,
        """
        alerts:
          downtime:
            type: anomaly
            metric: downtime_hours
            by: [site]
            audience: {roles: [plant_manager], users: [data_steward]}
            channels:
              - "json://127.0.0.1:9/alerts/{user}"
              - "mailto://127.0.0.1:9?from=a@acme.test&to=plants@acme.test"
          leadership:
            type: change
            metric: on_time_delivery
            change_pct: 10
            audience: {roles: [executive, finance]}
            channels: ["mailto://127.0.0.1:9?from=a@acme.test&to=leadership@acme.test"]
        """,
    )
    # the personal channel is fine; the shared mailbox would tell Milwaukee's manager every site's downtime
    [(where, message)] = problems
    assert where.startswith("alerts/rules.yaml:9") and "downtime.channels.1" in where
    assert "shared by data_steward, mke_plant_manager" in message and "{user}" in message
    # the CEO and the CFO compile the same query for on-time delivery: one leadership mailbox is fine


def test_as_user_a_blind_recipient_and_an_unknown_placeholder_are_refused_at_load(brain: Brain, tmp_path: Path) -> None:
    problems = dict(
        _rules_of(
            brain,
            tmp_path,
            """
            alerts:
              revenue_as_the_ceo:
                type: threshold
                metric: revenue
                above: 0
                audience: {roles: [plant_manager]}
                as_user: ceo
                channels: ["json://127.0.0.1:9/a/{user}"]
              revenue_to_hr:
                type: threshold
                metric: revenue
                by: [region]
                above: 0
                audience: {users: [emea_hrbp]}
                channels: ["json://127.0.0.1:9/b/{user}"]
              mail_by_attribute:
                type: threshold
                metric: revenue
                above: 0
                audience: {roles: [executive, finance]}
                channels: ["mailto://127.0.0.1:9?from=a@acme.test&to={email}"]
              replan_as_nobody:
                type: event
                event: line_down
                audience: {users: [ceo]}
                replan: {days: 7}
                channels: ["json://127.0.0.1:9/c/{user}"]
            """,
        )
    )
    by_key = {where.split("(")[1].rstrip(")"): message for where, message in problems.items()}
    assert "computed as each of its recipients" in by_key["revenue_as_the_ceo.as_user"]
    assert "emea_hrbp may not read revenue by region" in by_key["revenue_to_hr.audience"]
    assert (
        "{email}" in by_key["mail_by_attribute.channels.0"]
        and "ceo, cfo lack" in by_key["mail_by_attribute.channels.0"]
    )
    assert "a replan needs as_user" in by_key["replan_as_nobody.replan"]
    assert all(where.startswith("alerts/rules.yaml:") for where in problems)


def test_each_recipient_is_told_what_they_may_read(
    engine: AlertEngine, brain: Brain, receiver: Receiver, mailbox: Mailbox
) -> None:
    from companybrain.specs.alerts import ThresholdRule

    rule = ThresholdRule.model_validate(
        {
            "type": "threshold",
            "metric": "revenue",
            "by": ["site"],
            "period": "2025",
            "above": 0,
            "audience": {"roles": ["plant_manager"], "users": ["data_steward"]},
            "channels": [
                f"json://127.0.0.1:{receiver.port}/own/{{user}}",
                f"mailto://127.0.0.1:{mailbox.port}?from=brain@acme.test&to={{user}}@acme.test",
            ],
        }
    )
    saved = brain.project.alerts
    brain.project.alerts = {**saved, "revenue_by_site": rule}
    try:
        found = AlertEngine(brain, clock=engine.clock, sleep=lambda _: None)
        try:
            fired = found.check(["revenue_by_site"])["fired"]
            mine = [r for r in found.addressed_to("mke_plant_manager") if r["rule"] == "revenue_by_site"]
        finally:
            found.close()
    finally:
        brain.project.alerts = saved
    sites = brain.read("Site", user="ceo", columns=["name"]).column("name").to_pylist()
    assert {f["key"] for f in fired} == set(sites) and {f["status"] for f in fired} == {"sent"}
    manager = receiver.at("/own/mke_plant_manager")
    assert [p["title"].rsplit("(", 1)[1] for p in manager] == ["Milwaukee Works)"]
    assert len(receiver.at("/own/data_steward")) == len(sites)
    assert len(mailbox.to("mke_plant_manager@acme.test")) == 1
    assert len(mailbox.to("data_steward@acme.test")) == len(sites)
    others = [s for s in sites if s != "Milwaukee Works"]
    assert [r["key"] for r in mine] == ["Milwaukee Works"] and not any(s in mine[0]["message"] for s in others)
    log = {(row["recipient"], row["status"]) for row in engine.deliveries(100) if row["rule"] == "revenue_by_site"}
    assert log == {("mke_plant_manager", "sent"), ("data_steward", "sent")}
