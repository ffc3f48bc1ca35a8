"""actions/*.yaml: action types - what a decision may change, who may submit it, who must approve it.

An action type declares its parameters (typed, validated, optionally the key of an ontology
object), checks over them (`qty > 0`, `to_line <> from_line`), who may submit it, the approval
rules (the first whose `when` holds applies: every approver in `all_of`, or any one of `any_of`),
and its effects: `write` a row into the brain's write-back schema (`writeback.<table>`, the
decision as the company model records it) and/or call a `webhook` on a source system, each
with how it is undone. Values in effects and approver attributes are templates: "{order_id}".
"""

from __future__ import annotations

import re
import string
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from sqlglot import exp

from companybrain.errors import Location, did_you_mean
from companybrain.governance.egress import host_allowed
from companybrain.specs.base import Spec
from companybrain.specs.ontology import SqlExpression, parse_expression

if TYPE_CHECKING:
    from companybrain.project import Project

NAME = r"^[a-z][a-z0-9_]*$"
ParamType = Literal["string", "integer", "number", "date", "boolean"]
# the fields each kind of replan action carries (decisions/notify.py `actions_for`)
_COMMON = ("order_id", "customer_id", "tier", "customer", "family", "qty", "value")
REPLAN_FIELDS: dict[str, frozenset[str]] = {
    "move": frozenset(_COMMON)
    | {"from_site", "from_line", "to_site", "to_line", "week", "week_start"}
    | {"transit_days", "freight", "delay_days"},
    "delay": frozenset((*_COMMON, "delay_days", "beyond_horizon", "due_date", "new_date")),
    "prioritise": frozenset((*_COMMON, "line", "week", "week_start", "due_date")),
    # decisions/materials.py `expedites`
    "expedite": frozenset(
        {"site_id", "component_id", "component", "supplier_id", "supplier", "need_by", "earliest_arrival"}
        | {"arrives_late_days", "normal_lead_time_days", "po_id", "qty", "promised_date", "expedite_cost"}
        | {"pulled_in_qty", "new_order_qty"}
    ),
}
# what every template may use besides the parameters
BUILTINS = frozenset({"action_id", "batch_id", "action_type", "proposed_by", "approved_by"})
SUM = re.compile(r"^sum\((.+)\)$")


class Parameter(Spec):
    """One parameter of an action: its type, whether it is needed, its allowed values."""

    type: ParamType
    description: str = ""
    required: bool = True
    default: str | int | float | bool | None = None
    choices: list[str | int] | None = None
    min: float | None = None
    max: float | None = None
    object: str | None = Field(None, description="The value is the key of an object of this type; it must exist.")
    of: str | None = Field(
        None,
        description="Read, not typed: `param.property` or `param.link.property` of the object another "
        "parameter names (e.g. order_id.customer.tier), or `sum(param.link.property)` over the objects "
        "linking to it (e.g. sum(order_id.lines.net_amount), narrowed by `match`), as the proposer; a value "
        "given must match. Facts an approval rule depends on should be read this way, so that no proposer "
        "can pick their own rule.",
    )
    match: dict[str, str] = Field(
        default_factory=dict,
        description="With `of: sum(...)`: property of the linked objects -> the parameter it must equal, "
        "e.g. {production_line_id: from_line} (the order's part made on that line).",
    )
    override: bool = Field(
        False,
        description="With `of:`: a value given replaces the one read (the data fills it only when left out). "
        "Never for a fact an approval rule rests on.",
    )
    expr: SqlExpression | None = Field(
        None,
        description="Computed when not given, from other parameters: `+` and `-` over numbers and dates "
        "(a date plus days, a date minus a date in days), e.g. `due_date + delay_days`.",
    )

    def fact_path(self) -> tuple[bool, str, list[str]]:
        """An `of:` path as (summed, the parameter it starts from, the steps after it):
        `sum(order_id.lines.qty)` is (True, "order_id", ["lines", "qty"])."""
        assert self.of is not None
        summed = SUM.fullmatch(self.of)
        source, *rest = (summed.group(1) if summed else self.of).split(".")
        return summed is not None, source, rest

    def fact_source(self) -> str | None:
        """The parameter an `of:` path starts from (`order_id` of `sum(order_id.lines.qty)`)."""
        return self.fact_path()[1] if self.of else None


class Check(Spec):
    """A condition over the parameters that a proposal must meet (SQL expression syntax)."""

    check: SqlExpression = Field(description="e.g. `qty > 0`, `to_line <> from_line`.")
    message: str = ""


