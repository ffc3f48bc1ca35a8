"""Scenario overlays: a scenario's changes written as copy-on-write tables in `scenario__<name>`.

Each overlay table holds only the changed or added objects of one type; `Brain.query(...,
scenario=name)` reads it in place of the baseline rows with the same key. Changes apply in order,
each over the objects as the earlier ones left them. Overlays are built by the brain itself from
the objects (like `brain build`); reading them goes through the governed query path.

The rules the changes follow (also stated in every run's `assumptions`):
- price: lines in scope and in the period get net_amount x (1+p)^(1+e), qty x (1+p)^e and
  unit_price x (1+p) (units become fractional expected units);
- demand: qty and net_amount x (1+c); capacity: the lines' weekly units and hours x (1+c), for
  the whole period (production is not re-planned: `brain replan` does that);
- hiring: Employee rows in post for the whole period, and a year of their cost; Operations hires add
  HOURS_PER_OPERATOR_WEEK labour hours a week each, spread over the site's lines in proportion
  to their hours;
- capital project: a new Line whose capacity is the nominal x its average ramp factor over the
  weeks it runs in the period, with one empty ProductionWeek per such week (so that its hours
  count as available); its capex is reported by the scenario;
- supplier delay: received_date (and what is computed from it) of the supplier's purchase orders
  promised in the period moves by `days`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from companybrain.decisions.elasticity import estimate_elasticities, order_history
from companybrain.derived import derived
from companybrain.errors import ConfigError, Location, did_you_mean
from companybrain.ontology.model import object_table, snake
from companybrain.semantic.joins import JoinPlan, overlay_schema, overlay_source
from companybrain.semantic.period import Period
from companybrain.specs.ontology import parse_expression
from companybrain.specs.scenarios import (
    CapacityChange,
    CapitalProject,
    Change,
    DemandChange,
    Hiring,
    PriceChange,
    ScenarioSpec,
    SupplierDelay,
    as_list,
)
from companybrain.warehouse.ddl import col, create_table, create_table_as, drop_table, insert_select, literal, table

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.governance.principal import Principal

HOURS_PER_OPERATOR_WEEK = 38.0  # a 40-hour week less ~5% absence
STAGING = "_staging"
DOUBLE = exp.DataType.build("DOUBLE")

# properties a change scales: stored as float in the overlay (fractional expected units)
SCALED = {
    "OrderLine": {"qty", "net_amount", "unit_price"},
    "Line": {"capacity_units_per_week", "capacity_hours_per_week"},
}


class Overlays:
    """Builds one scenario's overlay tables, change after change (a later change sees the earlier ones)."""

    def __init__(self, brain: Brain, spec: ScenarioSpec, period: Period) -> None:
        self.brain, self.spec, self.period = brain, spec, period
        self.wh, self.objects = brain.warehouse, brain.project.objects
        self.schema = overlay_schema(spec.name)
        self.sources: dict[str, exp.Query] = {}
        self.assumptions: list[str] = []
        self.capex = 0.0
        self.people_cost = 0.0  # a year of the hires' cost, from the scenario (salary data is HR-only)
        self._ids = 0
        self._file, self._lines = brain.project.origins.get(("scenarios", spec.name), ("scenarios", {}))

    def error(self, index: int, key: str, message: str) -> ConfigError:
        line = self._lines.get(("changes", index, key)) or self._lines.get(("changes", index))
        return ConfigError.at(Location(self._file, line, f"changes.{index}.{key}"), message)

    def table(self, type_name: str) -> exp.Table:
        return table(self.schema, snake(type_name))

    def _ensure(self, type_name: str) -> exp.Table:
        t = self.table(type_name)
        if type_name not in self.sources:
            obj = self.objects[type_name]
            scaled = SCALED.get(type_name, set())
            columns: dict[str, str] = {p: "float" if p in scaled else prop.type for p, prop in obj.properties.items()}
            self.wh.execute(create_table(t, columns))
            self.sources[type_name] = overlay_source(obj, object_table(type_name), t)
        return t

    def modify(self, type_name: str, replace: dict[str, exp.Expr], scope: list[exp.Expr], plan: JoinPlan) -> int:
        """Rewrite properties of the objects in scope (as the scenario sees them so far) into the overlay."""
        obj = self.objects[type_name]
        derived = {p: self._recomputed(prop.expr, replace) for p, prop in obj.properties.items() if prop.expr}
        replace = {**replace, **{p: e for p, e in derived.items() if e is not None}}
        projections = [exp.alias_(replace.get(p, col(p, "t0")), p, quoted=True) for p in obj.properties]
        select = plan.from_clause(exp.select(*projections)).where(exp.and_(*scope))
        staging = table(self.schema, STAGING)
        self.wh.execute(drop_table(staging))
        self.wh.execute(create_table_as(staging, select))
        target = self._ensure(type_name)
        key = col(obj.key)
        self.wh.execute(exp.delete(target, where=key.isin(query=exp.select(key).from_(staging))))
        columns = list(obj.properties)
        self.wh.execute(insert_select(target, columns, exp.select(*[col(c) for c in columns]).from_(staging)))
        changed = int(self.wh.scalar(exp.select(exp.func("count", exp.Star())).from_(staging)) or 0)
        self.wh.execute(drop_table(staging))
        self.wh.execute(exp.Analyze(tables=[target]))  # the next change joins it: give the planner its size
        return changed

    def _recomputed(self, text: str, replace: dict[str, exp.Expr]) -> exp.Expr | None:
        """A computed property (delay_days = received - promised) over the replaced values, if it reads one."""
        tree = parse_expression(text)
        names = {c.name for c in tree.find_all(exp.Column)}
        if not names & set(replace):
            return None
        return tree.transform(
            lambda n: (
                (replace[n.name].copy() if n.name in replace else col(n.name, "t0")) if isinstance(n, exp.Column) else n
            )
        )

    def add(self, type_name: str, rows: list[dict[str, Any]]) -> None:
        target = self._ensure(type_name)
        props = list(self.objects[type_name].properties)
        values = [exp.Tuple(expressions=[literal(r.get(p)) for p in props]) for r in rows]
        self.wh.execute(insert_select(target, props, exp.Values(expressions=values)))  # type: ignore[arg-type]
        self.wh.execute(exp.Analyze(tables=[target]))

    def rows(self) -> dict[str, int]:
        """Objects in each overlay table (changed or added; an object changed twice counts once)."""
        count = exp.func("count", exp.Star())
        return {t: int(self.wh.scalar(exp.select(count).from_(self.table(t))) or 0) for t in self.sources}

    def new_id(self) -> int:
        self._ids += 1
        return self._ids

    def plan(self, type_name: str) -> JoinPlan:
        return JoinPlan(self.objects, type_name, sources=self.sources)

    def in_period(self, metric: str, plan: JoinPlan) -> exp.Expr:
        time_expr = self.brain.semantic.time_expr(metric, plan)
        assert time_expr is not None
        return self.period.condition(time_expr)

    def lookup(self, type_name: str, index: int, key: str, value: str, fields: tuple[str, ...]) -> dict[str, Any]:
        """The one object whose id or name (any of `fields`, case-insensitive) is `value`."""
        rows = self.wh.query_arrow(exp.select("*").from_(object_table(type_name))).to_pylist()
        found = [r for r in rows if any(str(r.get(f) or "").lower() == value.lower() for f in fields)]
        if len(found) != 1:
            known = sorted({str(r[fields[0]]) for r in rows} | {str(r[fields[-1]]) for r in rows})
            what = "no" if not found else "more than one"
            raise self.error(index, key, f"{what} {type_name} is {value!r}; {did_you_mean(value, known)}")
        return found[0]


