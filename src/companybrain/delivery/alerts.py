"""Alerts: evaluate the project's rules (metrics through the governed query path, events as they
arrive), deduplicate and throttle, deliver on every channel at once, escalate what nobody
acknowledged, and keep the alerts and every delivery attempt in the warehouse.

What reaches a person is computed with that person's rights (see delivery/recipients.py): a rule is
evaluated as each recipient, each gets their own message (one row per recipient and stage here),
personal channels (`{user}` in the URL) carry each recipient's own, a shared channel carries the
message only when every member of its audience was sent the very same one."""

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

from companybrain.delivery import recipients
from companybrain.delivery.channels import Attempt, deliver, redact
from companybrain.errors import BrainError, ConfigError, NotFound, did_you_mean
from companybrain.project import expand_env
from companybrain.sources.load_log import META
from companybrain.specs.alerts import AlertRule, AnomalyRule, ChangeRule, EventRule, MetricRule, PredictionRule
from companybrain.warehouse.ddl import col, literal, table

if TYPE_CHECKING:
    from companybrain.brain import Brain

ALERTS = table(META, "alerts")
DELIVERIES = table(META, "alert_deliveries")
# One row per recipient of an alert and stage: `audience` is that recipient, `title` and `message`
# what they are told (computed with their rights); the rows of one alert share its id, status and
# times. stage: alert (sent when it fires) | escalation (drafted then, sent if nobody acknowledges it
# in time). Rows without a stage were written before alerts were rendered per recipient.
# Times are ISO 8601 UTC text; status: open | acked.
_ALERT = "alert_id rule key severity title message audience fired_at status acked_at acked_by escalated_at stage"
ALERT_COLUMNS = dict.fromkeys(_ALERT.split(), "string")
# delivery stage: alert | escalation; status: sent | failed | refused; recipient: the user a personal
# channel was addressed to (empty on a shared channel)
DELIVERY_COLUMNS = {**dict.fromkeys(["alert_id", "rule", "stage", "channel"], "string"), "attempt": "integer"}
DELIVERY_COLUMNS |= dict.fromkeys(("status", "error", "at", "recipient"), "string")
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Message:
    """What one recipient is told."""

    title: str
    body: str


@dataclass
class AlertRequest:
    """One alert to fire: its rule, its key, and each recipient's message (computed as them); a
    recipient who may read none of it is not there."""

    rule: str
    key: str
    messages: dict[str, Message]


@dataclass
class Fired:
    """What became of one alert: delivered (sent/partial/failed), suppressed (deduplicated/throttled),
    or withheld (no one in its audience may read it)."""

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
            "deliveries": [
                {"channel": a.channel, "recipient": a.recipient, "attempt": a.attempt, "status": a.status}
                for a in self.attempts
            ],
        }


@dataclass
class _Job:
    """One message on one channel (a personal channel: one job per recipient)."""

    alert: Fired
    stage: str
    url: str
    recipient: str | None
    message: Message | None  # None: refused before sending (`refusal` says why)
    attempts: int
    refusal: str | None = None


def _title(rule: str, key: str) -> str:
    """An alert named without its content: what the delivery report and `brain alerts list` show."""
    return f"{rule} ({key})"


