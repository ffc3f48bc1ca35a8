"""Checks across files: every name a declaration uses must exist (with a 'did you mean')."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from companybrain.errors import BrainError, Location, did_you_mean

if TYPE_CHECKING:
    from companybrain.project import Project
    from companybrain.specs.ontology import Link, ObjectType
    from companybrain.warehouse.base import Warehouse

Problems = list[tuple[Location, str]]


def cross_check(project: Project) -> Problems:
    from companybrain.specs.actions import cross_check as _actions
    from companybrain.specs.apps import cross_check as _apps
    from companybrain.specs.usecases import cross_check as _usecases

    checks = (_ontology, _metrics, _policies, _actions, _usecases, _apps)
    return [problem for check in checks for problem in check(project)]


def warehouse_problems(project: Project, wh: Warehouse) -> Problems:
    """What only the loaded data shows: an object type mapped from a raw table reading a column that table
    does not have (`brain build` would fail on it). For `brain check` when it can open the warehouse;
    tables not loaded yet are skipped."""
    from companybrain.ontology.build import raw_column_problems

    return raw_column_problems(project, wh)


def attach_usecase_outputs(project: Project) -> Problems:
    """Put each use case's output onto the ontology: scored properties (with their reasons and model
    version) on the entity, or an object type of forecast rows. The ontology files never declare them."""
    from companybrain.specs.ontology import ObjectType, Property

    problems: Problems = []
    for name, uc in project.usecases.items():
        loc = functools.partial(project.locate, "usecases", name, "output")
        if uc.output.object:
            if uc.output.object in project.objects:
                problems.append((loc("object"), f"object type {uc.output.object!r} is already declared in ontology/"))
                continue
            assert uc.series is not None
            props: dict[str, Property] = {
                "forecast_id": Property(description="Series and period."),
                "series": Property(description="The series: its dimension values joined by ' | '."),
            }
            for dim in uc.series.by:
                props[_column_name(dim)] = Property(description=f"Dimension {dim} of the series.")
            props["period"] = Property(type="date", description=f"Start of the forecast {uc.series.grain}.")
            props["forecast"] = Property(type="float", description=f"Forecast of {uc.series.metric}.")
            for level in uc.levels:
                props[f"lower_{level}"] = Property(type="float", description=f"{level}% prediction interval, low.")
                props[f"upper_{level}"] = Property(type="float", description=f"{level}% prediction interval, high.")
            props["model_version"] = Property(description="The model version that made the forecast.")
            props["forecast_at"] = Property(type="timestamp", description="When the forecast was made.")
            project.objects[uc.output.object] = ObjectType(
                description=uc.output.description or f"Forecasts of use case {name}: {uc.description}",
                key="forecast_id",
                source=f"factory.forecast__{name}",
                time="period",
                tags=uc.output.tags,
                properties=props,
            )
            project.origins[("objects", uc.output.object)] = project.origins[("usecases", name)]
            continue
        assert uc.entity is not None and uc.output.property is not None
        obj = project.objects.get(uc.entity)
        if obj is None:
            msg = f"unknown object type {uc.entity!r}; {did_you_mean(uc.entity, project.objects)}"
            problems.append((project.locate("usecases", name, "entity"), msg))
            continue
        prop = uc.output.property
        added = {
            prop: Property(
                type="float",
                column="_value",
                predicted_by=name,
                tags=uc.output.tags,
                description=uc.output.description or f"Predicted by use case {name}: {uc.description}",
            ),
            f"{prop}_reasons": Property(
                column="_reasons",
                predicted_by=name,
                # the reasons quote feature values: whoever may not see an input may not read them
                tags=sorted(set(uc.output.tags) | _input_tags(project, uc)),
                description=f"Top reasons of {prop} (for the 2,000 highest scores).",
            ),
            f"{prop}_version": Property(
                column="_version", predicted_by=name, description=f"Model version that scored {prop}."
            ),
        }
        clash = [p for p in added if p in obj.properties or p in obj.links]
        if clash:
            problems.append((loc("property"), f"{uc.entity} already has {clash[0]!r}; choose another output.property"))
            continue
        project.objects[uc.entity] = obj.model_copy(update={"properties": {**obj.properties, **added}})
    return problems


def attach_decision_objects(project: Project) -> Problems:
    """Put the decisions that actions write onto the ontology: each `write` effect's table becomes an
    object type (ontology/decisions.py) linked to the objects its parameters name, with the reverse
    link on those; the roles that may read every object a decision concerns may read the decision."""
    from companybrain.ontology.decisions import decision_type, reserved
    from companybrain.specs.actions import WriteEffect
    from companybrain.specs.ontology import Contract

    problems: Problems = []
    made: dict[str, tuple[str, int]] = {}  # table -> the action and effect that defined its type
    concerns: dict[str, set[str]] = {}  # decision type -> the object types it links to
    for action_name, action in project.actions.items():
        for i, effect in enumerate(action.effects):
            if not isinstance(effect, WriteEffect):
                continue
            at = functools.partial(project.locate, "actions", action_name, "effects", i)
            missing = [k for k in effect.key if k not in action.parameters]
            if missing:  # the key names the decision object: no type without it
                msg = f"unknown parameter {missing[0]!r}; {did_you_mean(missing[0], action.parameters)}"
                problems.append((at("key"), msg))
                continue
            name, obj = decision_type(action, effect)
            brains = reserved(action, effect)
            if brains:
                msg = f"column {brains[0]!r} of writeback.{effect.table} is one the brain writes itself"
                problems.append((at("columns" if effect.columns else "table"), f"{msg}; rename it with `columns:`"))
                continue
            unknown = sorted(set(effect.tags) - set(obj.properties))
            if unknown:
                msg = f"tags: writeback.{effect.table} has no column {unknown[0]!r}"
                problems.append((at("tags"), f"{msg}; {did_you_mean(unknown[0], obj.properties)}"))
            if effect.table in made:
                first_action, first = made[effect.table]
                other = project.actions[first_action].effects[first]
                assert isinstance(other, WriteEffect)
                if decision_type(project.actions[first_action], other) != (name, obj):
                    where = project.locate("actions", first_action, "effects", first)
                    msg = f"writeback.{effect.table} is also written by {first_action} ({where.file}:{where.line})"
                    msg += " with other columns or `object:`; write the same ones, or use another table"
                    problems.append((at("table"), msg))
                continue
            made[effect.table] = (action_name, i)
            if name in project.objects:
                declared = project.origins.get(("objects", name), ("ontology/",))[0]
                how = "" if effect.object else f"the default for table {effect.table!r}; "
                msg = f"object type {name!r} ({how}decisions of writeback.{effect.table}) is already declared"
                msg += f" in {declared}; set another `object:`"
                problems.append((at("object" if effect.object else "table"), msg))
                continue
            links, found = _decision_links(project, action, effect, name, obj)
            problems += [(at(key), msg) for key, msg in found]
            # what it links to, and what its parameters were read through (a tier read via the customer)
            concerns[name] = {link.to for link in links.values()} | _read_through(project, action)
            project.objects[name] = obj.model_copy(
                update={
                    "description": f"{obj.description} {action.description}".strip(),
                    "tags": sorted({t for target in concerns[name] for t in project.objects[target].tags}),
                    "properties": {
                        prop: spec.model_copy(update={"tags": sorted(_decision_tags(project, action, effect, prop))})
                        for prop, spec in obj.properties.items()
                    },
                    "links": links,
                    "contracts": [Contract(type="unique", property="action_id")],
                }
            )
            project.origins[("objects", name)] = project.origins[("actions", action_name)]
    _grant_decisions(project, concerns)
    return problems


def _decision_links(
    project: Project, action: Any, effect: Any, name: str, obj: Any
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """A decision's many-to-one links (order_id -> order) and the reverse names on their targets
    (Order -> order_promises), or what collides (the effect's key to point at, and the message)."""
    from companybrain.ontology.decisions import link_name
    from companybrain.specs.ontology import Link

    links: dict[str, Link] = {}
    problems: list[tuple[str, str]] = []
    targets = [(p, spec.object) for p, spec in action.parameters.items() if spec.object and p in obj.properties]
    for param, target in targets:
        if target not in project.objects:
            continue  # the actions' own check reports the unknown type
        forward = link_name(param)
        reverse = effect.reverse or effect.table
        if sum(t == target for _, t in targets) > 1:
            reverse = f"{reverse}_{param}"
        if forward in obj.properties or forward in links:
            msg = f"{name} would link to {target} as {forward!r}, which is also a column; rename the column"
            problems.append(("columns" if effect.columns else "table", msg))
        elif reverse in _members(project, target):
            msg = f"{target} already has a property or link named {reverse!r}; "
            msg += f"give the link from {target} to {name} another name with `reverse:`"
            problems.append(("reverse" if effect.reverse else "table", msg))
        else:
            links[forward] = Link(to=target, via=param, reverse=reverse, description=f"The {target} named by {param}.")
    return links, problems


def _members(project: Project, type_name: str) -> set[str]:
    """The properties and links (reverse ones included) an object type has."""
    obj = project.objects[type_name]
    reverse = {ln.reverse for o in project.objects.values() for ln in o.links.values() if ln.to == type_name}
    return set(obj.properties) | set(obj.links) | {r for r in reverse if r}


def _decision_tags(project: Project, action: Any, effect: Any, prop: str) -> set[str]:
    """A decision's column carries the tags of what it was read from (`of:`), of the property of the same
    name on the objects it concerns, and those the effect declares; a replan's amounts are financial.
    Masking follows the data."""
    from companybrain.ontology.decisions import REPLAN_MONEY

    tags = set(effect.tags.get(prop, []))
    if action.from_replan and prop in REPLAN_MONEY:
        tags.add("financial")
    param = action.parameters.get(prop)
    if param is not None and param.of:
        tags |= _fact_tags(project, action, param)
    for spec in action.parameters.values():
        target = project.objects.get(spec.object) if spec.object else None
        if target is not None and prop in target.properties:
            tags |= set(target.properties[prop].tags)
    return tags


def _fact_tags(project: Project, action: Any, param: Any) -> set[str]:
    """Tags of what `param` reads (`of:` `p.property`, `p.link.property` or `sum(p.reverse.property)`),
    and of its type."""
    summed, source, rest = param.fact_path()
    given = action.parameters.get(source)
    owner = project.objects.get(given.object) if given is not None and given.object else None
    if owner is not None and len(rest) == 2:
        if summed:
            linking = [
                o
                for o in project.objects.values()
                for ln in o.links.values()
                if ln.to == given.object and ln.reverse == rest[0]
            ]
            owner = linking[0] if linking else None
        else:
            link = owner.links.get(rest[0])
            owner = project.objects.get(link.to) if link is not None else None
    if owner is None or not rest or rest[-1] not in owner.properties:
        return set()  # the actions' own check reports the path
    return set(owner.properties[rest[-1]].tags) | set(owner.tags)


def _read_through(project: Project, action: Any) -> set[str]:
    """The object types an action's `of:` parameters read on the way (order_id.customer.tier: Order,
    Customer): whoever may see the decision must be allowed to read them."""
    from companybrain.ontology.model import links_of

    found: set[str] = set()
    for p in action.parameters.values():
        if not p.of:
            continue
        _, source, steps = p.fact_path()
        base = action.parameters.get(source)
        current = base.object if base is not None else None
        if current is None or current not in project.objects:
            continue
        found.add(current)
        for step in steps[:-1]:
            link = next((k for k in links_of(project.objects, current) if k.name == step), None)
            if link is None:
                break
            current = link.target
            found.add(current)
    return found


def _grant_decisions(project: Project, concerns: dict[str, set[str]]) -> None:
    """A role may read a decision type when it may read every object type the decision links to (and
    not when it denies one): whoever may see what a decision is about may see the decision."""
    for role_name, role in project.roles.items():
        objects, deny = role.objects, list(role.deny_objects)
        wildcard = objects == "*" or "*" in objects
        for name, targets in concerns.items():
            if any(t in role.deny_objects for t in targets):
                deny.append(name)
                continue
            hr = "hr" in project.objects[name].tags
            reads_all = all(t in objects or (wildcard and "hr" not in project.objects[t].tags) for t in targets)
            if reads_all and targets and (hr or not wildcard):
                objects = [*([objects] if objects == "*" else objects), name]
        if objects != role.objects or deny != role.deny_objects:
            project.roles[role_name] = role.model_copy(update={"objects": objects, "deny_objects": deny})


def _input_tags(project: Project, uc: Any) -> set[str]:
    """Tags of what a use case's features read: the entity, the properties, the metrics' objects."""
    obj = project.objects[uc.entity]
    tags = set(obj.tags)
    for feature in uc.features.values():
        name = feature.property or feature.age_of
        if name:
            owner: Any = obj
            prop = name
            if "." in name:
                link, _, prop = name.partition(".")
                target = obj.links[link].to if link in obj.links else None
                owner = project.objects.get(target) if target else None
            if owner is not None and prop in owner.properties:
                tags |= set(owner.properties[prop].tags) | set(owner.tags)
        metric = project.metrics.get(feature.metric) if feature.metric else None
        if metric is not None and metric.object in project.objects:
            tags |= set(project.objects[metric.object].tags)
    return tags


def _column_name(dimension: str) -> str:
    """family -> family; Customer.segment -> customer_segment."""
    return dimension.replace(".", "_").lower()


def _ontology(project: Project) -> Problems:
    from companybrain.ontology.model import BRAIN_SCHEMAS

    problems: Problems = []
    raw_tables = set(project.raw_tables())
    objects = project.objects
    reverse_names: set[tuple[str, str]] = set()
    for name, obj in objects.items():
        loc = functools.partial(project.locate, "objects", name)
        if (
            obj.source is not None
            and obj.source not in raw_tables
            and obj.source.partition(".")[0] not in BRAIN_SCHEMAS
        ):
            problems.append(
                (loc("source"), f"unknown raw table {obj.source!r}; {did_you_mean(obj.source, raw_tables)}")
            )
        for link_name, link in obj.links.items():
            target = objects.get(link.to)
            if target is None:
                msg = f"unknown object type {link.to!r}; {did_you_mean(link.to, objects)}"
                problems.append((loc("links", link_name, "to"), msg))
                continue
            if link.through is not None and link.through not in raw_tables:
                msg = f"unknown raw table {link.through!r}; {did_you_mean(link.through, raw_tables)}"
                problems.append((loc("links", link_name, "through"), msg))
            problems += [(loc("links", link_name, "to_keys"), msg) for msg in _to_keys_problems(link, target)]
            if link.reverse:
                clash = link.reverse in target.properties or link.reverse in target.links
                if clash or (link.to, link.reverse) in reverse_names:
                    msg = f"{link.to} already has a property or link named {link.reverse!r}"
                    problems.append((loc("links", link_name, "reverse"), msg))
                reverse_names.add((link.to, link.reverse))
        for i, contract in enumerate(obj.contracts):
            for prop in [p for p in [contract.property, *contract.properties] if p]:
                if prop not in obj.properties:
                    msg = f"unknown property {prop!r}; {did_you_mean(prop, obj.properties)}"
                    problems.append((loc("contracts", i), msg))
            if contract.link and contract.link not in obj.links:
                problems.append(
                    (loc("contracts", i), f"unknown link {contract.link!r}; {did_you_mean(contract.link, obj.links)}")
                )
    return problems


def _to_keys_problems(link: Link, target: ObjectType) -> list[str]:
    """A link on other properties of its target than the key is many-to-one only if they are unique
    together there: a unique contract must say so (and the build checks it)."""
    keys = link.to_keys
    if not keys or keys == [target.key]:
        return []
    unknown = [k for k in keys if k not in target.properties]
    if unknown:
        return [f"{link.to} has no property {unknown[0]!r}; {did_you_mean(unknown[0], target.properties)}"]
    declared = [{c.property} if c.property else set(c.properties) for c in target.contracts if c.type == "unique"]
    if set(keys) not in declared:
        return [
            f"{' and '.join(keys)} must be unique together on {link.to} for the link to be many-to-one: "
            f"add a contract of type unique with properties {', '.join(keys)} to {link.to}"
        ]
    return []


def _metrics(project: Project) -> Problems:
    from companybrain.semantic.model import SemanticModel

    problems: Problems = []
    for name, metric in project.metrics.items():
        if metric.object is not None and metric.object not in project.objects:
            msg = f"unknown object type {metric.object!r}; {did_you_mean(metric.object, project.objects)}"
            problems.append((project.locate("metrics", name, "object"), msg))
    for name, dim in project.dimensions.items():
        if dim.object not in project.objects:
            msg = f"unknown object type {dim.object!r}; {did_you_mean(dim.object, project.objects)}"
            problems.append((project.locate("dimensions", name, "object"), msg))
        if name in project.metrics:
            problems.append((project.locate("dimensions", name), f"{name!r} is also a metric; names must differ"))
    if problems:
        return problems
    model = SemanticModel(project)
    for name in project.metrics:
        try:
            model.check_metric(name)
        except BrainError as exc:
            problems.append((project.locate("metrics", name, "expr"), exc.message))
    for name in project.dimensions:
        try:
            model.check_dimension(name)
        except BrainError as exc:
            problems.append((project.locate("dimensions", name, "expr"), exc.message))
    return problems


def _policies(project: Project) -> Problems:
    problems: Problems = []
    for name, role in project.roles.items():
        for field, known in (("objects", project.objects), ("metrics", project.metrics)):
            listed = getattr(role, field)
            for item in [] if listed == "*" else [i for i in listed if i != "*"]:
                if item not in known:
                    problems.append(
                        (
                            project.locate("roles", name, field),
                            f"unknown {field[:-1]} {item!r}; {did_you_mean(item, known)}",
                        )
                    )
        for i, rule in enumerate(role.row_filters):
            if rule.object not in project.objects:
                msg = f"unknown object type {rule.object!r}; {did_you_mean(rule.object, project.objects)}"
                problems.append((project.locate("roles", name, "row_filters", i), msg))
        for i, shown in enumerate(role.cockpit.overview if role.cockpit else []):
            where = project.locate("roles", name, "cockpit", "overview", i)
            if shown not in project.metrics:
                problems.append((where, f"unknown metric {shown!r}; {did_you_mean(shown, project.metrics)}"))
            elif "*" not in role.metrics and shown not in role.metrics:
                msg = f"metric {shown!r} is not granted to role {name!r}: grant it, or take it off the overview"
                problems.append((where, msg))
    for name, user in project.users.items():
        for role_name in user.roles:
            if role_name not in project.roles:
                problems.append(
                    (
                        project.locate("users", name, "roles"),
                        f"unknown role {role_name!r}; {did_you_mean(role_name, project.roles)}",
                    )
                )
    if project.default_user and project.default_user not in project.users:
        msg = (
            f"default_user {project.default_user!r} is not a user; {did_you_mean(project.default_user, project.users)}"
        )
        problems.append((Location("policies"), msg))
    return problems
