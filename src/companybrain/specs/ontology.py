"""ontology/*.yaml: object types, their properties, links, mapping from raw tables, contracts."""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

import sqlglot
from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator
from sqlglot import exp

from companybrain.specs.base import DataType, Spec

OBJECT_NAME = r"^[A-Z][A-Za-z0-9]*$"
PROP_NAME = r"^[a-z][a-z0-9_]*$"
SPEC_DIALECT = "duckdb"  # expressions in YAML are written in DuckDB SQL, transpiled per engine


def parse_expression(text: str) -> exp.Expr:
    """Parse a SQL expression written in a project file; raise ValueError with the parser's reason.

    Returns a fresh tree the caller may change (parsed once per text, copied after)."""
    return _parse_cached(text).copy()


def _expression(text: str) -> str:
    parse_expression(text)
    return text


# a SQL expression in a project file: parsed when the file is validated, so a typo is a file:line error
SqlExpression = Annotated[str, AfterValidator(_expression)]


@functools.lru_cache(maxsize=4096)
def _parse_cached(text: str) -> exp.Expr:
    try:
        return sqlglot.parse_one(text, dialect=SPEC_DIALECT)
    except sqlglot.errors.ParseError as exc:
        raise ValueError(f"not a valid SQL expression: {text!r} ({exc.errors[0]['description']})") from None


class Property(Spec):
    type: DataType = "string"
    description: str = ""
    synonyms: list[str] = Field(default_factory=list)
    column: str | None = Field(None, description="Source column (default: the property name).")
    expr: SqlExpression | None = Field(None, description="SQL expression over the source columns instead.")
    tags: list[str] = Field(default_factory=list, description="e.g. pii, salary, hr, financial")
    unit: str | None = None
    currency: str | None = None
    predicted_by: str | None = Field(
        None, description="Set by the factory: the use case whose scores this property holds (not for YAML)."
    )

    @model_validator(mode="after")
    def _one_mapping(self) -> Property:
        if self.column and self.expr:
            raise ValueError("give either column or expr, not both")
        return self


class Link(Spec):
    # dumped by the YAML names (`via`), so that a definition's digest does not depend on Python names
    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True)

    to: Annotated[str, Field(pattern=OBJECT_NAME, description="Target object type.")]
    foreign_key: str | list[str] | None = Field(
        None,
        alias="via",
        description="Property of this object holding the target's key (many-to-one), or several properties "
        "that together match the target's `to_keys` (a key of several columns).",
    )
    to_keys: list[str] | None = Field(
        None,
        exclude_if=lambda keys: keys is None,
        description="The target's properties that `via` matches, in the same order (default: the target's key). "
        "They must be unique together on the target (declare a unique contract there).",
    )
    through: str | None = Field(
        None, description="Raw table pairing the two keys (many-to-many), e.g. raw.hris__skills."
    )
    from_column: str | None = None
    to_column: str | None = None
    reverse: str | None = Field(None, description="Name of the link seen from the target.")
    required: bool = Field(
        False,
        description="Every object has its linked object (key not null, always resolves): checked by blocking "
        "contracts at build, and lets queries join without keeping unmatched rows.",
    )
    default: bool = Field(
        False,
        exclude_if=lambda value: not value,
        description="The way to the target type when this object reaches it in several: `Type.property` and "
        "named dimensions take this link (a claim's own order, not its order line's), and no chain that "
        "reaches the type from here another way.",
    )
    description: str = ""

    @model_validator(mode="after")
    def _shape(self) -> Link:
        if (not self.columns) == (self.through is None):
            raise ValueError("a link needs exactly one of via (many-to-one) or through (many-to-many)")
        if isinstance(self.foreign_key, list) and len(set(self.foreign_key)) != len(self.foreign_key):
            raise ValueError("via names a property twice")
        if self.to_keys is not None and len(self.to_keys) != len(self.columns):
            raise ValueError(f"via has {len(self.columns)} properties but to_keys {len(self.to_keys)}: pair them")
        if len(self.columns) > 1 and self.to_keys is None:
            raise ValueError("a link via several properties needs to_keys: the target's properties they match")
        if self.through and not (self.from_column and self.to_column):
            raise ValueError("a many-to-many link needs from_column and to_column")
        if self.through and self.required:
            raise ValueError("only a many-to-one link (via) can be required")
        if self.through and self.default:
            raise ValueError("only a many-to-one link (via) can be the default way to its type")
        return self

    @property
    def columns(self) -> tuple[str, ...]:
        """The properties of this object that hold the target's key (empty for a many-to-many link)."""
        if self.foreign_key is None:
            return ()
        return (self.foreign_key,) if isinstance(self.foreign_key, str) else tuple(self.foreign_key)

    @property
    def via(self) -> str | None:
        """The one property holding the target's own key; None for a many-to-many link and for a link on
        several columns or on other properties of the target (see `columns` and `pairs`)."""
        return self.columns[0] if len(self.columns) == 1 and self.to_keys is None else None

    def pairs(self, target: ObjectType) -> list[tuple[str, str]]:
        """(property here, property of the target) that must be equal for two objects to be linked."""
        return list(zip(self.columns, self.to_keys or [target.key], strict=True))

    @property
    def cardinality(self) -> Literal["many_to_one", "many_to_many"]:
        return "many_to_one" if self.columns else "many_to_many"


