"""Reaching linked objects from a base object: many-to-one link paths become joins.

Only many-to-one links are followed, so a join never multiplies the base rows: this is what
keeps a metric from double counting when it is broken down by a linked object's property.
`Type.property` names the one chain of links that reaches Type; where several do, none is
chosen for the user (`one_chain` lists them).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlglot import exp

from companybrain.errors import QueryError, did_you_mean
from companybrain.ontology.model import object_table
from companybrain.specs.ontology import ObjectType
from companybrain.warehouse.ddl import col

LinkPath = tuple[str, ...]
MAX_LINKS = 12  # a chain longer than this is not a question anyone asks (references.MAX_PARTS)


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
                    hint=f"put the metric on the other object type instead ({reverse[0].split('.')[0]}), "
                    f"or test for a linked object with exists({link_name}, <condition>) in a metric's where",
                )
            raise QueryError(f"{current} has no link {link_name!r}; {did_you_mean(link_name, obj.links)}")
        if not link.columns:
            raise QueryError(
                f"{current}.{link_name} is many-to-many: it cannot be followed in a metric or dimension",
                hint=f"test for a linked object with exists({link_name}, <condition>) in a metric's where",
            )
        current = link.to
    return current


class Unreachable(QueryError):
    """No chain of many-to-one links leads from one object type to the other."""


class AmbiguousPath(QueryError):
    """Several chains of many-to-one links lead from one object type to another: which one is meant?"""

    def __init__(self, message: str, *, candidates: list[LinkPath], hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.candidates = candidates


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
            if not link.columns:
                continue
            step = (*path, name)
            if link.to == target:
                found.append(step)
            elif link.to not in seen or seen[link.to] >= len(step):
                seen[link.to] = len(step)
                queue.append((link.to, step))
    if not found:
        raise _unreachable(base, target)
    return sorted(set(found))


def chains(
    objects: dict[str, ObjectType], base: str, target: str, declared: dict[str, LinkPath] | None = None
) -> list[LinkPath]:
    """Every chain of many-to-one links from `base` to `target` that passes through no type twice,
    shortest first (raises Unreachable). From a type in `declared` (a named dimension's `paths:`)
    only its declared path is followed; a link marked `default` is the only way from its type to
    the link's target (a chain reaching that target from there another way is none)."""
    declared = declared or {}
    if base in declared:
        return [declared[base]]
    if base == target:
        return [()]
    found: set[LinkPath] = set()

    def walk(path: LinkPath, types: tuple[str, ...]) -> None:
        for name, link in objects[types[-1]].links.items():
            if not link.columns or link.to in types:
                continue
            step = (*path, name)
            if not _default_way(objects, step, types, link.to):
                continue
            if link.to == target:
                found.add(step)
            elif link.to in declared:
                found.add((*step, *declared[link.to]))
            elif len(step) < MAX_LINKS:
                walk(step, (*types, link.to))

    walk((), (base,))
    if not found:
        raise _unreachable(base, target)
    return sorted(found, key=lambda p: (len(p), p))


def _default_way(objects: dict[str, ObjectType], step: LinkPath, types: tuple[str, ...], reached: str) -> bool:
    """Whether a chain (`step`, through `types`) reaches `reached` the way every type it passed through
    declares as its default to that type, if one does."""
    for i, passed in enumerate(types):
        default = next((n for n, lk in objects[passed].links.items() if lk.default and lk.to == reached), None)
        if default is not None and step[i:] != (default,):
            return False
    return True


def one_chain(
    objects: dict[str, ObjectType],
    base: str,
    target: str,
    declared: dict[str, LinkPath] | None = None,
    tail: LinkPath = (),
) -> LinkPath:
    """The one chain of many-to-one links from `base` to `target`; when several lead there, none is
    chosen: AmbiguousPath lists them (each followed by `tail`, the rest of the reference)."""
    found = chains(objects, base, target, declared)
    if len(found) == 1:
        return found[0]
    shown = [".".join((*p, *tail)) for p in found]
    listed = ", ".join(shown[:-1]) + " or " + shown[-1]
    raise AmbiguousPath(
        f"{base} reaches {target} in {len(found)} ways, so {'.'.join((target, *tail))} could mean {listed}",
        candidates=found,
        hint=f"name the one you mean, e.g. {shown[0]}",
    )


def _unreachable(base: str, target: str) -> Unreachable:
    return Unreachable(
        f"{target} cannot be reached from {base} through many-to-one links",
        hint=f"choose a dimension that {base} links to, or a metric on {target}",
    )


@dataclass
class JoinPlan:
    """The FROM clause for one base object: its table plus one join per link path used.

    A plan made for a semi-join (`exists(link, condition)`) is `nested` in the plan it tests from,
    with aliases of its own; `restrict` gives the conditions (the reader's row filters) that every
    plan of a governed read must hold, nested ones included."""

    objects: dict[str, ObjectType]
    base: str
    aliases: dict[LinkPath, str] = field(default_factory=dict)
    # object type -> what to read instead of its table (a scenario's overlay over the baseline)
    sources: dict[str, exp.Query] = field(default_factory=dict)
    prefix: str = "t"
    restrict: Callable[[JoinPlan], list[exp.Expr]] | None = None
    nested: list[JoinPlan] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.aliases[()] = f"{self.prefix}0"

    def alias(self, path: LinkPath) -> str:
        """The table alias for a link path, adding the joins it needs."""
        for end in range(1, len(path) + 1):
            prefix = path[:end]
            if prefix not in self.aliases:
                type_at(self.objects, self.base, prefix)  # validates the step
                self.aliases[prefix] = f"{self.prefix}{len(self.aliases)}"
        return self.aliases[path]

    def column(self, path: LinkPath, prop: str) -> exp.Column:
        target = type_at(self.objects, self.base, path)
        if prop not in self.objects[target].properties:
            raise QueryError(
                f"{target} has no property {prop!r}; {did_you_mean(prop, self.objects[target].properties)}"
            )
        return col(prop, self.alias(path))

    def nest(self, base: str) -> JoinPlan:
        """A plan for a semi-join from this one, over `base`, with aliases of its own."""
        plan = JoinPlan(self.objects, base, sources=self.sources, prefix=f"{self.prefix}_{len(self.nested)}_")
        plan.restrict = self.restrict
        self.nested.append(plan)
        return plan

    def from_clause(self, select: exp.Select) -> exp.Select:
        select = select.from_(self.source(self.base, self.aliases[()]))
        for path, alias in sorted(self.aliases.items(), key=lambda kv: len(kv[0])):
            if not path:
                continue
            parent_type = type_at(self.objects, self.base, path[:-1])
            link = self.objects[parent_type].links[path[-1]]
            parent = self.aliases[path[:-1]]
            on = exp.and_(
                *[col(mine, parent).eq(col(theirs, alias)) for mine, theirs in link.pairs(self.objects[link.to])]
            )
            # an inner join drops no row only when every step to here is a required link
            join_type = "inner" if self._required(path) else "left"
            select = select.join(self.source(link.to, alias), on=on, join_type=join_type)
        return select

    def source(self, type_name: str, alias: str) -> exp.Expr:
        """What a type's objects are read from in this plan (its table, or a scenario's overlay), as `alias`."""
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
        """Every object type the plan reads, its semi-joins' included."""
        found = {type_at(self.objects, self.base, p) for p in self.aliases}
        for plan in self.nested:
            found |= plan.types_used()
        return found

    def reads(self) -> dict[str, tuple[JoinPlan, LinkPath]]:
        """alias -> (plan, link path) of every table the plan and its semi-joins read."""
        found = {alias: (self, path) for path, alias in self.aliases.items()}
        for plan in self.nested:
            found.update(plan.reads())
        return found


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