def _pct(value: float) -> exp.Expr:
    return literal(1 + value / 100)


def _scaled(column: exp.Expr, factor: exp.Expr) -> exp.Expr:
    return exp.Cast(this=exp.Mul(this=column, expression=factor), to=DOUBLE)


def _families(ov: Overlays, index: int, names: list[str]) -> list[str]:
    return [ov.lookup("ProductFamily", index, "family", n, ("family_id", "name"))["family_id"] for n in names]


def _order_line_scope(ov: Overlays, index: int, change: PriceChange | DemandChange, plan: JoinPlan) -> list[exp.Expr]:
    model = ov.brain.semantic
    scope = [ov.in_period("revenue", plan)]
    families = _families(ov, index, as_list(change.family))
    if families:
        scope.append(model.resolve(exp.column("family_id", "product"), plan, "scope").isin(*families))
    for key, dim in (("segment", "segment"), ("region", "region")):
        values = as_list(getattr(change, key, None))
        if values:
            scope.append(model.dimension(dim, plan).isin(*values))
    return scope


def apply_change(ov: Overlays, index: int, change: Change, user: str | Principal | None) -> None:
    if isinstance(change, PriceChange):
        plan = ov.plan("OrderLine")
        scope = _order_line_scope(ov, index, change, plan)
        p = change.change_pct / 100
        if change.elasticity == "estimated":
            families = _families(ov, index, as_list(change.family)) or None
            # estimated from the baseline's history: one per build, reader and families, kept between runs
            history = lambda: estimate_elasticities(order_history(ov.brain, user), families)  # noqa: E731
            estimates, _ = derived(ov.brain, user, "elasticity", history, key=sorted(families or []))
            if families and (missing := [f for f in families if f not in estimates]):
                raise ov.error(index, "elasticity", f"too few order lines to estimate {', '.join(missing)}")
            family = ov.brain.semantic.resolve(exp.column("family_id", "product"), plan, "elasticity")
            e: exp.Expr = exp.Case(
                ifs=[exp.If(this=family.copy().eq(literal(f)), true=literal(v)) for f, v in estimates.items()],
                default=literal(0.0),
            )
            shown = ", ".join(f"{f} {v:.2f}" for f, v in sorted(estimates.items()))
            ov.assumptions.append(f"price elasticity estimated from the order history: {shown}")
        else:
            e = literal(change.elasticity)
        base = literal(1 + p)
        qty = exp.func("power", base, e.copy())
        net = exp.func("power", base.copy(), exp.Add(this=literal(1.0), expression=e.copy()))
        replace = {
            "qty": _scaled(col("qty", "t0"), qty),
            "net_amount": _scaled(col("net_amount", "t0"), net),
            "unit_price": _scaled(col("unit_price", "t0"), base.copy()),
        }
        ov.modify("OrderLine", replace, scope, plan)
    elif isinstance(change, DemandChange):
        plan = ov.plan("OrderLine")
        scope = _order_line_scope(ov, index, change, plan)
        factor = _pct(change.change_pct)
        replace = {c: _scaled(col(c, "t0"), factor.copy()) for c in ("qty", "net_amount")}
        ov.modify("OrderLine", replace, scope, plan)
    elif isinstance(change, CapacityChange):
        site = ov.lookup("Site", index, "site", change.site, ("site_id", "name", "city"))
        plan = ov.plan("Line")
        lines: list[exp.Expr] = [col("site_id", "t0").eq(literal(site["site_id"]))]
        if change.line:
            line = (
                change.line if change.line.upper().startswith(site["site_id"]) else f"{site['site_id']}-{change.line}"
            )
            ov.lookup("Line", index, "line", line, ("line_id",))
            lines.append(exp.Upper(this=col("line_id", "t0")).eq(literal(line.upper())))
        factor = _pct(change.change_pct)
        replace = {c: _scaled(col(c, "t0"), factor.copy()) for c in SCALED["Line"]}
        ov.modify("Line", replace, lines, plan)
    elif isinstance(change, Hiring):
        _hire(ov, index, change)
    elif isinstance(change, CapitalProject):
        _new_line(ov, index, change)
    elif isinstance(change, SupplierDelay):
        supplier = ov.lookup("Supplier", index, "supplier", change.supplier, ("supplier_id", "name"))
        plan = ov.plan("PurchaseOrder")
        pos = [
            col("supplier_id", "t0").eq(literal(supplier["supplier_id"])),
            col("received_date", "t0").is_(exp.null()).not_(),
            ov.in_period("purchase_orders_received", plan),
        ]
        later = exp.Add(
            this=col("received_date", "t0"),
            expression=exp.Interval(this=literal(str(change.days)), unit=exp.var("DAY")),
        )
        ov.modify("PurchaseOrder", {"received_date": exp.Cast(this=later, to=exp.DataType.build("DATE"))}, pos, plan)


