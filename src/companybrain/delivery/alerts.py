"""Alerts: evaluate the project's rules (metrics through the governed query path, events as they
arrive), deduplicate and throttle, deliver on every channel at once, escalate what nobody
acknowledged, and keep the alerts and every delivery attempt in the warehouse."""

from __future__ import annotations

import json
import secrets
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlglot import exp

from companybrain.delivery.channels import Attempt, deliver
from companybrain.errors import BrainError, ConfigError, NotFound, did_you_mean
from companybrain.project import expand_env
from companybrain.semantic.query import MetricQuery
from companybrain.sources.load_log import META
from companybrain.specs.alerts import (
    AnomalyRule,
    Audience,
    ChangeRule,
    EventRule,
    MetricRule,
    PredictionRule,
    ThresholdRule,
)
from companybrain.warehouse.ddl import col, create_table, literal, table

if TYPE_CHECKING:
    from companybrain.brain import Brain

ALERTS = table(META, "alerts")
DELIVERIES = table(META, "alert_deliveries")
# times are ISO 8601 UTC text; alert status: open | acked; delivery stage: alert | escalation,
# delivery status: sent | failed | refused
_ALERT = "alert_id rule key severity title message audience fired_at status acked_at acked_by escalated_at"
ALERT_COLUMNS = dict.fromkeys(_ALERT.split(), "string")
DELIVERY_COLUMNS = {**dict.fromkeys(["alert_id", "rule", "stage", "channel"], "string"), "attempt": "integer"}
DELIVERY_COLUMNS |= dict.fromkeys(("status", "error", "at"), "string")
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass
class Fired:
    """What became of one alert: delivered (sent/partial/failed), or suppressed (deduplicated/throttled)."""

    rule: str
    key: str
    title: str
    status: str
    alert_id: str | None = None
    attempts: list[Attempt] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "rule": self.rule,
            "key": self.key,
            "title": self.title,
            "status": self.status,
            "deliveries": [{"channel": a.channel, "attempt": a.attempt, "status": a.status} for a in self.attempts],
        }


