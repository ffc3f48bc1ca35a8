"""A brain project on disk: brain.yaml plus ontology/*.yaml, loaded and cross-checked."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from companybrain.errors import ConfigError, Location, ProjectNotFound, did_you_mean
from companybrain.specs import yaml_loader
from companybrain.specs.ontology import ObjectType, OntologyFile
from companybrain.specs.project import ProjectSpec

PROJECT_FILE = "brain.yaml"


@dataclass
class Project:
    """A validated project: its root folder, brain.yaml and the merged ontology."""

    root: Path
    spec: ProjectSpec
    objects: dict[str, ObjectType]
    object_files: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, root: str | Path) -> Project:
        """Load and validate every file; raise one ConfigError listing all problems found."""
        root = Path(root).resolve()
        if not (root / PROJECT_FILE).is_file():
            raise ProjectNotFound(
                f"no {PROJECT_FILE} in {root}",
                hint="pass -p/--project DIR, set BRAIN_PROJECT, or create one with `brain init DIR`",
            )
        problems: list[tuple[Location, str]] = []
        spec = None
        try:
            spec = yaml_loader.load(ProjectSpec, root / PROJECT_FILE, PROJECT_FILE)
        except ConfigError as exc:
            problems.extend(exc.problems)
        objects: dict[str, ObjectType] = {}
        files: dict[str, str] = {}
        lines: dict[str, dict] = {}
        for path in sorted((root / "ontology").glob("*.y*ml")):
            display = str(path.relative_to(root))
            try:
                data, line_map = yaml_loader.read_yaml(path, display)
                parsed = yaml_loader.validate(OntologyFile, data, display, line_map)
            except ConfigError as exc:
                problems.extend(exc.problems)
                continue
            for name, obj in parsed.objects.items():
                if name in objects:
                    loc = Location(display, line_map.get(("objects", name)), name)
                    problems.append((loc, f"object type {name!r} is already declared in {files[name]}"))
                    continue
                objects[name] = obj
                files[name] = display
                lines[name] = line_map
        if spec is None:
            raise ConfigError(problems)
        project = cls(root=root, spec=spec, objects=objects, object_files=files)
        problems.extend(project._cross_check(lines))
        if problems:
            raise ConfigError(problems)
        return project

    def _cross_check(self, lines: dict[str, dict]) -> list[tuple[Location, str]]:
        problems: list[tuple[Location, str]] = []
        raw_tables = set(self.raw_tables())

        def loc(obj: str, *path: str) -> Location:
            line_map = lines.get(obj, {})
            for end in range(len(path), -1, -1):
                line = line_map.get(("objects", obj, *path[:end]))
                if line:
                    return Location(self.object_files[obj], line, ".".join((obj, *path)))
            return Location(self.object_files[obj], None, obj)

        reverse_names: dict[tuple[str, str], str] = {}
        for name, obj in self.objects.items():
            if obj.source is not None and obj.source not in raw_tables:
                problems.append(
                    (loc(name, "source"), f"unknown raw table {obj.source!r}; {did_you_mean(obj.source, raw_tables)}")
                )
            for link_name, link in obj.links.items():
                target = self.objects.get(link.to)
                if target is None:
                    problems.append(
                        (
                            loc(name, "links", link_name, "to"),
                            f"unknown object type {link.to!r}; {did_you_mean(link.to, self.objects)}",
                        )
                    )
                    continue
                if link.through is not None and link.through not in raw_tables:
                    problems.append(
                        (
                            loc(name, "links", link_name, "through"),
                            f"unknown raw table {link.through!r}; {did_you_mean(link.through, raw_tables)}",
                        )
                    )
                if link.reverse:
                    clash = link.reverse in target.properties or link.reverse in target.links
                    seen = reverse_names.get((link.to, link.reverse))
                    if clash or seen:
                        problems.append(
                            (
                                loc(name, "links", link_name, "reverse"),
                                f"{link.to} already has a property or link named {link.reverse!r}",
                            )
                        )
                    reverse_names[(link.to, link.reverse)] = name
            for i, contract in enumerate(obj.contracts):
                for prop in [p for p in [contract.property, *contract.properties] if p]:
                    if prop not in obj.properties:
                        problems.append(
                            (
                                loc(name, "contracts", str(i)),
                                f"unknown property {prop!r}; {did_you_mean(prop, obj.properties)}",
                            )
                        )
                if contract.link and contract.link not in obj.links:
                    problems.append(
                        (
                            loc(name, "contracts", str(i)),
                            f"unknown link {contract.link!r}; {did_you_mean(contract.link, obj.links)}",
                        )
                    )
        return problems

    # --- lookups -----------------------------------------------------------------------------

    def raw_tables(self) -> list[str]:
        """Every raw table the sources land, as `raw.<source>__<table>`."""
        return [f"raw.{s.name}__{t.name}" for s in self.spec.sources for t in s.tables]

    def object_type(self, name: str) -> ObjectType:
        from companybrain.errors import NotFound

        for candidate in (name, name[:1].upper() + name[1:]):
            if candidate in self.objects:
                return self.objects[candidate]
        raise NotFound(f"unknown object type {name!r}; {did_you_mean(name, self.objects)}")

    def resolve_path(self, text: str) -> Path:
        """A path from a project file: relative to the project root, environment expanded."""
        path = Path(expand_env(text)).expanduser()
        return path if path.is_absolute() else self.root / path

    def state_dir(self) -> Path:
        path = self.root / ".brain"
        path.mkdir(exist_ok=True)
        return path


def expand_env(text: str) -> str:
    """Expand ${VAR} from the environment; an unset variable is an error naming it."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError.at(Location(PROJECT_FILE), f"environment variable {name} is not set")
        return os.environ[name]

    return re.sub(r"\$\{(\w+)\}", sub, text)


def find_project(explicit: str | None) -> Path:
    """The project folder: -p/--project, else $BRAIN_PROJECT, else the current folder."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("BRAIN_PROJECT")
    return Path(env) if env else Path.cwd()
