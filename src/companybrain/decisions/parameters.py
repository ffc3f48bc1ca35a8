"""A proposal's parameters: typed, read from the company's data (`of:`, as the proposer may see it),
computed from the others (`expr:`) or from the scenario it adopts (`from_scenario`), checked against
the action type's bounds, choices and checks, and the objects they name required to exist.

Nobody chooses the facts their approval rests on: a value the proposer types must equal what the
data says (unless the parameter is `override:`), what its `expr:` computes from the others, and what
the scenario gives; and an approval rule that cannot be decided (a value it uses is missing) refuses
the proposal rather than pass it to a lighter rule.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from companybrain.decisions import approvals as ap
from companybrain.decisions import effects as fx
from companybrain.errors import Conflict, NotFound, PolicyDenied, QueryError, did_you_mean
from companybrain.specs.actions import ActionType
from companybrain.specs.ontology import parse_expression
from companybrain.warehouse.ddl import literal

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.governance.principal import Principal


MAX_FILTER = 3500  # characters of one `key IN (...)` filter: the governed path reads at most 4,000


class Parameters:
    """Fills and checks the parameters of proposals; objects read for facts are kept for one batch."""

    def __init__(self, brain: Brain) -> None:
        self.brain = brain
        self.project = brain.project
        self._read: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._linked: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
        self._scenarios: dict[tuple[str, str], dict[str, Any]] = {}
        self._dry_run = False

    def new_batch(self, dry_run: bool = False) -> None:
        self._read = {}  # a replan's moves share their lines: each is read once per batch
        self._linked = {}
        self._scenarios = {}
        self._dry_run = dry_run  # a dry run writes nothing, a scenario's overlays included

    def prefetch(self, items: list[tuple[str, dict[str, Any]]], principal: Principal) -> None:
        """Read the facts a batch's `of:` parameters rest on in a few governed reads per object type (keys
        in chunks), as the proposer, instead of one read per action: a replan of thousands of actions
        reads its orders' lines a handful of times. What is read is what `_fact` would read one by one;
        what is not prefetched here (an unusual path) is read one by one as before."""
        objects: dict[str, set[Any]] = defaultdict(set)  # type -> keys whose properties are needed
        links: dict[tuple[str, str], set[Any]] = defaultdict(set)  # (type, link) -> keys to follow
        sums: dict[tuple[str, str], set[Any]] = defaultdict(set)  # (linked type, via) -> keys
        sum_columns: dict[tuple[str, str], set[str]] = defaultdict(set)
        for name, given in items:
            spec = self.project.actions.get(name)
            if spec is None:
                continue  # reported by `checked`
            for pname, p in spec.parameters.items():
                source = p.fact_source()
                if source is None or given.get(source) in (None, "") or (p.override and given.get(pname) is not None):
                    continue
                type_name = spec.parameters[source].object
                if type_name is None:
                    continue
                summed, _, path = p.fact_path()
                try:
                    key = _coerce(name, source, spec.parameters[source].type, given[source])
                except QueryError:
                    continue  # reported by `checked`
                if summed:
                    found = self._reverse(type_name, path[0])
                    if found is None:
                        continue
                    sums[found].add(key)
                    sum_columns[found] |= {path[1], *p.match}
                elif len(path) == 1:
                    objects[type_name].add(key)
                elif len(path) == 2 and self._many_to_one(type_name, path[0]) is not None:
                    objects[type_name].add(key)
                    links[(type_name, path[0])].add(key)
        for type_name, keys in sorted(objects.items()):
            for row in self._rows(type_name, self.project.objects[type_name].key, keys, principal):
                self._read[(principal.user, type_name, str(row[self.project.objects[type_name].key]))] = {
                    "properties": row,
                    "links": {},
                }
        for (type_name, link_name), keys in sorted(links.items()):
            self._follow(type_name, link_name, keys, principal)
        for (linked, via), keys in sorted(sums.items()):
            grouped: dict[str, list[dict[str, Any]]] = {str(k): [] for k in keys}
            for row in self._rows(linked, via, keys, principal, sorted({via, *sum_columns[(linked, via)]})):
                grouped.setdefault(str(row[via]), []).append(row)
            for key, rows in grouped.items():
                self._linked[(principal.user, linked, via, key)] = rows

    def _reverse(self, type_name: str, reverse: str) -> tuple[str, str] | None:
        """(the linked type, its property holding the key) of `type_name`'s one-to-many link `reverse`."""
        return next(
            (
                (n, ln.via)
                for n, o in self.project.objects.items()
                for ln in o.links.values()
                if ln.to == type_name and ln.via and ln.reverse == reverse
            ),
            None,
        )

    def _many_to_one(self, type_name: str, link_name: str) -> Any:
        link = self.project.objects[type_name].links.get(link_name)
        return link if link is not None and link.via is not None else None

    def _rows(
        self, type_name: str, prop: str, keys: set[Any], principal: Principal, columns: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """The objects of a type whose `prop` is one of `keys`, read as the proposer (several reads when the
        keys do not fit one filter)."""
        rows: list[dict[str, Any]] = []
        chunk: list[str] = []
        size = 0
        for listed in sorted((literal(k).sql() for k in keys), key=str):
            if chunk and size + len(listed) + 2 > MAX_FILTER:
                rows += self.brain.read(
                    type_name, f"{prop} IN ({', '.join(chunk)})", user=principal, columns=columns
                ).to_pylist()
                chunk, size = [], 0
            chunk.append(listed)
            size += len(listed) + 2
        if chunk:
            rows += self.brain.read(
                type_name, f"{prop} IN ({', '.join(chunk)})", user=principal, columns=columns
            ).to_pylist()
        return rows

    def _follow(self, type_name: str, link_name: str, keys: set[Any], principal: Principal) -> None:
        """Fill the prefetched objects' many-to-one link `link_name` with its target, as get_object shows it:
        the target's properties, or `denied` when the proposer may not read the target type."""
        link = self._many_to_one(type_name, link_name)
        target = self.project.objects[link.to]
        mine = [self._read.get((principal.user, type_name, str(k))) for k in keys]
        found = [m for m in mine if m is not None]
        wanted = {m["properties"].get(link.via) for m in found} - {None, "***"}
        try:
            rows = self._rows(link.to, target.key, wanted, principal) if wanted else []
        except PolicyDenied:
            for m in found:
                m["links"][link_name] = {"denied": True}
            return
        by_key = {str(r[target.key]): r for r in rows}
        for m in found:
            value = m["properties"].get(link.via)
            if value == "***":  # a masked key: `_fact` reads that object whole, as before
                continue
            m["links"][link_name] = {"object": by_key.get(str(value)) if value is not None else None}

    def unfilled(self, spec: ActionType, given: dict[str, Any]) -> list[str]:
        """The required parameters that neither `given`, a default, the data (`of:`) nor a computation
        (`expr:`) would fill: what a proposal still has to be told."""
        have = {p for p, v in given.items() if v not in (None, "")}
        have |= {p for p, s in spec.parameters.items() if s.default is not None}
        grew = True
        while grew:
            before = len(have)
            for pname, p in spec.parameters.items():
                read = bool(p.of) and p.fact_source() in have and set(p.match.values()) <= have
                inputs = {c.name for c in parse_expression(p.expr).find_all(exp.Column)} if p.expr else None
                if read or (inputs is not None and inputs <= have):
                    have.add(pname)
            grew = len(have) > before
        return [p for p, s in spec.parameters.items() if s.required and p not in have]

    def checked(self, name: str, spec: ActionType, given: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """The proposal's parameters typed, read, computed and checked against the type's rules."""
        unknown = sorted(set(given) - set(spec.parameters))
        if unknown:
            raise QueryError(
                f"action type {name!r} has no parameter {unknown[0]!r}; {did_you_mean(unknown[0], spec.parameters)}"
            )
        params: dict[str, Any] = {}
        for pname, p in spec.parameters.items():
            value = given.get(pname, p.default)
            params[pname] = None if value is None or value == "" else _coerce(name, pname, p.type, value)
        params = self._computed(name, self._scenario_facts(name, self._derived(name, params, principal), principal))
        for pname, p in spec.parameters.items():
            v = params[pname]
            at = self.project.locate("actions", name, "parameters", pname)
            if v is None:
                if p.required:
                    raise QueryError(f"action {name!r} needs the parameter {pname!r} ({p.type}; declared at {at})")
                continue
            if p.choices is not None and v not in p.choices:
                raise QueryError(f"{name}.{pname}={v!r} is not one of {p.choices} ({at})")
            if (p.min is not None and v < p.min) or (p.max is not None and v > p.max):
                raise QueryError(f"{name}.{pname}={v!r} is outside {p.min}..{p.max} ({at})")
        for i, check in enumerate(spec.checks):
            if fx.evaluate(check.check, params) is not True:
                at = self.project.locate("actions", name, "checks", i)
                raise QueryError(f"{name}: {check.message or 'check failed'}: {check.check} ({at})")
        ap.rule_for(spec, params)  # decidable now, or refused now
        return params

    def _derived(self, name: str, params: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """Parameters declared `of:` are read from the object another parameter names (as the proposer);
        a value the proposer gave must be the same (unless the parameter is `override:`), so nobody
        chooses the facts their approval rests on."""
        spec = self.project.actions[name]
        out = dict(params)
        for pname, p in spec.parameters.items():
            source = p.fact_source()
            given = params.get(pname)
            if source is None or params.get(source) is None or (p.override and given is not None):
                continue  # nothing to read from (a missing source is reported as missing), or the value given wins
            type_name = spec.parameters[source].object
            assert type_name is not None  # checked when the project loads
            value = self._fact(name, pname, type_name, params, principal)
            if given is not None and str(given) != str(_coerce(name, pname, p.type, value)):
                raise QueryError(
                    f"{name}: {pname}={given!r}, but {p.of} is {value!r}",
                    hint=f"leave {pname} out: it is read from the {type_name}",
                )
            out[pname] = _coerce(name, pname, p.type, value)
        return out

    def _fact(self, name: str, pname: str, type_name: str, params: dict[str, Any], principal: Principal) -> Any:
        """The value an `of:` path reads, as the proposer: NotFound for a missing object, PolicyDenied for
        a fact they may not read."""
        p = self.project.actions[name].parameters[pname]
        summed, source, path = p.fact_path()
        key = params[source]
        if summed:
            return self._sum(name, pname, type_name, key, path, params, principal)
        cached = (principal.user, type_name, str(key))
        if cached not in self._read:
            try:
                self._read[cached] = self.brain.object(type_name, str(key), principal)
            except NotFound:
                raise NotFound(f"no {type_name} {key!r} (or the proposer may not see it)") from None
        found = self._read[cached]
        if len(path) == 2 and path[0] not in found["links"]:  # prefetched without this link: read it whole
            try:
                found = self._read[cached] = self.brain.object(type_name, str(key), principal)
            except NotFound:
                raise NotFound(f"no {type_name} {key!r} (or the proposer may not see it)") from None
        node: Any = found["properties"]
        if len(path) == 2:  # one many-to-one link, then the property
            link = found["links"].get(path[0]) or {}
            if link.get("denied") or link.get("object") is None:
                raise _unreadable(name, pname, p.of, f"{principal.user} may not read")
            node = link["object"]
        value = node.get(path[-1])
        if value == "***":
            raise _unreadable(name, pname, p.of, f"is masked for {principal.user}")
        return value

    def _sum(
        self,
        name: str,
        pname: str,
        type_name: str,
        key: Any,
        path: list[str],
        params: dict[str, Any],
        principal: Principal,
    ) -> float:
        """`sum(param.reverse.property)`: the property summed over the objects linking to the named one
        (narrowed by `match`), read as the proposer."""
        p = self.project.actions[name].parameters[pname]
        linked, via = next(
            (n, ln.via)
            for n, o in self.project.objects.items()
            for ln in o.links.values()
            if ln.to == type_name and ln.via and ln.reverse == path[0]
        )
        assert via is not None
        terms = [exp.column(via).eq(literal(key))]
        for prop, other in sorted(p.match.items()):
            if params.get(other) is None:
                raise QueryError(f"{name}.{pname} is the sum over {p.of} of one {other}: give {other!r}")
            terms.append(exp.column(prop).eq(literal(params[other])))
        prefetched = self._linked.get((principal.user, linked, via, str(key)))
        if prefetched is not None:  # the batch's rows of this key: narrowed by `match` here
            values = [
                r[path[1]]
                for r in prefetched
                if all(str(r[prop]) == str(params[other]) for prop, other in p.match.items())
            ]
        else:
            where = exp.and_(*terms).sql(dialect="duckdb")
            values = self.brain.read(linked, where=where, user=principal).column(path[1]).to_pylist()
        if any(v == "***" for v in values):
            raise _unreadable(name, pname, p.of, f"is masked for {principal.user}")
        if not values:
            narrowed = "".join(f" with {prop} = {params[other]!r}" for prop, other in sorted(p.match.items()))
            raise NotFound(f"{type_name} {key!r} has no {linked}{narrowed} (or the proposer may not see it)")
        return float(sum(v or 0 for v in values))

    def _scenario_facts(self, name: str, params: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """A `from_scenario` type's scenario fields (`period`, `description`, each KPI's `_baseline`,
        `_scenario` and `_diff`) are the scenario's, its KPIs diffed now as the proposer: filled when left
        out; a value typed must be the same."""
        from companybrain.decisions.proposals import scenario_fields
        from companybrain.decisions.scenarios import overlay_status, run_scenario

        spec = self.project.actions[name]
        scenario = params.get("scenario")
        if not spec.from_scenario or scenario is None:
            return params
        if scenario not in self.project.scenarios:
            raise NotFound(f"no scenario {scenario!r}; {did_you_mean(str(scenario), self.project.scenarios)}")
        key = (principal.user, str(scenario))
        if key not in self._scenarios:
            status = overlay_status(self.brain, str(scenario))
            fresh = status is not None and not status["stale"]
            if not fresh and self._dry_run:
                state = "not built" if status is None else f"stale ({status['stale']})"
                raise Conflict(
                    f"scenario {scenario!r}: its overlays are {state}, and a dry run builds nothing",
                    hint=f"brain scenario run {scenario}",
                )
            run = run_scenario(self.brain, str(scenario), principal, rebuild=not fresh, ahead=False)
            self._scenarios[key] = scenario_fields(run, self.project.scenarios[str(scenario)].period)
        fields = self._scenarios[key]
        out = dict(params)
        for pname, p in spec.parameters.items():
            if pname == "scenario" or pname not in fields:
                continue
            given, value = params.get(pname), fields[pname]
            if value is None:
                if given is not None:
                    raise PolicyDenied(
                        f"{name}.{pname}={given!r} cannot be checked: scenario {scenario!r} has no {pname} "
                        f"{principal.user} may read",
                        policy=f"action-fact:{name}",
                    )
                continue
            value = _coerce(name, pname, p.type, value)
            if given is not None and not _same(given, value):
                raise QueryError(
                    f"{name}: {pname}={given!r}, but scenario {scenario!r} gives {value!r}",
                    hint=f"leave {pname} out: it is computed from the scenario",
                )
            out[pname] = value
        return out

    def _computed(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """Parameters declared `expr:` and not given, computed from the others (dates and days); one given
        must be what its `expr:` computes (a new date and a delay that disagree are refused)."""
        spec = self.project.actions[name]
        out = dict(params)
        given = [n for n, p in spec.parameters.items() if p.expr and out.get(n) is not None]
        pending = [n for n, p in spec.parameters.items() if p.expr and out.get(n) is None]
        while pending:
            ready = [
                n for n in pending if _arithmetic(parse_expression(spec.parameters[n].expr or ""), out) is not None
            ]
            if not ready:
                break
            for pname in ready:
                p = spec.parameters[pname]
                out[pname] = _coerce(name, pname, p.type, _arithmetic(parse_expression(p.expr or ""), out))
            pending = [n for n in pending if n not in ready]
        for pname in given:
            p = spec.parameters[pname]
            value = _arithmetic(parse_expression(p.expr or ""), out)
            if value is None:  # a value typed that nothing can check is not taken
                inputs = sorted({c.name for c in parse_expression(p.expr or "").find_all(exp.Column)})
                missing = [i for i in inputs if out.get(i) is None]
                raise QueryError(
                    f"{name}: {pname}={out[pname]} cannot be checked: {p.expr} needs {', '.join(missing)}",
                    hint=f"give {', '.join(missing)}, or leave {pname} out",
                )
            if not _same(out[pname], value := _coerce(name, pname, p.type, value)):
                raise QueryError(
                    f"{name}: {pname}={out[pname]}, but {p.expr} is {value}",
                    hint=f"give one or the other: {pname} is computed when left out",
                )
        return out

    def require_objects(self, checked: list[tuple[str, dict[str, Any]]], principal: Principal) -> None:
        """Each object a parameter names must exist and be visible to the proposer (one read per type)."""
        wanted: dict[str, set[Any]] = defaultdict(set)
        for name, params in checked:
            for pname, p in self.project.actions[name].parameters.items():
                if p.object and params.get(pname) is not None:
                    wanted[p.object].add(params[pname])
        for type_name, keys in sorted(wanted.items()):
            key = self.project.objects[type_name].key
            seen = {r[key] for r in self._rows(type_name, key, keys, principal, [key])}
            missing = sorted(keys - seen, key=str)
            if missing:
                raise NotFound(f"no {type_name} {missing[0]!r} (or the proposer may not see it)")


def _coerce(action: str, name: str, kind: str, value: Any) -> Any:
    """A parameter value (from YAML, JSON or the command line) as its declared type."""
    try:
        if kind == "integer":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value) if not isinstance(value, bool) else _bad()
        if kind == "number":
            return float(value) if not isinstance(value, bool) else _bad()
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            return {"true": True, "false": False}[str(value).lower()]
        if kind == "date":
            return value if isinstance(value, date) else date.fromisoformat(str(value))
        return str(value)
    except (ValueError, KeyError, TypeError):
        raise QueryError(f"{action}.{name}={value!r} is not a valid {kind}") from None


def _bad() -> Any:
    raise ValueError


def _same(a: Any, b: Any) -> bool:
    """Equal values; numbers up to the last bits of a float (a JSON round trip, a sum in another order)."""
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool | str):
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)), abs(float(b)))
    return str(a) == str(b)