class Who(Spec):
    """Users and roles (any of them)."""

    roles: list[str] = Field(default_factory=list)
    users: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _someone(self) -> Who:
        if not self.roles and not self.users:
            raise ValueError("name at least one role or user")
        return self


class Approver(Spec):
    """One approval a rule needs: a role (or user), optionally with attributes tied to the parameters."""

    role: str | None = None
    user: str | None = None
    attributes: dict[str, str] = Field(
        default_factory=dict, description='The approver\'s attributes must equal these: {site: "{from_site}"}.'
    )

    @model_validator(mode="after")
    def _someone(self) -> Approver:
        if (self.role is None) == (self.user is None):
            raise ValueError("an approver is either a `role` or a `user`")
        return self

    def describe(self) -> str:
        who = f"role {self.role}" if self.role else f"user {self.user}"
        return who + "".join(f" with {k} = {v}" for k, v in self.attributes.items())


class ApprovalRule(Spec):
    """Who must approve when `when` holds: everyone in `all_of` (distinct people), or anyone in `any_of`."""

    when: SqlExpression | None = Field(None, description="A condition over the parameters, e.g. `value > 100000`.")
    all_of: list[Approver] = Field(default_factory=list)
    any_of: list[Approver] = Field(default_factory=list)

    @model_validator(mode="after")
    def _someone(self) -> ApprovalRule:
        if not self.all_of and not self.any_of:
            raise ValueError("an approval rule needs `all_of` or `any_of`")
        return self


class Approval(Spec):
    rules: list[ApprovalRule] = Field(min_length=1, description="The first rule whose `when` holds applies.")
    self_approval: bool = Field(False, description="May the submitter's own approval count?")


class WriteEffect(Spec):
    """Write the decision as a row of `writeback.<table>` (one row per key; rollback restores the previous)."""

    type: Literal["write"]
    table: Annotated[str, Field(pattern=NAME)]
    key: list[str] = Field(min_length=1, description="Parameters that identify the row.")
    columns: dict[str, str] = Field(
        default_factory=dict, description="Column -> template; default: every parameter under its own name."
    )
    # the rows are decision objects of the company model (ontology/decisions.py)
    object: Annotated[str, Field(pattern=r"^[A-Z][A-Za-z0-9]*$")] | None = Field(
        None, description="Their object type; default from the table: order_promises -> OrderPromise."
    )
    reverse: Annotated[str, Field(pattern=NAME)] | None = Field(
        None,
        description="The link back to them from each object a parameter names; default: the table "
        "(+ _<parameter> where two parameters name the same type).",
    )
    tags: dict[str, list[str]] = Field(
        default_factory=dict, description="Column -> tags (value: [financial]), on top of those it inherits."
    )


class HttpCall(Spec):
    url: str = Field(description='Template: "http://erp.local/orders/{order_id}". Host must be in egress.allow.')
    method: Literal["POST", "PUT", "PATCH", "DELETE"] = "POST"
    body: dict[str, Any] | None = Field(None, description="JSON body; string values are templates.")

    @field_validator("url")
    @classmethod
    def _http(cls, url: str) -> str:
        if not re.match(r"^https?://", url):
            raise ValueError("a webhook URL starts with http:// or https://")
        if any(c in urlsplit(url).netloc for c in "{}@"):
            raise ValueError("the host of a webhook URL is fixed: no {templates} or user@ before the path")
        return url


class WebhookEffect(HttpCall):
    """Call the source system; `rollback` is the call that undoes it (made if a later step fails)."""

    type: Literal["webhook"]
    rollback: HttpCall | None = None
    timeout_seconds: float = Field(10.0, gt=0, le=120)


class NotifyEffect(Spec):
    """Tell people once the action is applied: a message (templates) to alert channels. It is written to the
    brain's outbox with the action, in the same transaction (a failed action tells no one), and delivered
    by the alert engine: right after an approval from the CLI or the service, or by `brain alerts check`."""

    type: Literal["notify"]
    title: str = Field(description='Template, e.g. "Order {order_id} delayed to {new_date}".')
    message: str = Field(description="Template of the message body.")
    channels: list[str] = Field(min_length=1, description="Apprise URLs; their hosts must be in egress.allow.")


Effect = Annotated[WriteEffect | WebhookEffect | NotifyEffect, Field(discriminator="type")]


