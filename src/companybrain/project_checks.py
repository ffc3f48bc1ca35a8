"""Checks across files: every name a declaration uses must exist (with a 'did you mean')."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from companybrain.errors import BrainError, Location, did_you_mean

if TYPE_CHECKING:
    from companybrain.project import Project

Problems = list[tuple[Location, str]]


def cross_check(project: Project) -> Problems:
    from companybrain.specs.actions import cross_check as _actions
    from companybrain.specs.usecases import cross_check as _usecases

    return [*_ontology(project), *_metrics(project), *_policies(project), *_actions(project), *_usecases(project)]


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
    problems: Problems = []
    raw_tables = set(project.raw_tables())
    objects = project.objects
    reverse_names: set[tuple[str, str]] = set()
    for name, obj in objects.items():
        loc = functools.partial(project.locate, "objects", name)
        if obj.source is not None and obj.source not in raw_tables and not obj.source.startswith("factory."):
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
