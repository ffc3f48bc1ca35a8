"""Who an alert reaches, and what each of them may read of it.

The rule: what reaches a person is computed with that person's own rights. A rule is evaluated as
each of its recipients (an event rule's replan is computed once as its `as_user`, then re-read as
each recipient); a channel whose URL holds `{user}` is personal (each recipient gets their own
message on it); a channel without it is shared by its whole audience and is accepted only when
every member reads exactly the same for the rule: the same compiled query, the same rows and masks
of every object type the alert can show. Anything else is refused when the rules load, with the
file, the line and what to change."""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from companybrain.errors import BrainError, Location, PolicyDenied, did_you_mean
from companybrain.governance.policy import Policy
from companybrain.governance.principal import principal_for
from companybrain.semantic.query import MetricQuery
from companybrain.specs.alerts import AlertRule, Audience, EventRule, PredictionRule, ThresholdRule
from companybrain.specs.ontology import SPEC_DIALECT

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.governance.principal import Principal
    from companybrain.project import Project
    from companybrain.semantic.model import SemanticModel

Problems = list[tuple[Location, str]]
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# fields every event may carry that name an object of the company model (by its key)
EVENT_FIELDS = ("site_id", "line_id", "machine_id")
STAGES = ("alert", "escalation")


# --- audiences and channels -----------------------------------------------------------------------


def users_of(project: Project, audience: Audience) -> list[str]:
    """The audience's users, then every user holding one of its roles."""
    users = list(audience.users)
    users += [u for u, spec in project.users.items() if set(spec.roles) & set(audience.roles)]
    return list(dict.fromkeys(users))


def stages(project: Project, rule: AlertRule) -> dict[str, list[str]]:
    """Who each stage reaches: the audience when the alert fires, the escalation's if nobody acknowledges it."""
    found = {"alert": users_of(project, rule.audience), "escalation": []}
    if rule.escalation is not None:
        found["escalation"] = users_of(project, rule.escalation.audience)
    return found


def stage_channels(rule: AlertRule, stage: str) -> list[str]:
    if stage == "escalation":
        return rule.escalation.channels if rule.escalation is not None else []
    return rule.channels


def is_personal(url: str) -> bool:
    """A channel naming its recipient (`{user}`, or a user attribute such as `{email}`) is sent once per recipient."""
    return PLACEHOLDER.search(url) is not None


def address(project: Project, url: str, user: str) -> str:
    """A personal channel's URL for one recipient: `{user}` and `{<attribute>}` filled, URL-quoted."""
    spec = project.users.get(user)
    values = {"user": user, **(dict(spec.attributes) if spec is not None else {})}

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:  # checked when the rules load; a user added since has no such attribute
            raise BrainError(f"user {user!r} has no attribute {name!r}, which the channel needs")
        return quote(str(values[name]), safe="@")

    return PLACEHOLDER.sub(fill, url)


# --- what each reader sees of a rule, compared between the members of a shared channel -------------


def metric_query(rule: Any) -> MetricQuery:
    """The query a metric rule runs: the metric by its dimensions (over `period`), or by its grain first."""
    if isinstance(rule, ThresholdRule):
        return MetricQuery(metrics=(rule.metric,), by=tuple(rule.by), where=rule.where, period=rule.period)
    return MetricQuery(metrics=(rule.metric,), by=(rule.grain, *rule.by), where=rule.where)


def type_view(model: SemanticModel, policy: Policy, type_name: str, props: list[str] | None = None) -> tuple[Any, ...]:
    """What a principal reads of an object type: the rows (its row filters, as they reach the type
    through links) and the properties masked among `props` (all by default)."""
    from companybrain.decisions.notify import rows_read

    rows = rows_read(model, policy, type_name)
    if rows is None:
        return ("denied",)
    shown = props if props is not None else list(model.objects[type_name].properties)
    masked = sorted(p for p in shown if p in model.objects[type_name].properties and policy.masked(type_name, p))
    return ("rows", rows, "masked", tuple(masked))