class Contract(Spec):
    """A data contract on the materialized objects of one type."""

    type: Literal["unique", "not_null", "accepted_values", "links_resolve", "freshness", "row_count"]
    property: str | None = None
    properties: list[str] = Field(default_factory=list)
    link: str | None = None
    values: list[Any] = Field(default_factory=list)
    max_age_hours: float | None = Field(None, gt=0)
    min: int | None = None
    max: int | None = None
    severity: Literal["blocking", "warn"] = "blocking"
    as_of: str | None = Field(None, description="freshness: measure against this timestamp instead of now (demo data).")

    @model_validator(mode="after")
    def _needs(self) -> Contract:
        needs = {
            "unique": self.property or self.properties,
            "not_null": self.property or self.properties,
            "accepted_values": self.property and self.values,
            "links_resolve": self.link,
            "freshness": self.property and self.max_age_hours,
            "row_count": self.min is not None or self.max is not None,
        }[self.type]
        if not needs:
            what = {
                "unique": "property",
                "not_null": "property",
                "accepted_values": "property and values",
                "links_resolve": "link",
                "freshness": "property and max_age_hours",
                "row_count": "min or max",
            }[self.type]
            raise ValueError(f"a {self.type} contract needs {what}")
        return self


class ObjectType(Spec):
    description: str = ""
    key: str = Field(description="Property that identifies an object.")
    source: str | None = Field(None, description="Raw table the objects come from, e.g. raw.erp__orders.")
    sql: str | None = Field(None, description="Or a SELECT over raw tables (DuckDB SQL).")
    where: str | None = Field(None, description="Filter applied to the source rows.")
    time: str | None = Field(None, description="Property that places an object in time (periods, time grains).")
    tags: list[str] = Field(default_factory=list, description="e.g. hr: readable only by roles granted it by name.")
    synonyms: list[str] = Field(default_factory=list)
    properties: dict[Annotated[str, Field(pattern=PROP_NAME)], Property]
    links: dict[Annotated[str, Field(pattern=PROP_NAME)], Link] = Field(default_factory=dict)
    contracts: list[Contract] = Field(default_factory=list)

    @field_validator("sql")
    @classmethod
    def _select(cls, text: str | None) -> str | None:
        if text is not None:
            try:
                tree = sqlglot.parse_one(text, dialect=SPEC_DIALECT)
            except sqlglot.errors.ParseError as exc:
                raise ValueError(f"not valid SQL: {exc.errors[0]['description']}") from None
            if not isinstance(tree, exp.Query):
                raise ValueError("sql must be a SELECT")
        return text

    @field_validator("where")
    @classmethod
    def _where(cls, text: str | None) -> str | None:
        if text is not None:
            parse_expression(text)
        return text

    @model_validator(mode="after")
    def _consistent(self) -> ObjectType:
        if (self.source is None) == (self.sql is None):
            raise ValueError("an object type needs exactly one of source (a raw table) or sql")
        if self.key not in self.properties:
            raise ValueError(f"key {self.key!r} is not one of its properties")
        if self.time is not None and self.time not in self.properties:
            raise ValueError(f"time {self.time!r} is not one of its properties")
        for name, link in self.links.items():
            for column in link.columns:
                if column not in self.properties:
                    raise ValueError(f"link {name!r}: via {column!r} is not a property")
            if name in self.properties:
                raise ValueError(f"link {name!r} has the name of a property")
            rival = next(
                (n for n, other in self.links.items() if n < name and other.default and other.to == link.to), None
            )
            if link.default and rival is not None:
                raise ValueError(f"links {rival!r} and {name!r} are both the default way to {link.to}: keep one")
        return self


class OntologyFile(Spec):
    """One file under ontology/: a map of object type name to its declaration."""

    objects: dict[Annotated[str, Field(pattern=OBJECT_NAME)], ObjectType]
