"""Data contracts on materialized objects: unique, not null, accepted values, links, freshness, counts."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlglot import exp

from companybrain.ontology.model import link_table, object_table
from companybrain.specs.ontology import Contract, ObjectType
from companybrain.warehouse.base import Warehouse
from companybrain.warehouse.ddl import col, count_rows, literal

SAMPLE = 5


@dataclass
class ContractResult:
    object: str
    contract: str
    target: str
    severity: str
    passed: bool
    violations: int
    detail: str
    sample: list[Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def contracts_of(obj: ObjectType) -> list[Contract]:
    """The declared contracts plus the implicit ones: the key is unique and never null."""
    implicit = [
        Contract(type="unique", property=obj.key, severity="blocking"),
        Contract(type="not_null", property=obj.key, severity="blocking"),
    ]
    for name, link in obj.links.items():
        if link.required:  # queries rely on it to join without keeping unmatched rows
            implicit.append(Contract(type="not_null", properties=list(link.columns), severity="blocking"))
            implicit.append(Contract(type="links_resolve", link=name, severity="blocking"))
    return implicit + list(obj.contracts)


def run_contracts(
    wh: Warehouse,
    objects: dict[str, ObjectType],
    staged: set[str] | frozenset[str] = frozenset(),
    changed: set[str] | None = None,
) -> list[ContractResult]:
    """Evaluate the contracts; `staged` types are read from their freshly built tables, the others
    from the live ones. With `changed`, only what a change can break: every contract of a changed
    type, and the links of other types that point into a changed one."""
    results = []
    for name, obj in objects.items():
        for contract in contracts_of(obj):
            into_changed = contract.type == "links_resolve" and obj.links[contract.link or ""].to in (changed or ())
            if changed is not None and name not in changed and not into_changed:
                continue
            results.append(_evaluate(wh, objects, name, obj, contract, staged))
    return results


def _evaluate(
    wh: Warehouse,
    objects: dict[str, ObjectType],
    name: str,
    obj: ObjectType,
    c: Contract,
    staged: set[str] | frozenset[str],
) -> ContractResult:
    t = object_table(name, name in staged)
    props = [p for p in [c.property, *c.properties] if p]
    target = c.link or ", ".join(props) or "rows"
    sample: list[Any] = []
    if c.type == "unique":
        groups = exp.select(*[col(p) for p in props]).from_(t).group_by(*[col(p) for p in props])
        dupes = groups.having(exp.GT(this=exp.func("count", exp.Star()), expression=literal(1)))
        violations = _count(wh, count_rows(dupes))
        sample = _sample(wh, dupes) if violations else []
        detail = f"{violations} duplicated value(s)"
    elif c.type == "not_null":
        cond = exp.or_(*[col(p).is_(exp.null()) for p in props])
        violations = _count(wh, count_rows(t, cond))
        detail = f"{violations} row(s) with a null {target}"
        sample = _sample(wh, exp.select(col(obj.key)).from_(t).where(cond)) if violations else []
    elif c.type == "accepted_values":
        assert c.property
        cond = exp.and_(
            col(c.property).is_(exp.null()).not_(), col(c.property).isin(*[literal(v) for v in c.values]).not_()
        )
        violations = _count(wh, count_rows(t, cond))
        bad = exp.select(col(c.property)).distinct().from_(t).where(cond)
        sample = _sample(wh, bad) if violations else []
        detail = f"{violations} row(s) outside {c.values}"
    elif c.type == "links_resolve":
        assert c.link
        violations, sample = _dangling(wh, objects, name, obj, c.link, staged)
        detail = f"{violations} link(s) to a missing {obj.links[c.link].to}"
    elif c.type == "freshness":
        assert c.property and c.max_age_hours
        newest = wh.scalar(exp.select(exp.func("max", col(c.property))).from_(t))
        reference = datetime.fromisoformat(c.as_of) if c.as_of else datetime.now(UTC).replace(tzinfo=None)
        if newest is None:
            violations, detail = 1, "no data"
        else:
            newest_dt = newest if isinstance(newest, datetime) else datetime.combine(newest, datetime.min.time())
            age = (reference - newest_dt.replace(tzinfo=None)).total_seconds() / 3600
            violations = int(age > c.max_age_hours)
            detail = f"newest {c.property} is {age:.1f} h old (limit {c.max_age_hours:g} h)"
    else:  # row_count
        rows = _count(wh, count_rows(t))
        too_few = c.min is not None and rows < c.min
        too_many = c.max is not None and rows > c.max
        violations = int(too_few or too_many)
        detail = f"{rows} rows (bounds {c.min}..{c.max})"
    return ContractResult(name, c.type, target, c.severity, violations == 0, violations, detail, sample)


def _dangling(
    wh: Warehouse,
    objects: dict[str, ObjectType],
    name: str,
    obj: ObjectType,
    link_name: str,
    staged: set[str] | frozenset[str],
) -> tuple[int, list[Any]]:
    link = obj.links[link_name]
    target = objects[link.to]
    target_table = object_table(link.to, link.to in staged).as_("tgt")
    if link.columns:
        here = object_table(name, name in staged).as_("src")
        pairs = [(col(mine, "src"), col(theirs, "tgt")) for mine, theirs in link.pairs(target)]
    else:
        here = link_table(name, link_name, name in staged).as_("src")
        pairs = [(col("to_key", "src"), col(target.key, "tgt"))]
    # a link on several columns is set when all of them are
    query = (
        exp.select(*[fk for fk, _ in pairs])
        .from_(here)
        .join(target_table, on=exp.and_(*[fk.eq(key) for fk, key in pairs]), join_type="left")
        .where(exp.and_(*[fk.is_(exp.null()).not_() for fk, _ in pairs], pairs[0][1].is_(exp.null())))
    )
    violations = _count(wh, count_rows(query))
    return violations, (_sample(wh, query.distinct()) if violations else [])


def _count(wh: Warehouse, query: exp.Select) -> int:
    return int(wh.scalar(query) or 0)


def _sample(wh: Warehouse, query: exp.Select) -> list[Any]:
    rows = wh.query_arrow(query.limit(SAMPLE)).to_pylist()
    return [next(iter(r.values())) if len(r) == 1 else r for r in rows]