def reads_every_row(model: SemanticModel, policy: Policy, type_name: str) -> bool:
    """True when the principal reads every object of the type (no row filter reaches it)."""
    from companybrain.decisions.notify import rows_read

    return rows_read(model, policy, type_name) == ()


def types_named_by(project: Project, fields: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Event field -> the object type it names (a field named like a type's key: site_id -> Site)."""
    keys = {obj.key: name for name, obj in project.objects.items() if obj.key}
    return {f: keys[f] for f in fields if f in keys}


def _shown_types(project: Project, rule: AlertRule) -> dict[str, list[str] | None]:
    """Object type -> the properties an alert of this rule can show of it (None: any)."""
    from companybrain.decisions.notify import VIEW_TYPES

    if isinstance(rule, PredictionRule):
        uc = project.usecases[rule.usecase]
        assert uc.entity is not None and uc.output.property is not None
        prop = uc.output.property
        return {uc.entity: [prop, f"{prop}_reasons", f"{prop}_version", *rule.show]}
    assert isinstance(rule, EventRule)
    fields = [*EVENT_FIELDS, *rule.key, *rule.match, *rule.above, *rule.below]
    shown: dict[str, list[str] | None] = {t: [] for t in types_named_by(project, fields).values()}
    if rule.replan is not None:
        shown |= {t: None for t in VIEW_TYPES if t in project.objects}
    return shown


def signature(project: Project, model: SemanticModel, rule: AlertRule, user: str, today: date) -> dict[str, Any]:
    """What `user` reads for this rule, part by part: equal signatures, equal alerts."""
    from companybrain.semantic.compiler import compile_query

    policy = Policy(project, principal_for(project, user))
    if isinstance(rule, EventRule | PredictionRule):
        return {t: type_view(model, policy, t, props) for t, props in _shown_types(project, rule).items()}
    try:
        compiled = compile_query(model, metric_query(rule), policy, today)
    except BrainError as exc:  # denied, or a query that cannot compile (reported on its own)
        return {"query": ("error", exc.message)}
    return {"query": compiled.tree.sql(dialect=SPEC_DIALECT)}


# --- checks when the rules load -------------------------------------------------------------------


@dataclass
class _Checked:
    project: weakref.ref[Any]
    alerts: dict[str, AlertRule]
    problems: Problems = field(default_factory=list)


_checked: dict[int, _Checked] = {}  # by id of the project as loaded: a service checks its rules once


def check_rules(project: Project, model: SemanticModel) -> Problems:
    """Every problem of the project's alert rules, with file and line."""
    done = _checked.get(id(project))
    if done is not None and done.project() is project and done.alerts is project.alerts:
        return done.problems
    problems: Problems = []
    today = project.spec.today or date.today()
    for name, rule in project.alerts.items():
        unknown = _names(project, name, rule)
        problems += unknown
        if unknown:
            continue
        problems += _as_user(project, name, rule)
        if isinstance(rule, PredictionRule):
            problems += check_prediction_rule(project, name, rule)
        elif not isinstance(rule, EventRule):
            problems += _metric_readers(project, model, name, rule, today)
        problems += _channels(project, model, name, rule, today)
    if done is None:
        weakref.finalize(project, _checked.pop, id(project), None)
    _checked[id(project)] = _Checked(weakref.ref(project), project.alerts, problems)
    return problems


def _names(project: Project, name: str, rule: AlertRule) -> Problems:
    problems: Problems = []
    audiences: list[tuple[tuple[str, ...], Audience]] = [(("audience",), rule.audience)]
    if rule.escalation is not None:
        audiences.append((("escalation", "audience"), rule.escalation.audience))
    for path, audience in audiences:
        for role in audience.roles:
            if role not in project.roles:
                loc = project.locate("alerts", name, *path, "roles")
                problems.append((loc, f"unknown role {role!r}; {did_you_mean(role, project.roles)}"))
        for user in audience.users:
            if user not in project.users:
                loc = project.locate("alerts", name, *path, "users")
                problems.append((loc, f"unknown user {user!r}; {did_you_mean(user, project.users)}"))
    if rule.as_user and rule.as_user not in project.users:
        loc = project.locate("alerts", name, "as_user")
        problems.append((loc, f"unknown user {rule.as_user!r}; {did_you_mean(rule.as_user, project.users)}"))
    return problems


def _as_user(project: Project, name: str, rule: AlertRule) -> Problems:
    """`as_user` is who a replan is computed as; nothing else is computed as anyone but its recipient."""
    replans = isinstance(rule, EventRule) and rule.replan is not None
    if rule.as_user and not replans:
        msg = (
            f"as_user: {rule.as_user} would send every recipient what {rule.as_user} may read; an alert is "
            "computed as each of its recipients, with their own rights. Remove as_user (it names who a "
            "replan is computed as, on event rules with replan:)"
        )
        return [(project.locate("alerts", name, "as_user"), msg)]
    if replans and not rule.as_user:
        msg = (
            "a replan needs as_user: the user the plan is computed as (it reads order values and customers, "
            "e.g. as_user: cfo); each recipient then receives only what they may read of it"
        )
        return [(project.locate("alerts", name, "replan"), msg)]
    return []


def _metric_readers(project: Project, model: SemanticModel, name: str, rule: Any, today: date) -> Problems:
    """Every recipient must be allowed the rule's query: one who never may is a mistake in the audience."""
    from companybrain.semantic.compiler import compile_query

    problems: Problems = []
    for stage, users in stages(project, rule).items():
        blind: dict[str, str] = {}
        for user in users:
            try:
                compile_query(model, metric_query(rule), Policy(project, principal_for(project, user)), today)
            except PolicyDenied as exc:
                blind[user] = exc.message
            except BrainError as exc:  # an unknown metric or dimension: the same for everyone
                return [(project.locate("alerts", name, "metric"), exc.message)]
        if blind:
            path = ("audience",) if stage == "alert" else ("escalation", "audience")
            first = next(iter(blind.values()))
            msg = (
                f"{', '.join(blind)} may not read {rule.metric}"
                + (f" by {', '.join(rule.by)}" if rule.by else "")
                + f", which this alert sends them ({first}); take them out of the audience"
            )
            problems.append((project.locate("alerts", name, *path), msg))
    return problems


def _channels(project: Project, model: SemanticModel, name: str, rule: AlertRule, today: date) -> Problems:
    """Personal channels name only what every recipient has; a shared one needs an audience that reads alike."""
    problems: Problems = []
    for stage, users in stages(project, rule).items():
        prefix = ("channels",) if stage == "alert" else ("escalation", "channels")
        signatures: dict[str, dict[str, Any]] | None = None
        for i, url in enumerate(stage_channels(rule, stage)):
            loc = project.locate("alerts", name, *prefix, i)
            if is_personal(url):
                for placeholder in dict.fromkeys(PLACEHOLDER.findall(url)):
                    lacking = [u for u in users if placeholder != "user" and placeholder not in _attributes(project, u)]
                    if lacking:
                        msg = (
                            f"the channel names {{{placeholder}}}, which {', '.join(lacking)} "
                            "lack: use {user} or an attribute every recipient has (policies/ users: attributes:)"
                        )
                        problems.append((loc, msg))
                continue
            if len(users) < 2:
                continue
            if signatures is None:
                signatures = {u: signature(project, model, rule, u, today) for u in users}
            differing = _differing(signatures)
            if differing:
                problems.append((loc, _shared_message(url, users, differing)))
    return problems


def _attributes(project: Project, user: str) -> dict[str, str]:
    spec = project.users.get(user)
    return dict(spec.attributes) if spec is not None else {}


def _differing(signatures: dict[str, dict[str, Any]]) -> list[str]:
    """The parts of a rule that its readers read differently."""
    first, *rest = signatures.values()
    return sorted(
        {part for other in rest for part in first.keys() | other.keys() if first.get(part) != other.get(part)}
    )


def _shared_message(url: str, users: list[str], differing: list[str]) -> str:
    from companybrain.delivery.channels import redact

    what = "the rule's query" if differing == ["query"] else ", ".join(differing)
    example = "mailto://...&to={user}@example.com" if url.lower().startswith("mailto") else "json://host/alerts/{user}"
    return (
        f"the channel {redact(url)} is shared by {', '.join(users)}, who may not read the same for this rule "
        f"({what}: their row filters or masks differ), so it could only carry what all of them may read. "
        f"Make it personal with {{user}} in its URL ({example}), so that each recipient gets what they "
        "may read, or give the shared channel an audience whose members read alike"
    )


def check_prediction_rule(project: Project, name: str, rule: PredictionRule) -> Problems:
    """The use case must exist, score an entity, be readable by the whole audience with what the alert
    shows, and name the threshold the rule uses."""
    uc = project.usecases.get(rule.usecase)
    if uc is None:
        return [
            (
                project.locate("alerts", name, "usecase"),
                f"unknown use case {rule.usecase!r}; {did_you_mean(rule.usecase, project.usecases)}",
            )
        ]
    if uc.output.property is None or uc.entity is None:
        return [(project.locate("alerts", name, "usecase"), f"use case {rule.usecase} writes no entity property")]
    shown = [uc.output.property, f"{uc.output.property}_reasons", *rule.show]
    blind = []
    for user in dict.fromkeys(u for users in stages(project, rule).values() for u in users):
        policy = Policy(project, principal_for(project, user))
        props = project.objects[uc.entity].properties
        if not policy.can_read_object(uc.entity) or any(p in props and policy.masked(uc.entity, p) for p in shown):
            blind.append(user)
    if blind:  # each recipient is sent the scores they may read: one who may read none is a mistake
        msg = f"{', '.join(blind)} may not read {uc.entity} with {', '.join(shown)}, which this alert sends them"
        return [(project.locate("alerts", name, "audience"), msg)]
    if rule.threshold is not None and rule.threshold not in uc.thresholds:
        hint = did_you_mean(rule.threshold, uc.thresholds)
        msg = f"use case {rule.usecase} has no threshold {rule.threshold!r}; {hint}"
        return [(project.locate("alerts", name, "threshold"), msg)]
    return []


# --- what a recipient may read of an event --------------------------------------------------------


class Visibility:
    """Which objects each reader may read, through the governed path as them (audited), cached for a batch.

    An id the reader's read does not return is hidden from them, unless they read every object of
    its type: then it is simply not (yet) in the company model, and they would see it if it were."""

    def __init__(self, brain: Brain) -> None:
        self.brain = brain
        self._seen: dict[tuple[str, str], set[str]] = {}
        self._asked: dict[tuple[str, str], set[str]] = {}
        self._every: dict[tuple[str, str], bool] = {}

    def readable(self, user: str | Principal, type_name: str, ids: list[Any]) -> set[str]:
        """The ids among `ids` (compared as text) that `user` may read."""
        principal = self.brain.principal(user)
        slot = (principal.reader_key(), type_name)
        wanted = {str(i) for i in ids if i is not None}
        if slot not in self._every:
            policy = Policy(self.brain.project, principal)
            self._every[slot] = reads_every_row(self.brain.semantic, policy, type_name)
        if self._every[slot]:
            return wanted
        missing = wanted - self._asked.get(slot, set())
        if missing:
            self._seen.setdefault(slot, set()).update(read_ids(self.brain, principal, type_name, sorted(missing)))
            self._asked.setdefault(slot, set()).update(missing)
        return wanted & self._seen.get(slot, set())

    def sees_event(self, user: str, event: dict[str, Any]) -> bool:
        """True when the user may read every object the event names (its fields named like a type's key)."""
        named = types_named_by(self.brain.project, [f for f in event if event.get(f) is not None])
        return all(str(event[f]) in self.readable(user, t, [event[f]]) for f, t in named.items())


def read_ids(brain: Brain, user: str | Principal, type_name: str, ids: list[str]) -> set[str]:
    """The keys among `ids` that a governed read as `user` returns (none if the type is denied)."""
    from companybrain.decisions.notify import read_in

    key = brain.project.objects[type_name].key
    return {str(r[key]) for r in read_in(brain, user, type_name, key, ids)}