class ActionType(Spec):
    """One action type under actions/."""

    description: str = ""
    use_case: str = Field("manual", description="What the value ledger files it under (replan, pricing, ...).")
    from_replan: Literal["move", "delay", "prioritise", "expedite"] | None = Field(
        None, description="Made from this kind of replan action (`brain replan --propose`), fields by name."
    )
    from_scenario: bool = Field(
        False,
        description="Made from a scenario run (`brain scenario run NAME --propose`): parameters `scenario`, "
        "`period` and, per KPI, `<kpi>_baseline`, `<kpi>_scenario`, `<kpi>_diff`, by name: computed from "
        "the scenario as the proposer (a value typed must be the same).",
    )
    parameters: dict[Annotated[str, Field(pattern=NAME)], Parameter] = Field(min_length=1)
    checks: list[Check] = Field(default_factory=list, description="Conditions a proposal must meet.")
    submit: Who
    approval: Approval
    rollback_by: Who | None = Field(None, description="Who may roll it back (default: anyone who may approve it).")
    effects: list[Effect] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_source(self) -> ActionType:
        if self.from_replan and self.from_scenario:
            raise ValueError("an action type is made from a replan or from a scenario, not both")
        return self


class ActionsFile(Spec):
    """One file under actions/."""

    actions: dict[Annotated[str, Field(pattern=NAME)], ActionType] = Field(default_factory=dict)


def template_names(value: Any) -> set[str]:
    """The {names} a template (or a JSON body of templates) uses."""
    if isinstance(value, dict):
        return {n for v in value.values() for n in template_names(v)}
    if isinstance(value, list):
        return {n for v in value for n in template_names(v)}
    if isinstance(value, str):
        return {f for _, f, _, _ in string.Formatter().parse(value) if f}
    return set()


def cross_check(project: Project) -> list[tuple[Location, str]]:
    """Names an action type uses must exist: roles, users, object types, properties, parameters, hosts."""
    problems: list[tuple[Location, str]] = []
    for name, action in getattr(project, "actions", {}).items():
        problems += _check_type(project, name, action)
    return problems


def _fact_path(project: Project, action: ActionType, pname: str) -> list[str]:
    """`param.property`, `param.link.property` (a many-to-one link), or `sum(param.reverse.property)` over
    the objects whose many-to-one link has that reverse name, where `param` names an object."""
    spec = action.parameters[pname]
    summed, source, rest = spec.fact_path()
    given = action.parameters.get(source)
    shape = "PARAM.property, PARAM.link.property or sum(PARAM.link.property)"
    if given is None or not given.object or given.object not in project.objects or len(rest) not in (1, 2):
        return [f"of: {spec.of!r} must be {shape}, PARAM a parameter with object:"]
    if given.of:
        return [f"of: {spec.of!r} starts from {source!r}, which is itself read (`of:`); start from a typed one"]
    if summed and len(rest) != 2:
        return [f"of: {spec.of!r}: a sum runs over a link, sum(PARAM.link.property)"]
    if spec.match and not summed:
        return ["match: narrows a sum(...); this `of:` reads one value"]
    obj = project.objects[given.object]
    if summed:
        linking = [(n, o) for n, o in project.objects.items() for ln in o.links.values()
                   if ln.to == given.object and ln.via and ln.reverse == rest[0]]  # fmt: skip
        if not linking:
            reverse = sorted(ln.reverse for o in project.objects.values() for ln in o.links.values()
                             if ln.to == given.object and ln.via and ln.reverse)  # fmt: skip
            return [f"of: {given.object} has no one-to-many link {rest[0]!r}; {did_you_mean(rest[0], reverse)}"]
        obj = linking[0][1]
        problems = [f"match: {_unknown('property', k, obj.properties)}" for k in spec.match if k not in obj.properties]
        for k, other in spec.match.items():
            if other not in action.parameters:
                problems.append(f"match: {k}: {_unknown('parameter', other, action.parameters)}")
            elif action.parameters[other].of:
                problems.append(f"match: {k}: {other!r} is itself read (`of:`); match a typed parameter")
        if rest[1] not in obj.properties:
            problems.append(f"of: {_unknown('property', rest[1], obj.properties)}")
        return problems
    if len(rest) == 2:
        link = obj.links.get(rest[0])
        if link is None or link.via is None or link.to not in project.objects:
            many_to_one = [k for k, v in obj.links.items() if v.via]
            return [f"of: {given.object} has no many-to-one link {rest[0]!r}; {did_you_mean(rest[0], many_to_one)}"]
        obj = project.objects[link.to]
    if rest[-1] not in obj.properties:
        return [f"of: {_unknown('property', rest[-1], obj.properties)}"]
    return []


def _unknown(what: str, name: str, known: Any) -> str:
    return f"unknown {what} {name!r}; {did_you_mean(name, known)}"