class AlertEngine:
    """The project's alert rules over one Brain; `clock` and `sleep` are injectable for tests."""

    def __init__(self, brain: Brain, clock: Clock = utc_now, sleep: Callable[[float], None] = time.sleep) -> None:
        self.brain = brain
        self.project = brain.project
        self.clock = clock
        self.sleep = sleep
        self.rules = self.project.alerts
        self._validate()
        wh = brain.warehouse
        wh.ensure_schema(META)
        wh.execute(create_table(ALERTS, ALERT_COLUMNS))
        wh.execute(create_table(DELIVERIES, DELIVERY_COLUMNS))
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="alert-channel")
        self._last: dict[tuple[str, str], datetime] = {}
        self._recent: dict[str, list[datetime]] = defaultdict(list)
        self._load_recent()

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    # --- who ------------------------------------------------------------------------------------

    def _validate(self) -> None:
        problems = []
        for name, rule in self.rules.items():
            audiences: list[tuple[tuple[str, ...], Audience]] = [(("audience",), rule.audience)]
            if rule.escalation is not None:
                audiences.append((("escalation", "audience"), rule.escalation.audience))
            for path, audience in audiences:
                for role in audience.roles:
                    if role not in self.project.roles:
                        loc = self.project.locate("alerts", name, *path, "roles")
                        problems.append((loc, f"unknown role {role!r}; {did_you_mean(role, self.project.roles)}"))
                for user in audience.users:
                    if user not in self.project.users:
                        loc = self.project.locate("alerts", name, *path, "users")
                        problems.append((loc, f"unknown user {user!r}; {did_you_mean(user, self.project.users)}"))
            if isinstance(rule, PredictionRule):
                problems += _check_prediction_rule(self.project, name, rule)
            if rule.as_user and rule.as_user not in self.project.users:
                loc = self.project.locate("alerts", name, "as_user")
                problems.append(
                    (loc, f"unknown user {rule.as_user!r}; {did_you_mean(rule.as_user, self.project.users)}")
                )
        if problems:
            raise ConfigError(problems)

    def users_of(self, audience: Audience) -> list[str]:
        """The audience's users, then every user holding one of its roles."""
        users = list(audience.users)
        users += [u for u, spec in self.project.users.items() if set(spec.roles) & set(audience.roles)]
        return list(dict.fromkeys(users))

    def user_for(self, name: str) -> str | None:
        """Who a rule reads as: its `as_user`, else the first user of its audience."""
        rule = self.rules[name]
        users = self.users_of(rule.audience)
        return rule.as_user or (users[0] if users else None)

    # --- dedup and throttle -----------------------------------------------------------------------

    def _load_recent(self) -> None:
        longest = max([60, *(r.dedup_minutes for r in self.rules.values())])
        since = _iso(self.clock() - timedelta(minutes=longest))
        rows = self.brain.warehouse.query_arrow(
            exp.select(col("rule"), col("key"), col("fired_at")).from_(ALERTS).where(col("fired_at") >= literal(since))
        ).to_pylist()
        for row in sorted(rows, key=lambda r: r["fired_at"]):
            at = datetime.fromisoformat(row["fired_at"])
            self._last[(row["rule"], row["key"])] = at
            self._recent[row["rule"]].append(at)

    def suppressed(self, name: str, key: str) -> str | None:
        """Why an alert of this rule and key must not go out now (deduplicated, throttled), or None."""
        rule, now = self.rules[name], self.clock()
        last = self._last.get((name, key))
        if last is not None and now - last < timedelta(minutes=rule.dedup_minutes):
            return "deduplicated"
        recent = self._recent[name] = [t for t in self._recent[name] if now - t < timedelta(hours=1)]
        if len(recent) >= rule.max_per_hour:
            return "throttled"
        return None

    # --- fire and deliver ---------------------------------------------------------------------------

    def fire(self, name: str, key: str, title: str, body: str) -> Fired:
        """Record and deliver one alert, unless deduplicated or throttled."""
        return self.fire_many([(name, key, title, body)])[0]

    def fire_many(self, requests: list[tuple[str, str, str, str]]) -> list[Fired]:
        """Record and deliver (rule, key, title, body) alerts together: one insert per table, every
        channel of every alert at once; deduplicated or throttled ones are only reported."""
        fired: list[Fired] = []
        rows: list[dict[str, Any]] = []
        jobs: list[tuple[Fired, str, list[str], str, str]] = []
        now = self.clock()
        for name, key, title, body in requests:
            reason = self.suppressed(name, key)
            if reason is not None:
                fired.append(Fired(name, key, title, reason))
                continue
            rule = self.rules[name]
            self._last[(name, key)] = now
            self._recent[name].append(now)
            alert_id = "al_" + secrets.token_hex(6)
            audience = self.users_of(rule.audience)
            text = (
                f"{body}\n\nseverity: {rule.severity} | for: {', '.join(audience)} | rule: {name} | "
                f"acknowledge: brain alerts ack {alert_id}"
            )
            rows.append(
                {
                    "alert_id": alert_id,
                    "rule": name,
                    "key": key,
                    "severity": rule.severity,
                    "title": title,
                    "message": text,
                    "audience": ",".join(audience),
                    "fired_at": _iso(now),
                    "status": "open",
                    "acked_at": None,
                    "acked_by": None,
                    "escalated_at": None,
                }
            )
            fired.append(Fired(name, key, title, "pending", alert_id))
            jobs.append((fired[-1], "alert", rule.channels, f"[{rule.severity}] {title}", text))
        if rows:
            schema = pa.schema([(c, pa.string()) for c in ALERT_COLUMNS])
            self.brain.warehouse.write_arrow(ALERTS, pa.Table.from_pylist(rows, schema=schema), create=False)
        self._deliver(jobs)
        return fired

    def _deliver(self, jobs: list[tuple[Fired, str, list[str], str, str]]) -> None:
        """Every channel of every alert at once (a slow or failing one does not hold up the others);
        every attempt goes to the delivery log in one insert."""
        allow = list(self.project.spec.egress.allow)
        futures = [
            (alert, stage, self._pool.submit(deliver, expand_env(url), title, body, allow, rule.attempts, self.sleep))
            for alert, stage, channels, title, body in jobs
            for rule in [self.rules[alert.rule]]
            for url in channels
        ]
        log: list[dict[str, Any]] = []
        for alert, stage, future in futures:
            for a in future.result():
                alert.attempts.append(a)
                log.append(
                    {
                        "alert_id": alert.alert_id,
                        "rule": alert.rule,
                        "stage": stage,
                        "channel": a.channel,
                        "attempt": a.attempt,
                        "status": a.status,
                        "error": a.error,
                        "at": _iso(datetime.fromtimestamp(a.at, UTC)),
                    }
                )
        for alert, stage, _, _, _ in jobs:
            alert.status = "escalated" if stage == "escalation" else _outcome(alert.attempts)
        if log:
            schema = pa.schema(
                [(c, pa.int64() if k == "integer" else pa.string()) for c, k in DELIVERY_COLUMNS.items()]
            )
            self.brain.warehouse.write_arrow(DELIVERIES, pa.Table.from_pylist(log, schema=schema), create=False)

    # --- metric rules -------------------------------------------------------------------------------

    def deliver_outbox(self) -> list[dict[str, Any]]:
        """Send the messages applied actions left in the outbox (`notify` effects), each channel with
        retries; a message is `sent` when every channel took it, else `failed` with the attempts."""
        from companybrain.decisions.effects import OUTBOX, ensure_outbox

        wh = self.brain.warehouse
        ensure_outbox(wh)
        pending = wh.query_arrow(exp.select("*").from_(OUTBOX).where(col("status").eq(literal("pending")))).to_pylist()
        allow = list(self.project.spec.egress.allow)
        done = []
        for message in pending:
            channels = json.loads(message["channels"] or "[]")
            futures = [
                self._pool.submit(deliver, expand_env(url), message["title"], message["body"], allow, 3, self.sleep)
                for url in channels
            ]
            attempts = [a for f in futures for a in f.result()]
            sent = sum(1 for a in attempts if a.status == "sent")
            status = "sent" if sent == len(channels) else "failed"
            values: dict[str, object] = {
                "status": literal(status),
                "delivered_at": literal(_iso(self.clock())),
                "attempts": literal(json.dumps([a.__dict__ for a in attempts], default=str)),
            }
            wh.execute(exp.update(OUTBOX, values, where=col("message_id").eq(literal(message["message_id"]))))
            done.append({"message_id": message["message_id"], "action_id": message["action_id"], "status": status})
        return done

    def check(self, names: list[str] | None = None) -> dict[str, Any]:
        """Evaluate the metric rules now, deliver what fires and what applied actions left in the outbox,
        then escalate what is overdue."""
        messages = self.deliver_outbox()
        fired: list[Fired] = []
        errors: dict[str, str] = {}
        for name in names or list(self.rules):
            if name not in self.rules:
                raise NotFound(f"unknown alert rule {name!r}; {did_you_mean(name, self.rules)}")
            rule = self.rules[name]
            if isinstance(rule, EventRule):
                continue
            try:
                found = self.evaluate(name, rule)
            except BrainError as exc:  # one broken or denied rule does not stop the others
                errors[name] = exc.message
                continue
            fired += [self.fire(name, key, title, body) for key, title, body in found]
        escalated = self.escalate()
        return {
            "fired": [f.as_dict() for f in fired],
            "escalated": [f.as_dict() for f in escalated],
            "messages": messages,
            "errors": errors,
            "checked_at": _iso(self.clock()),
        }

    def evaluate(self, name: str, rule: MetricRule | PredictionRule) -> list[tuple[str, str, str]]:
        """(key, title, body) of every alert the rule raises on the data as it is now."""
        user = self.user_for(name)
        if isinstance(rule, PredictionRule):
            return self._predictions(name, rule, user)
        if isinstance(rule, ThresholdRule):
            query = MetricQuery(metrics=(rule.metric,), by=tuple(rule.by), where=rule.where, period=rule.period)
            found = []
            for row in self.brain.query(query, user).rows:
                key, value = _key(row[:-1]), row[-1]
                if value is None:
                    continue
                if rule.above is not None and value > rule.above:
                    found.append((key, f"{rule.metric} is {value:,.4g}, above {rule.above:,.4g}"))
                elif rule.below is not None and value < rule.below:
                    found.append((key, f"{rule.metric} is {value:,.4g}, below {rule.below:,.4g}"))
            return [(k, f"{name}: {what} ({k})", f"{rule.description}\n{what} for {k}".strip()) for k, what in found]
        query = MetricQuery(metrics=(rule.metric,), by=(rule.grain, *rule.by), where=rule.where)
        series: dict[str, list[tuple[Any, float]]] = defaultdict(list)
        for row in self.brain.query(query, user).rows:
            if row[-1] is not None:
                series[_key(row[1:-1])].append((row[0], float(row[-1])))
        out = []
        for key, points in series.items():
            points.sort(key=lambda p: str(p[0]))
            what = _judge(rule, points)
            if what:
                out.append((key, f"{name}: {what} ({key})", f"{rule.description}\n{what} for {key}".strip()))
        return out

    def _predictions(self, name: str, rule: PredictionRule, user: str | None) -> list[tuple[str, str, str]]:
        """One alert per entity scored at or above the level, read as the rule's user (policies apply)."""
        from companybrain.factory import top_predictions

        uc = self.project.usecases[rule.usecase]
        assert uc.entity is not None and uc.output.property is not None
        prop, key = uc.output.property, self.project.objects[uc.entity].key
        level = uc.thresholds[rule.threshold] if rule.threshold is not None else rule.above
        assert level is not None
        out = []
        for row in top_predictions(self.brain, uc, user, at_least=level, where=rule.where, limit=rule.limit):
            shown = ", ".join(f"{p}={row.get(p)}" for p in rule.show)
            what = f"{uc.entity} {row[key]}: {prop} {float(row[prop]):.2f} >= {level:g}" + (
                f" ({shown})" if shown else ""
            )
            reasons = row.get(f"{prop}_reasons") or ""
            body = "\n".join(
                t
                for t in (rule.description, what, f"reasons: {reasons}" if reasons else "", row.get(f"{prop}_version"))
                if t
            )
            out.append((str(row[key]), f"{name}: {what}", body))
        return out

    # --- escalation and acknowledgement ---------------------------------------------------------------

    def escalate(self) -> list[Fired]:
        """Deliver to the escalation audience every open alert older than its rule's `after_minutes`."""
        now = self.clock()
        rows = self.brain.warehouse.query_arrow(
            exp.select(*[col(c) for c in ALERT_COLUMNS])
            .from_(ALERTS)
            .where(col("status").eq(literal("open")))
            .where(col("escalated_at").is_(exp.Null()))
        ).to_pylist()
        jobs: list[tuple[Fired, str, list[str], str, str]] = []
        for row in rows:
            rule = self.rules.get(row["rule"])
            if rule is None or rule.escalation is None:
                continue
            if now - datetime.fromisoformat(row["fired_at"]) < timedelta(minutes=rule.escalation.after_minutes):
                continue
            who = self.users_of(rule.escalation.audience)
            title = f"[escalated] {row['title']}"
            body = (
                f"Not acknowledged within {rule.escalation.after_minutes} minutes (fired {row['fired_at']}, "
                f"for {row['audience']}); escalated to {', '.join(who)}.\n\n{row['message']}"
            )
            alert = Fired(row["rule"], row["key"], title, "escalated", row["alert_id"])
            jobs.append((alert, "escalation", rule.escalation.channels, title, body))
            self._update(row["alert_id"], {"escalated_at": _iso(now)})
        self._deliver(jobs)
        return [alert for alert, *_ in jobs]

    def ack(self, alert_id: str, user: str) -> dict[str, Any]:
        """Acknowledge an alert: it will not be escalated."""
        found = self.alerts(alert_id=alert_id)
        if not found:
            raise NotFound(f"no alert {alert_id!r}", hint="brain alerts list")
        self._update(alert_id, {"status": "acked", "acked_at": _iso(self.clock()), "acked_by": user})
        return self.alerts(alert_id=alert_id)[0]

    def _update(self, alert_id: str, values: dict[str, Any]) -> None:
        self.brain.warehouse.execute(
            exp.update(ALERTS, {k: literal(v) for k, v in values.items()}, where=col("alert_id").eq(literal(alert_id)))
        )

    def alerts(self, limit: int = 50, alert_id: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        """The latest alerts, newest first."""
        query = exp.select(*[col(c) for c in ALERT_COLUMNS]).from_(ALERTS)
        if alert_id is not None:
            query = query.where(col("alert_id").eq(literal(alert_id)))
        if status is not None:
            query = query.where(col("status").eq(literal(status)))
        query = query.order_by(exp.Ordered(this=col("fired_at"), desc=True)).limit(limit)
        return self.brain.warehouse.query_arrow(query).to_pylist()

    def addressed_to(self, user: str, limit: int = 200, status: str | None = None) -> list[dict[str, Any]]:
        """The latest alerts whose audience names `user` (or, once escalated, whose escalation does)."""
        found = []
        for row in self.alerts(limit, status=status):
            rule = self.rules.get(row["rule"])
            escalated = self.users_of(rule.escalation.audience) if rule and rule.escalation else []
            recipients = {*(row.get("audience") or "").split(","), *(escalated if row["escalated_at"] else [])}
            recipients.discard("")
            if user in recipients:
                found.append({**row, "recipients": sorted(recipients)})
        return found

    def deliveries(self, limit: int = 50, alert_id: str | None = None) -> list[dict[str, Any]]:
        """The delivery log, newest first."""
        query = exp.select(*[col(c) for c in DELIVERY_COLUMNS]).from_(DELIVERIES)
        if alert_id is not None:
            query = query.where(col("alert_id").eq(literal(alert_id)))
        query = query.order_by(exp.Ordered(this=col("at"), desc=True), exp.Ordered(this=col("attempt"), desc=True))
        return self.brain.warehouse.query_arrow(query.limit(limit)).to_pylist()


def _key(values: Any) -> str:
    return "/".join(str(v) for v in values) or "all"


def _outcome(attempts: list[Attempt]) -> str:
    channels = {a.channel for a in attempts}
    sent = {a.channel for a in attempts if a.status == "sent"}
    return "sent" if sent == channels else "partial" if sent else "failed"


def _judge(rule: ChangeRule | AnomalyRule, points: list[tuple[Any, float]]) -> str | None:
    """Why the latest period of a series is alarming, or None."""
    if isinstance(rule, ChangeRule):
        if len(points) < 2 or points[-2][1] == 0:
            return None
        (before_at, before), (at, latest) = points[-2], points[-1]
        pct = 100 * (latest - before) / abs(before)
        wanted = {"up": pct >= rule.change_pct, "down": -pct >= rule.change_pct, "any": abs(pct) >= rule.change_pct}
        if not wanted[rule.direction]:
            return None
        return f"{rule.metric} {pct:+.1f}% in {rule.grain} {at} ({latest:,.4g}) vs {before_at} ({before:,.4g})"
    history, (at, latest) = [v for _, v in points[:-1]], points[-1]
    if len(history) < rule.min_history:
        return None
    z = robust_z(latest, history)
    if abs(z) < rule.z:
        return None
    return f"{rule.metric} {latest:,.4g} in {rule.grain} {at} is an outlier (robust z {z:+.1f}, threshold {rule.z:g})"


def robust_z(value: float, history: list[float]) -> float:
    """0.6745 (x - median) / MAD; infinite when the history never varies and x differs from it."""
    median = statistics.median(history)
    mad = statistics.median([abs(v - median) for v in history])
    if mad == 0:
        return 0.0 if value == median else float("inf") if value > median else float("-inf")
    return 0.6745 * (value - median) / mad


def _check_prediction_rule(project: Any, name: str, rule: PredictionRule) -> list[tuple[Any, str]]:
    """The use case must exist, score an entity, and name the threshold the rule uses."""
    uc = project.usecases.get(rule.usecase)
    if uc is None:
        return [
            (
                project.locate("alerts", name, "usecase"),
                f"unknown use case {rule.usecase!r}; {did_you_mean(rule.usecase, project.usecases)}",
            )
        ]
    if uc.output.property is None:
        return [(project.locate("alerts", name, "usecase"), f"use case {rule.usecase} writes no entity property")]
    from companybrain.governance.policy import Policy
    from companybrain.governance.principal import principal_for

    audience = list(rule.audience.users) + [
        u for u, spec in project.users.items() if set(spec.roles) & set(rule.audience.roles)
    ]
    shown = [uc.output.property, f"{uc.output.property}_reasons", *rule.show]
    blind = []
    for user in dict.fromkeys(audience):
        policy = Policy(project, principal_for(project, user))
        props = project.objects[uc.entity].properties
        if not policy.can_read_object(uc.entity) or any(p in props and policy.masked(uc.entity, p) for p in shown):
            blind.append(user)
    if blind:  # an alert tells its whole audience what it read: each of them must be allowed to read it
        msg = f"{', '.join(blind)} may not read {uc.entity} with {', '.join(shown)}, which this alert sends them"
        return [(project.locate("alerts", name, "audience"), msg)]
    if rule.threshold is not None and rule.threshold not in uc.thresholds:
        hint = did_you_mean(rule.threshold, uc.thresholds)
        msg = f"use case {rule.usecase} has no threshold {rule.threshold!r}; {hint}"
        return [(project.locate("alerts", name, "threshold"), msg)]
    return []


def deliver_action_messages(brain: Brain) -> list[dict[str, Any]]:
    """Send what just-applied actions left in the outbox (called after an approval)."""
    engine = AlertEngine(brain)
    try:
        return engine.deliver_outbox()
    finally:
        engine.close()
