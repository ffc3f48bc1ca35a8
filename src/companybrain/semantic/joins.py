"""Reaching linked objects from a base object: many-to-one link paths become LEFT JOINs.

Only many-to-one links are followed, so a join never multiplies the base rows: this is what
keeps a metric from double counting when it is broken down by a linked object's property.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from sqlglot import exp

from companybrain.errors import QueryError, did_you_mean
from companybrain.ontology.model import object_table
from companybrain.specs.ontology import ObjectType
from companybrain.warehouse.ddl import col

LinkPath = tuple[str, ...]


def type_at(objects: dict[str, ObjectType], base: str, path: LinkPath) -> str:
    """The object type reached by following `path` (link names) from `base`."""
    current = base
    for link_name in path:
        obj = objects[current]
        link = obj.links.get(link_name)
        if link is None:
            reverse = [
                f"{o}.{n}"
                for o, t in objects.items()
                for n, lk in t.links.items()
                if lk.to == current and lk.reverse == link_name
            ]
            if reverse:
                raise QueryError(
                    f"{current}.{link_name} is one-to-many: following it would count {current} rows many times",
                    hint=f"put the metric on the other object type instead ({reverse[0].split('.')[0]})",
                )
            raise QueryError(f"{current} has no link {link_name!r}; {did_you_mean(link_name, obj.links)}")
        if link.via is None:
            raise QueryError(f"{current}.{link_name} is many-to-many: it cannot be followed in a metric or dimension")
        current = link.to
    return current


class Unreachable(QueryError):
    """No chain of many-to-one links leads from one object type to the other."""


def shortest_paths(objects: dict[str, ObjectType], base: str, target: str) -> list[LinkPath]:
    """Every shortest chain of many-to-one links from `base` to `target` (raises Unreachable)."""
    if base == target:
        return [()]
    found: list[LinkPath] = []
    seen = {base: 0}
    queue: deque[tuple[str, LinkPath]] = deque([(base, ())])
    while queue:
        current, path = queue.popleft()
        if found and len(path) >= len(found[0]):
            break
        for name, link in objects[current].links.items():
            if link.via is None:
                continue
            step = (*path, name)
            if link.to == target:
                found.append(step)
            elif link.to not in seen or seen[link.to] >= len(step):
                seen[link.to] = len(step)
                queue.append((link.to, step))
    if not found:
        raise Unreachable(
            f"{target} cannot be reached from {base} through many-to-one links",
            hint=f"choose a dimension that {base} links to, or a metric on {target}",
        )
    return sorted(set(found))


def shortest_path(objects: dict[str, ObjectType], base: str, target: str) -> LinkPath:
    """The one shortest chain of many-to-one links from `base` to `target` (error if none or several)."""
    found = shortest_paths(objects, base, target)
    if len(found) > 1:
        options = " or ".join(".".join(p) for p in found)
        raise QueryError(
            f"{base} reaches {target} in more than one way ({options})",
            hint=f"name the link path instead, e.g. {'.'.join(found[0])}.<property>",
        )
    return found[0]


@dataclass
class JoinPlan:
    """The FROM clause for one base object: its table plus one LEFT JOIN per link path used."""

    objects: dict[str, ObjectType]
    base: str
    aliases: dict[LinkPath, str] = field(default_factory=dict)
    # object type -> what to read instead of its table (a scenario's overlay over the baseline)
    sources: dict[str, exp.Query] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.aliases[()] = "t0"

    def alias(self, path: LinkPath) -> str:
        """The table alias for a link path, adding the joins it needs."""
        for end in range(1, len(path) + 1):
            prefix = path[:end]
            if prefix not in self.aliases:
                type_at(self.objects, self.base, prefix)  # validates the step
                self.aliases[prefix] = f"t{len(self.aliases)}"
        return self.aliases[path]

    def column(self, path: LinkPath, prop: str) -> exp.Column:
        target = type_at(self.objects, self.base, path)
        if prop not in self.objects[target].properties:
            raise QueryError(
                f"{target} has no property {prop!r}; {did_you_mean(prop, self.objects[target].properties)}"
            )
        return col(prop, self.alias(path))

    def from_clause(self, select: exp.Select) -> exp.Select:
        select = select.from_(self._source(self.base, "t0"))
        for path, alias in sorted(self.aliases.items(), key=lambda kv: len(kv[0])):
            if not path:
                continue
            parent_type = type_at(self.objects, self.base, path[:-1])
            link = self.objects[parent_type].links[path[-1]]
            target = self.objects[link.to]
            assert link.via is not None
            on = col(link.via, self.aliases[path[:-1]]).eq(col(target.key, alias))
            # an inner join drops no row only when every step to here is a required link
            join_type = "inner" if self._required(path) else "left"
            select = select.join(self._source(link.to, alias), on=on, join_type=join_type)
        return select

    def _source(self, type_name: str, alias: str) -> exp.Expr:
        query = self.sources.get(type_name)
        if query is None:
            return object_table(type_name).as_(alias, quoted=True)
        return query.copy().subquery(exp.to_identifier(alias, quoted=True))

    def _required(self, path: LinkPath) -> bool:
        current = self.base
        for name in path:
            link = self.objects[current].links[name]
            if not link.required:
                return False
            current = link.to
        return True

    def types_used(self) -> set[str]:
        return {type_at(self.objects, self.base, p) for p in self.aliases}


def overlay_schema(scenario: str) -> str:
    """The warehouse schema holding a scenario's overlay tables (one per changed object type)."""
    return f"scenario__{scenario}"


def overlay_source(obj: ObjectType, base: exp.Table, overlay: exp.Table) -> exp.Query:
    """The objects of a type as a scenario sees them: its overlay rows, then the base rows it does not replace."""
    columns = list(obj.properties)
    # NOT EXISTS, not NOT IN: every engine plans it as an anti join
    replaced = exp.select(exp.Literal.number(1)).from_(overlay.as_("o")).where(col(obj.key, "o").eq(col(obj.key, "b")))
    kept = exp.select(*[col(c, "b") for c in columns]).from_(base.as_("b")).where(exp.not_(exp.Exists(this=replaced)))
    return exp.union(exp.select(*[col(c) for c in columns]).from_(overlay), kept, distinct=False)
