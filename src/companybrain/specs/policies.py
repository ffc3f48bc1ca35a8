"""policies/*.yaml: roles, users, what each role may read, row filters and masking."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from companybrain.specs.base import Spec
from companybrain.specs.ontology import OBJECT_NAME, SqlExpression

Names = list[str] | Literal["*"]


class RowFilter(Spec):
    object: Annotated[str, Field(pattern=OBJECT_NAME)]
    where: SqlExpression = Field(
        description="Over the object's properties and principal.<attribute>: region = principal.region"
    )
    unlinked: Literal["hidden", "visible"] = Field(
        default="hidden",
        description=(
            "A row of another type whose links lead to no object of this one (an opportunity of a prospect account "
            "with no ERP customer): hidden (the default, fail closed), or visible where another filter covers it."
        ),
    )


class CockpitView(Spec):
    """What the role's people land on in the web cockpit."""

    overview: list[str] = Field(
        default_factory=list,
        description="Metrics on the role's overview, in this order (default: chosen from the metrics it grants).",
    )


class Role(Spec):
    description: str = ""
    objects: Names = Field(
        default_factory=list, description="Object types it may read; * = all not tagged hr (add hr ones by name)."
    )
    metrics: Names = Field(
        default_factory=list, description="Metrics it may read; * = all that read no HR data (add those by name)."
    )
    deny_objects: list[str] = Field(default_factory=list)
    deny_metrics: list[str] = Field(default_factory=list)
    row_filters: list[RowFilter] = Field(default_factory=list)
    unmask: list[str] = Field(default_factory=list, description="Property tags it may see unmasked: pii, salary, ...")
    cockpit: CockpitView | None = Field(None, description="Its overview in the web cockpit.")


class User(Spec):
    description: str = ""
    roles: list[str]
    attributes: dict[str, str] = Field(default_factory=dict, description="function, region, site, ...")
    purpose: str | None = Field(None, description="Default purpose recorded in the audit log.")


class PoliciesFile(Spec):
    """One file under policies/."""

    roles: dict[str, Role] = Field(default_factory=dict)
    users: dict[str, User] = Field(default_factory=dict)
    default_user: str | None = Field(None, description="Who the CLI acts as without --as.")
    min_group_size: int | None = Field(
        None,
        ge=2,
        description="A metric that reads values masked for the reader is shown only for groups of at least this "
        "many objects (default 5); smaller groups read as withheld.",
    )