def _hire(ov: Overlays, index: int, change: Hiring) -> None:
    site = ov.lookup("Site", index, "site", change.site, ("site_id", "name", "city"))
    start = ov.period.start  # in post for the whole period
    rows = [
        {
            "employee_id": f"SCN-{ov.spec.name}-{ov.new_id():05d}",
            "site_id": site["site_id"],
            "region": site["region"],
            "country": site["country"],
            "function": change.function,
            "role": change.role or change.function,
            "hire_date": start.isoformat(),
            "status": "active",
            "salary": change.annual_cost_per_head,
            "currency": "USD",
        }
        for _ in range(change.headcount)
    ]
    ov.add("Employee", rows)
    ov.people_cost += change.headcount * change.annual_cost_per_head
    if change.function.lower() == "operations":
        plan = ov.plan("Line")
        site_lines = col("site_id", "t0").eq(literal(site["site_id"]))
        hours = exp.func("sum", col("capacity_hours_per_week", "t0"))
        total = ov.wh.scalar(plan.from_clause(exp.select(hours)).where(site_lines.copy()))
        if not total:
            raise ov.error(index, "site", f"site {site['site_id']} has no line hours to add operators to")
        added = change.headcount * HOURS_PER_OPERATOR_WEEK
        factor = literal(1 + added / float(total))
        ov.modify(
            "Line",
            {"capacity_hours_per_week": _scaled(col("capacity_hours_per_week", "t0"), factor)},
            [site_lines],
            plan,
        )
        ov.assumptions.append(
            f"{change.headcount} Operations hires at {site['site_id']} add {added:,.0f} labour hours a week "
            f"({HOURS_PER_OPERATOR_WEEK:g} each) to its lines, in proportion to their hours"
        )


