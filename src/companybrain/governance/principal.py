"""Who is asking: a user with roles, attributes (function, region, site) and a purpose."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from companybrain.errors import NotFound, did_you_mean

if TYPE_CHECKING:
    from companybrain.project import Project

LOCAL = "local"


@dataclass(frozen=True)
class Principal:
    user: str
    roles: tuple[str, ...] = ()
    attributes: dict[str, str] = field(default_factory=dict)
    purpose: str | None = None
    # a project with no policies has no one to restrict: the local operator reads everything
    unrestricted: bool = False

    def as_dict(self) -> dict[str, object]:
        return {"user": self.user, "roles": list(self.roles), "attributes": self.attributes, "purpose": self.purpose}

    def reader_key(self) -> str:
        """Who reads, as a cache key: everything the policies look at."""
        attributes = ",".join(f"{k}={v}" for k, v in sorted(self.attributes.items()))
        return f"{self.user}|{','.join(self.roles)}|{attributes}|{self.purpose}|{self.unrestricted}"


def principal_for(project: Project, user: str | None, purpose: str | None = None) -> Principal:
    """The principal of a named user (or the project's default user)."""
    if not project.users:
        if user not in (None, LOCAL):
            raise NotFound(f"unknown user {user!r}: this project declares no users", hint="add policies/*.yaml")
        return Principal(LOCAL, purpose=purpose, unrestricted=True)
    name = user or project.default_user
    if name is None:
        raise NotFound("no user given and the project has no default_user", hint="pass --as USER")
    if name not in project.users:
        raise NotFound(f"unknown user {name!r}; {did_you_mean(name, project.users)}")
    spec = project.users[name]
    return Principal(name, tuple(spec.roles), dict(spec.attributes), purpose or spec.purpose)