def _unreadable(action: str, pname: str, path: str | None, why: str) -> PolicyDenied:
    """The denial of a proposal resting on a fact the proposer may not read (fail closed)."""
    return PolicyDenied(f"{action}.{pname} is read from {path}, which {why}", policy=f"action-fact:{action}")


def _arithmetic(node: exp.Expr, params: dict[str, Any]) -> Any:
    """An `expr:` over the parameters: + and - over numbers and dates (date + days, date - date in days);
    None while a parameter it uses has no value yet."""
    if isinstance(node, exp.Paren):
        return _arithmetic(node.this, params)
    if isinstance(node, exp.Column):
        return params.get(node.name)
    if isinstance(node, exp.Literal) and not node.is_string:
        return float(node.this)
    if isinstance(node, exp.Neg):
        inner = _arithmetic(node.this, params)
        return None if inner is None else -inner
    if not isinstance(node, exp.Add | exp.Sub):
        raise QueryError(f"a parameter's expr may only add and subtract, not {node.sql()!r}")
    left, right = _arithmetic(node.this, params), _arithmetic(node.expression, params)
    if left is None or right is None:
        return None
    sign = 1 if isinstance(node, exp.Add) else -1
    if isinstance(left, date) and isinstance(right, date) and sign < 0:
        return (left - right).days
    if isinstance(left, date) and isinstance(right, int | float):
        return left + timedelta(days=sign * float(right))
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left + sign * right
    raise QueryError(f"cannot compute {node.sql()!r} from {left!r} and {right!r}")