def _new_line(ov: Overlays, index: int, change: CapitalProject) -> None:
    site = ov.lookup("Site", index, "site", change.site, ("site_id", "name", "city"))
    line_id = f"{site['site_id']}-{change.name}"
    exists = ov.wh.scalar(
        exp.select(exp.func("count", exp.Star())).from_(object_table("Line")).where(col("line_id").eq(literal(line_id)))
    )
    if exists:
        raise ov.error(index, "name", f"line {line_id} already exists; name the new line differently")
    start = change.start or ov.period.start
    monday = start + timedelta(days=(7 - start.weekday()) % 7)
    weeks = []
    while monday < ov.period.end:
        weeks.append(monday)
        monday += timedelta(days=7)
    if not weeks:
        raise ov.error(index, "start", f"the new line starts after the period ({ov.period.text})")
    ramp = [min(1.0, (i + 1) / change.ramp_up_weeks) if change.ramp_up_weeks else 1.0 for i in range(len(weeks))]
    factor = sum(ramp) / len(ramp)
    ov.add(
        "Line",
        [
            {
                "line_id": line_id,
                "site_id": site["site_id"],
                "name": change.name,
                "capacity_units_per_week": change.capacity_units_per_week * factor,
                "capacity_hours_per_week": change.capacity_hours_per_week * factor,
                "commissioned_date": start.isoformat(),
            }
        ],
    )
    ov.add(
        "ProductionWeek",
        [
            {
                "production_id": -ov.new_id(),
                "line_id": line_id,
                "site_id": site["site_id"],
                "week_start": w.isoformat(),
                "units_produced": 0,
                "hours_used": 0.0,
                "scrap_units": 0,
                "downtime_hours": 0.0,
            }
            for w in weeks
        ],
    )
    ov.capex += change.capex
    ov.assumptions.append(
        f"new line {line_id} runs {len(weeks)} weeks of {ov.period.text} at {factor:.0%} of its capacity on average "
        f"({change.ramp_up_weeks}-week linear ramp-up from {start}); capex {change.capex:,.0f} USD"
    )