def _check_type(project: Project, name: str, action: ActionType) -> list[tuple[Location, str]]:
    def at(*path: str | int) -> Location:
        return project.locate("actions", name, *path)

    problems: list[tuple[Location, str]] = []
    params = set(action.parameters)
    known = params | BUILTINS
    scenario = action.parameters.get("scenario")
    if action.from_scenario and (
        scenario is None or scenario.type != "string" or not scenario.required or scenario.default is not None
    ):
        need = "a required `scenario` parameter of type string, no default (the scenario it adopts; its KPIs fill"
        problems.append((at("from_scenario"), f"from_scenario: true needs {need} the others, never typed)"))
    for pname, p in action.parameters.items():
        if p.object and p.object not in project.objects:
            problems.append((at("parameters", pname, "object"), _unknown("object type", p.object, project.objects)))
        if p.of:
            problems += [(at("parameters", pname, "of"), msg) for msg in _fact_path(project, action, pname)]
        elif p.match or p.override:
            problems.append((at("parameters", pname), "match: and override: go with of:"))
        if p.expr:
            for column in parse_expression(p.expr).find_all(exp.Column):
                if column.name not in params or column.name == pname:
                    problems.append(
                        (at("parameters", pname, "expr"), _unknown("parameter", column.name, params - {pname}))
                    )
    expressions: list[tuple[tuple[str | int, ...], str]] = [
        (("checks", i), c.check) for i, c in enumerate(action.checks)
    ]
    rules = enumerate(action.approval.rules)
    expressions += [(("approval", "rules", i, "when"), r.when) for i, r in rules if r.when]
    for path, text in expressions:
        for column in parse_expression(text).find_all(exp.Column):
            if column.name not in params:
                problems.append((at(*path), _unknown("parameter", column.name, params)))
            elif path[0] == "approval" and action.parameters[column.name].override:
                problems.append(
                    (
                        at(*path),
                        f"the rule rests on {column.name!r}, which a proposer may type (override: true) and so "
                        "choose the rule; base it on a parameter read from the data (of: without override)",
                    )
                )
    whos = [("submit", action.submit)] + ([("rollback_by", action.rollback_by)] if action.rollback_by else [])
    for key, who in whos:
        problems += _who(project, at(key), who.roles, who.users)
    for i, rule in enumerate(action.approval.rules):
        for group in ("all_of", "any_of"):
            for j, approver in enumerate(getattr(rule, group)):
                loc = at("approval", "rules", i, group, j)
                roles, users = [approver.role] if approver.role else [], [approver.user] if approver.user else []
                problems += _who(project, loc, roles, users)
                problems += [
                    (loc, _unknown("parameter", u, params)) for u in template_names(approver.attributes) - known
                ]
    allow = set(project.spec.egress.allow)
    for i, effect in enumerate(action.effects):
        templates: list[Any] = []
        if isinstance(effect, WriteEffect):  # its key was checked with its decision type (project_checks)
            templates = list(effect.columns.values())
        elif isinstance(effect, NotifyEffect):
            templates = [effect.title, effect.message]  # channel hosts are checked when delivered
        else:
            calls = [effect] + ([effect.rollback] if effect.rollback else [])
            templates = [part for c in calls for part in (c.url, c.body)]
            for host in sorted({url_host(c.url) for c in calls if not host_allowed(url_host(c.url), allow)}):
                msg = f"webhook host={host!r} is not in brain.yaml egress.allow ({', '.join(sorted(allow)) or 'empty'})"
                problems.append((at("effects", i, "url"), msg))
        problems += [(at("effects", i), _unknown("parameter", u, params)) for u in template_names(templates) - known]
    if action.from_replan:
        fields = REPLAN_FIELDS[action.from_replan]
        for pname, p in action.parameters.items():
            if p.required and p.default is None and not p.of and not p.expr and pname not in fields:
                msg = f"replan {action.from_replan!r} actions carry no {pname!r}; {did_you_mean(pname, fields)}"
                problems.append((at("parameters", pname), msg))
    return problems


def _who(project: Project, loc: Location, roles: list[str], users: list[str]) -> list[tuple[Location, str]]:
    out = []
    for role in roles:
        if role not in project.roles:
            out.append((loc, f"unknown role {role!r}; {did_you_mean(role, project.roles)}"))
    for user in users:
        if user not in project.users:
            out.append((loc, f"unknown user {user!r}; {did_you_mean(user, project.users)}"))
    return out


def url_host(url: str) -> str:
    """The host a webhook URL calls, as the HTTP client will parse it."""
    return (urlsplit(url).hostname or "").lower()