class AlertEngine:
    """The project's alert rules over one Brain; `clock` and `sleep` are injectable for tests."""

    def __init__(self, brain: Brain, clock: Clock = utc_now, sleep: Callable[[float], None] = time.sleep) -> None:
        self.brain = brain
        self.project = brain.project
        self.clock = clock
        self.sleep = sleep
        self.rules = self.project.alerts
        problems = recipients.check_rules(self.project, brain.semantic)
        if problems:
            raise ConfigError(problems)
        wh = brain.warehouse
        wh.ensure_table(ALERTS, ALERT_COLUMNS)
        wh.ensure_table(DELIVERIES, DELIVERY_COLUMNS)
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="alert-channel")
        self._last: dict[tuple[str, str], datetime] = {}
        self._recent: dict[str, list[datetime]] = defaultdict(list)
        self._load_recent()

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    # --- who ------------------------------------------------------------------------------------

    def users_of(self, name: str, stage: str = "alert") -> list[str]:
        """Who a rule's alerts reach at a stage: its audience (alert), or its escalation's."""
        return recipients.stages(self.project, self.rules[name])[stage]

    def recipients_of(self, name: str) -> list[str]:
        """Everyone a rule's alerts may reach: its audience, then its escalation's."""
        found = recipients.stages(self.project, self.rules[name])
        return list(dict.fromkeys([*found["alert"], *found["escalation"]]))

    # --- dedup and throttle -----------------------------------------------------------------------

    def _load_recent(self) -> None:
        longest = max([60, *(r.dedup_minutes for r in self.rules.values())])
        since = _iso(self.clock() - timedelta(minutes=longest))
        rows = self.brain.warehouse.query_arrow(
            exp.select(col("alert_id"), col("rule"), col("key"), col("fired_at"))
            .from_(ALERTS)
            .where(col("fired_at") >= literal(since))
        ).to_pylist()
        alerts = {r["alert_id"]: r for r in rows}  # one per alert, whatever its recipients
        for row in sorted(alerts.values(), key=lambda r: r["fired_at"]):
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

    def fire(self, request: AlertRequest) -> Fired:
        """Record and deliver one alert, unless deduplicated, throttled or withheld."""
        return self.fire_many([request])[0]

    def fire_many(self, requests: list[AlertRequest]) -> list[Fired]:
        """Record and deliver alerts together: one insert per table, every channel of every alert at
        once; deduplicated, throttled or withheld ones are only reported. Each recipient's message
        (and, for the escalation audience, the escalation's) is recorded when the alert fires."""
        fired: list[Fired] = []
        rows: list[dict[str, Any]] = []
        jobs: list[_Job] = []
        now = self.clock()
        for request in requests:
            name, key = request.rule, request.key
            reason = self.suppressed(name, key)
            if reason is not None:
                fired.append(Fired(name, key, _title(name, key), reason))
                continue
            rule = self.rules[name]
            told = {u: request.messages[u] for u in self.users_of(name) if u in request.messages}
            if not told:  # no one in the audience may read it: nothing to record or send
                fired.append(Fired(name, key, _title(name, key), "withheld"))
                continue
            self._last[(name, key)] = now
            self._recent[name].append(now)
            alert = Fired(name, key, _title(name, key), "pending", "al_" + secrets.token_hex(6))
            fired.append(alert)
            footer = (
                f"\n\nseverity: {rule.severity} | for: {', '.join(told)} | rule: {name} | "
                f"acknowledge: brain alerts ack {alert.alert_id}"
            )
            sent = {u: Message(m.title, m.body + footer) for u, m in told.items()}
            drafted: dict[str, Message] = {}
            if rule.escalation is not None:
                later = self.users_of(name, "escalation")
                escalated = {u: request.messages[u] for u in later if u in request.messages}
                head = (
                    f"Not acknowledged within {rule.escalation.after_minutes} minutes (fired {_iso(now)}, for "
                    f"{', '.join(told)}); escalated to {', '.join(escalated)}.\n\n"
                )
                drafted = {u: Message(f"[escalated] {m.title}", head + m.body + footer) for u, m in escalated.items()}
            base = {"alert_id": alert.alert_id, "rule": name, "key": key, "severity": rule.severity}
            base |= {"fired_at": _iso(now), "status": "open", "acked_at": None, "acked_by": None, "escalated_at": None}
            for stage, messages in (("alert", sent), ("escalation", drafted)):
                for user, m in messages.items():
                    rows.append({**base, "title": m.title, "message": m.body, "audience": user, "stage": stage})
            jobs += self._jobs(alert, "alert", rule, sent)
        if rows:
            schema = pa.schema([(c, pa.string()) for c in ALERT_COLUMNS])
            self.brain.warehouse.write_arrow(ALERTS, pa.Table.from_pylist(rows, schema=schema), create=False)
        self._deliver(jobs)
        return fired

    def _jobs(self, alert: Fired, stage: str, rule: AlertRule, messages: dict[str, Message]) -> list[_Job]:
        """Each channel of the stage: a personal one once per recipient, with their message; a shared one
        once, only if every member of its audience was sent the very same message (else refused)."""
        members = recipients.stages(self.project, rule)[stage]
        jobs = []
        for url in recipients.stage_channels(rule, stage):
            if recipients.is_personal(url):
                for user, message in messages.items():
                    try:
                        target = recipients.address(self.project, url, user)
                    except BrainError as exc:
                        jobs.append(_Job(alert, stage, url, user, None, rule.attempts, exc.message))
                        continue
                    jobs.append(_Job(alert, stage, target, user, message, rule.attempts))
                continue
            distinct = {messages.get(u) for u in members}
            if len(distinct) == 1 and None not in distinct:
                jobs.append(_Job(alert, stage, url, None, distinct.pop(), rule.attempts))
            else:
                why = (
                    "a shared channel carries an alert only when every member of its audience may read all of "
                    f"it; {', '.join(u for u in members if u not in messages) or 'its members'} may not"
                )
                jobs.append(_Job(alert, stage, url, None, None, rule.attempts, why))
        return jobs

    def _deliver(self, jobs: list[_Job]) -> None:
        """Every job at once (a slow or failing channel does not hold up the others); every attempt
        goes to the delivery log in one insert."""
        allow = list(self.project.spec.egress.allow)
        futures = [
            (job, self._pool.submit(deliver, expand_env(job.url), m.title, m.body, allow, job.attempts, self.sleep))
            for job in jobs
            if (m := job.message) is not None
        ]
        done: list[tuple[_Job, list[Attempt]]] = [
            (job, [Attempt(redact(job.url), 1, "refused", job.refusal, time.time())])
            for job in jobs
            if job.message is None
        ]
        done += [(job, future.result()) for job, future in futures]
        log: list[dict[str, Any]] = []
        outcome: dict[int, list[bool]] = defaultdict(list)
        for job, attempts in done:
            outcome[id(job.alert)].append(any(a.status == "sent" for a in attempts))
            for a in attempts:
                a.recipient = job.recipient
                job.alert.attempts.append(a)
                log.append(
                    {
                        "alert_id": job.alert.alert_id,
                        "rule": job.alert.rule,
                        "stage": job.stage,
                        "channel": a.channel,
                        "attempt": a.attempt,
                        "status": a.status,
                        "error": a.error,
                        "at": _iso(datetime.fromtimestamp(a.at, UTC)),
                        "recipient": job.recipient,
                    }
                )
        for job in jobs:
            ok = outcome[id(job.alert)]
            if job.stage == "escalation":
                job.alert.status = "escalated"
            else:
                job.alert.status = "sent" if all(ok) else "partial" if any(ok) else "failed"
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
        """Evaluate the metric and prediction rules now (as each recipient), deliver what fires and what
        applied actions left in the outbox, then escalate what is overdue."""
        messages = self.deliver_outbox()
        fired: list[Fired] = []
        errors: dict[str, str] = {}
        for name in names or list(self.rules):
            if name not in self.rules:
                raise NotFound(f"unknown alert rule {name!r}; {did_you_mean(name, self.rules)}")
            rule = self.rules[name]
            if isinstance(rule, EventRule):
                continue
            requests, problems = self.evaluate(name, rule)
            if problems:  # one recipient's denied or broken read does not stop the others, nor other rules
                errors[name] = "; ".join(problems)
            fired += self.fire_many(requests)
        escalated = self.escalate()
        return {
            "fired": [f.as_dict() for f in fired],
            "escalated": [f.as_dict() for f in escalated],
            "messages": messages,
            "errors": errors,
            "checked_at": _iso(self.clock()),
        }

    def evaluate(self, name: str, rule: MetricRule | PredictionRule) -> tuple[list[AlertRequest], list[str]]:
        """Every alert the rule raises on the data as it is now, each recipient's message computed as
        them (keys in the order first found); and what failed, per recipient."""
        by_key: dict[str, dict[str, Message]] = {}
        problems: list[str] = []
        for user in self.recipients_of(name):
            try:
                found = self.evaluate_as(name, rule, user)
            except BrainError as exc:
                problems.append(f"{user}: {exc.message}")
                continue
            for key, title, body in found:
                by_key.setdefault(key, {})[user] = Message(title, body)
        return [AlertRequest(name, key, messages) for key, messages in by_key.items()], problems

    def evaluate_as(self, name: str, rule: MetricRule | PredictionRule, user: str) -> list[tuple[str, str, str]]:
        """(key, title, body) of every alert the rule raises for `user`, read as them."""
        if isinstance(rule, PredictionRule):
            return self._predictions(name, rule, user)
        query = recipients.metric_query(rule)
        rows = self.brain.query(query, user).rows
        if not isinstance(rule, ChangeRule | AnomalyRule):
            found = []
            for row in rows:
                key, value = _key(row[:-1]), row[-1]
                if value is None:
                    continue
                if rule.above is not None and value > rule.above:
                    found.append((key, f"{rule.metric} is {value:,.4g}, above {rule.above:,.4g}"))
                elif rule.below is not None and value < rule.below:
                    found.append((key, f"{rule.metric} is {value:,.4g}, below {rule.below:,.4g}"))
            return [(k, f"{name}: {what} ({k})", f"{rule.description}\n{what} for {k}".strip()) for k, what in found]
        series: dict[str, list[tuple[Any, float]]] = defaultdict(list)
        for row in rows:
            if row[-1] is not None:
                series[_key(row[1:-1])].append((row[0], float(row[-1])))
        out = []
        for key, points in series.items():
            points.sort(key=lambda p: str(p[0]))
            what = _judge(rule, points)
            if what:
                out.append((key, f"{name}: {what} ({key})", f"{rule.description}\n{what} for {key}".strip()))
        return out

    def _predictions(self, name: str, rule: PredictionRule, user: str) -> list[tuple[str, str, str]]:
        """One alert per entity scored at or above the level, read as `user` (policies apply)."""
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
        """Deliver, to the escalation audience, what was drafted for each of them when the alert fired,
        for every open alert older than its rule's `after_minutes`."""
        now = self.clock()
        rows = self.brain.warehouse.query_arrow(
            exp.select(*[col(c) for c in ALERT_COLUMNS])
            .from_(ALERTS)
            .where(col("status").eq(literal("open")))
            .where(col("escalated_at").is_(exp.Null()))
        ).to_pylist()
        by_alert: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            by_alert[row["alert_id"]].append(row)
        jobs: list[_Job] = []
        escalated: list[Fired] = []
        for alert_id, group in by_alert.items():
            first = group[0]
            rule = self.rules.get(first["rule"])
            if rule is None or rule.escalation is None:
                continue
            if now - datetime.fromisoformat(first["fired_at"]) < timedelta(minutes=rule.escalation.after_minutes):
                continue
            drafted = {r["audience"]: Message(r["title"], r["message"]) for r in group if r["stage"] == "escalation"}
            alert = Fired(first["rule"], first["key"], _title(first["rule"], first["key"]), "escalated", alert_id)
            escalated.append(alert)
            if drafted:  # none: no one it escalates to may read it (or it was recorded before per-recipient alerts)
                jobs += self._jobs(alert, "escalation", rule, drafted)
            self._update(alert_id, {"escalated_at": _iso(now)})
        self._deliver(jobs)
        return escalated

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

    def _rows(self, where: exp.Expr, limit: int) -> list[dict[str, Any]]:
        query = exp.select(*[col(c) for c in ALERT_COLUMNS]).from_(ALERTS).where(where)
        query = query.order_by(exp.Ordered(this=col("fired_at"), desc=True), exp.Ordered(this=col("alert_id")))
        return self.brain.warehouse.query_arrow(query.limit(limit)).to_pylist()

    def alerts(self, limit: int = 50, alert_id: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        """The latest alerts, newest first, one row each, named but not told (their content went to each
        recipient: see `addressed_to`); `audience` lists who was told."""
        ids = exp.select(col("alert_id"), exp.func("max", col("fired_at")).as_("at")).from_(ALERTS)
        if alert_id is not None:
            ids = ids.where(col("alert_id").eq(literal(alert_id)))
        if status is not None:
            ids = ids.where(col("status").eq(literal(status)))
        ids = ids.group_by(col("alert_id")).order_by(exp.Ordered(this=col("at"), desc=True)).limit(limit)
        wanted = [r["alert_id"] for r in self.brain.warehouse.query_arrow(ids).to_pylist()]
        if not wanted:
            return []
        rows = self._rows(col("alert_id").isin(*[literal(a) for a in wanted]), 100_000)
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            grouped[row["alert_id"]].append(row)
        out = []
        for a in wanted:
            group = grouped[a]
            told = [r["audience"] for r in group if r["stage"] != "escalation" and r["audience"]]
            out.append(
                {
                    **group[0],
                    "title": _title(group[0]["rule"], group[0]["key"]),
                    "message": None,
                    "audience": ",".join(dict.fromkeys(told)),
                    "stage": None,
                }
            )
        return out

    def addressed_to(self, user: str, limit: int = 200, status: str | None = None) -> list[dict[str, Any]]:
        """The latest alerts told to `user` (as their rule's audience, or as its escalation's once
        escalated), newest first, each with what they were told and who else was told."""
        where: exp.Expr = col("audience").eq(literal(user))
        if status is not None:
            where = exp.and_(where, col("status").eq(literal(status)))
        mine: dict[str, dict[str, Any]] = {}
        for row in self._rows(where, 4 * limit):
            if row["stage"] == "escalation" and not row["escalated_at"]:
                continue  # drafted for the escalation: not told yet
            if row["alert_id"] not in mine or row["stage"] != "escalation":
                mine[row["alert_id"]] = row
        found = list(mine.values())[:limit]
        if not found:
            return []
        everyone: dict[str, set[str]] = defaultdict(set)
        for row in self._rows(col("alert_id").isin(*[literal(r["alert_id"]) for r in found]), 100_000):
            if row["stage"] != "escalation" or row["escalated_at"]:
                everyone[row["alert_id"]].add(row["audience"])
        return [{**r, "recipients": sorted(everyone[r["alert_id"]])} for r in found]

    def deliveries(self, limit: int = 50, alert_id: str | None = None) -> list[dict[str, Any]]:
        """The delivery log, newest first."""
        query = exp.select(*[col(c) for c in DELIVERY_COLUMNS]).from_(DELIVERIES)
        if alert_id is not None:
            query = query.where(col("alert_id").eq(literal(alert_id)))
        query = query.order_by(exp.Ordered(this=col("at"), desc=True), exp.Ordered(this=col("attempt"), desc=True))
        return self.brain.warehouse.query_arrow(query.limit(limit)).to_pylist()


def _key(values: Any) -> str:
    return "/".join(str(v) for v in values) or "all"


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


def deliver_action_messages(brain: Brain) -> list[dict[str, Any]]:
    """Send what just-applied actions left in the outbox (called after an approval)."""
    engine = AlertEngine(brain)
    try:
        return engine.deliver_outbox()
    finally:
        engine.close()
