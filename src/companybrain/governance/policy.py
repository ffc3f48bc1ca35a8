"""What a principal may read: object types, metrics, rows (filters) and properties (masking).

HR data is denied by default: an object type tagged `hr` is readable only by a role that names
it; `objects: "*"` does not include it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlglot import exp

from companybrain.errors import PolicyDenied
from companybrain.governance.principal import Principal
from companybrain.specs.ontology import parse_expression
from companybrain.specs.policies import Role
from companybrain.warehouse.ddl import literal

if TYPE_CHECKING:
    from companybrain.project import Project

MASK = "***"


@dataclass
class Policy:
    """The policies of a project applied to one principal."""

    project: Project
    principal: Principal

    @property
    def _roles(self) -> list[tuple[str, Role]]:
        return [(name, self.project.roles[name]) for name in self.principal.roles if name in self.project.roles]

    def _who(self) -> str:
        roles = ", ".join(self.principal.roles) or "none"
        return f"user {self.principal.user!r} (roles: {roles})"

    def can_read_object(self, type_name: str) -> bool:
        if self.principal.unrestricted:
            return True
        hr = "hr" in self.project.objects[type_name].tags
        for _, role in self._roles:
            if type_name in role.deny_objects:
                continue
            if (_wildcard(role.objects) and not hr) or type_name in role.objects:
                return True
        return False

    def require_object(self, type_name: str, why: str = "") -> None:
        if not self.can_read_object(type_name):
            hr = "hr" in self.project.objects[type_name].tags
            rule = "HR data is readable only by roles that name it (default deny)" if hr else "no role grants it"
            raise PolicyDenied(
                f"{self._who()} may not read {type_name}{why}: {rule}",
                policy="default-hr-deny" if hr else "object-access",
            )

    def require_metric(self, name: str, base_objects: list[str], tags: set[str] | frozenset[str] = frozenset()) -> None:
        """Deny unless a role grants the metric; one that reads HR-tagged data must be named, not `*`."""
        if self.principal.unrestricted:
            return
        hr = "hr" in tags
        allowed = False
        for _, role in self._roles:
            if name in role.deny_metrics:
                continue
            if (_wildcard(role.metrics) and not hr) or name in role.metrics:
                allowed = True
        if not allowed and hr:
            raise PolicyDenied(
                f"{self._who()} may not read the metric {name!r}: it reads HR data, "
                "and HR data is readable only by roles that name it (default deny)",
                policy="default-hr-deny",
            )
        if not allowed:
            raise PolicyDenied(
                f"{self._who()} may not read the metric {name!r}: no role grants it", policy="metric-access"
            )
        for type_name in base_objects:
            self.require_object(type_name, f" (metric {name!r} is computed from it)")

    def row_filter(self, type_name: str) -> exp.Expr | None:
        """The rows of a type the principal may see, as a condition over its properties (None: all).

        Rights add up across roles: a role that grants the type without a filter sees every row.
        """
        if self.principal.unrestricted:
            return None
        conditions: list[exp.Expr] = []
        for role_name, role in self._roles:
            rules = [r for r in role.row_filters if r.object == type_name]
            if not rules:
                if type_name in role.objects or (
                    _wildcard(role.objects) and "hr" not in self.project.objects[type_name].tags
                ):
                    return None
                continue
            conditions.append(exp.and_(*[self._bind(rule.where, role_name) for rule in rules]))
        return exp.or_(*conditions) if conditions else None

    def unlinked_visible(self, type_name: str) -> bool:
        """Whether a row that links to no object of the type passes its row filter: only when every role
        that filters the type says so (`unlinked: visible`)."""
        rules = [r for _, role in self._roles for r in role.row_filters if r.object == type_name]
        return bool(rules) and all(r.unlinked == "visible" for r in rules)

    def _bind(self, text: str, role: str) -> exp.Expr:
        """Replace principal.<attribute> with the principal's value."""

        def bind(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.Column) and node.table == "principal":
                value = self.principal.attributes.get(node.name)
                if value is None:
                    raise PolicyDenied(
                        f"{self._who()} has no attribute {node.name!r}, which the row filter of role {role!r} needs",
                        policy=f"row-filter:{role}",
                    )
                return literal(value)
            return node

        return parse_expression(text).transform(bind)

    def masked(self, type_name: str, prop: str) -> bool:
        """True when the property carries a tag none of the principal's roles may unmask."""
        if self.principal.unrestricted:
            return False
        tags = set(self.project.objects[type_name].properties[prop].tags)
        if not tags:
            return False
        return not tags <= self.unmasked_tags()

    def unmasked_tags(self) -> set[str]:
        """The property tags some role of the principal may see unmasked."""
        return {t for _, role in self._roles for t in role.unmask}

    def describe(self) -> dict[str, object]:
        return {**self.principal.as_dict(), "unrestricted": self.principal.unrestricted}


def _wildcard(listed: list[str] | str) -> bool:
    """`*`, or a list holding `*`: everything not tagged hr."""
    return listed == "*" or "*" in listed
