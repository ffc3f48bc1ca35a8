"""Approval rules of an action type, applied to one action's parameters and the approvals it has.

The first rule whose `when` holds applies. It is complete when one approval matches any approver of
`any_of`, or when every approver of `all_of` is matched by a different person. An approver matches a
user by name or role, and by attributes tied to the parameters (`site: "{from_site}"`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlglot import exp

from companybrain.decisions.effects import evaluate, render
from companybrain.errors import PolicyDenied, QueryError
from companybrain.specs.actions import ActionType, ApprovalRule, Approver
from companybrain.specs.ontology import parse_expression

if TYPE_CHECKING:
    from companybrain.governance.principal import Principal
    from companybrain.project import Project

Person = tuple[str, list[str], dict[str, str]]  # user, roles, attributes


def rule_for(spec: ActionType, params: dict[str, Any]) -> ApprovalRule:
    """The approval rule that applies to these parameters: the first whose `when` holds. A `when` that
    uses a parameter with no value cannot be decided: refused, never passed on to a lighter rule."""
    for rule in spec.approval.rules:
        if rule.when is None:
            return rule
        node = parse_expression(rule.when)
        tested = {c.name for test in node.find_all(exp.Is) for c in test.find_all(exp.Column)}  # `x IS NULL`
        known = {k for k, v in params.items() if v is not None}
        unknown = sorted({c.name for c in node.find_all(exp.Column)} - tested - known)
        if unknown:
            raise QueryError(
                f"the approval rule `when: {rule.when}` cannot be decided: {', '.join(unknown)} has no value",
                hint=f"give {', '.join(unknown)}, or leave it to the data (of:) where the action type reads it",
            )
        if evaluate(rule.when, params) is True:
            return rule
    raise PolicyDenied("no approval rule of this action type applies to these parameters", policy="approval")


def describe(rule: ApprovalRule) -> str:
    parts = []
    if rule.all_of:
        parts.append("all of: " + "; ".join(a.describe() for a in rule.all_of))
    if rule.any_of:
        parts.append("any of: " + "; ".join(a.describe() for a in rule.any_of))
    return (f"when {rule.when}: " if rule.when else "otherwise: ") + " - or - ".join(parts)


def matches(approver: Approver, person: Person, params: dict[str, Any]) -> bool:
    user, roles, attrs = person
    if approver.user is not None and approver.user != user:
        return False
    if approver.role is not None and approver.role not in roles:
        return False
    return all(str(attrs.get(k)) == str(render(v, params)) for k, v in approver.attributes.items())


def people(project: Project, approvals: list[dict[str, Any]]) -> list[Person]:
    """The approvers so far, with their attributes as the project declares them now."""
    out = []
    for a in approvals:
        spec = project.users.get(a["user"])
        out.append((a["user"], list(a["roles"]), dict(spec.attributes) if spec else {}))
    return out


def missing(rule: ApprovalRule, approvers: list[Person], params: dict[str, Any]) -> tuple[bool, list[Approver]]:
    """Whether the approvals complete the rule, and the all_of approvers still missing."""
    if any(matches(ap, p, params) for ap in rule.any_of for p in approvers):
        return True, []
    left, used = [], set()
    for ap in rule.all_of:
        who = next((p for p in approvers if p[0] not in used and matches(ap, p, params)), None)
        if who is None:
            left.append(ap)
        else:
            used.add(who[0])
    return bool(rule.all_of) and not left, left


def counts(rule: ApprovalRule, approvers: list[Person], principal: Principal, params: dict[str, Any]) -> bool:
    """The principal's approval meets an any_of approver or a still-missing all_of one."""
    me: Person = (principal.user, list(principal.roles), dict(principal.attributes))
    _, left = missing(rule, approvers, params)
    return any(matches(ap, me, params) for ap in [*rule.any_of, *left])


def could_approve(rule: ApprovalRule, principal: Principal, params: dict[str, Any]) -> bool:
    me: Person = (principal.user, list(principal.roles), dict(principal.attributes))
    return principal.unrestricted or any(matches(ap, me, params) for ap in [*rule.any_of, *rule.all_of])


def is_one_of(principal: Principal, roles: list[str], users: list[str]) -> bool:
    return principal.unrestricted or principal.user in users or bool(set(principal.roles) & set(roles))


def people_who(project: Project, approver: Approver, params: dict[str, Any], exclude: set[str]) -> list[str]:
    """The project's users (but `exclude`) that this approver names for these parameters."""
    return sorted(
        name
        for name, spec in project.users.items()
        if name not in exclude and matches(approver, (name, list(spec.roles), dict(spec.attributes)), params)
    )


def who_may_approve(
    project: Project, rule: ApprovalRule, params: dict[str, Any], approvals: list[dict[str, Any]], exclude: set[str]
) -> list[list[str]]:
    """The ways the rule can still be completed by the project's users (but `exclude`, e.g. the proposer): each
    way a list of users who together complete it - one user for an `any_of`, one per missing `all_of`
    approver. Empty: nobody can (it waits for ever unless rejected)."""
    done = {a["user"] for a in approvals}
    ways: list[list[str]] = [[u] for ap in rule.any_of for u in people_who(project, ap, params, exclude | done)]
    _, left = missing(rule, people(project, approvals), params)
    if rule.all_of and left:
        chosen: list[str] = []
        for ap in left:  # one distinct person per approver still missing (the first who fits)
            who = next((u for u in people_who(project, ap, params, exclude | done) if u not in chosen), None)
            if who is None:
                break
            chosen.append(who)
        else:
            ways.append(chosen)
    unique: dict[tuple[str, ...], list[str]] = {}
    for way in ways:
        unique.setdefault(tuple(sorted(way)), sorted(way))
    return list(unique.values())
