"""A brain project on disk: brain.yaml, ontology/, metrics/ and policies/, loaded and cross-checked."""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import sys
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from companybrain.errors import ConfigError, Location, ProjectNotFound, did_you_mean
from companybrain.specs import yaml_loader
from companybrain.specs.actions import ActionsFile, ActionType
from companybrain.specs.alerts import AlertRule, AlertsFile
from companybrain.specs.apps import AppSpec
from companybrain.specs.metrics import Calendar, Dimension, Metric, MetricsFile
from companybrain.specs.ontology import ObjectType, OntologyFile
from companybrain.specs.policies import PoliciesFile, Role, User
from companybrain.specs.project import ProjectSpec
from companybrain.specs.scenarios import ScenarioSpec
from companybrain.specs.usecases import UseCase

PROJECT_FILE = "brain.yaml"
ONE_PER_FILE = ("scenarios", "usecases", "apps")
# the last project validated, kept for the next process (see Project.load)
CACHE_FILE = Path(".brain") / "project.pickle"
_CACHE_FORMAT = b"companybrain project cache 1"


# folder -> (file model, the dict sections it declares)
FOLDERS: dict[str, tuple[type[BaseModel], tuple[str, ...]]] = {
    "ontology": (OntologyFile, ("objects",)),
    "metrics": (MetricsFile, ("metrics", "dimensions")),
    "policies": (PoliciesFile, ("roles", "users")),
    "scenarios": (ScenarioSpec, ("scenarios",)),
    "alerts": (AlertsFile, ("alerts",)),
    "actions": (ActionsFile, ("actions",)),
    "usecases": (UseCase, ("usecases",)),
    "apps": (AppSpec, ("apps",)),
}


@dataclass
class Project:
    """A validated project: its root folder, brain.yaml, the ontology, metrics and policies."""

    root: Path
    spec: ProjectSpec
    objects: dict[str, ObjectType]
    metrics: dict[str, Metric] = field(default_factory=dict)
    dimensions: dict[str, Dimension] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    scenarios: dict[str, ScenarioSpec] = field(default_factory=dict)
    alerts: dict[str, AlertRule] = field(default_factory=dict)
    actions: dict[str, ActionType] = field(default_factory=dict)
    usecases: dict[str, UseCase] = field(default_factory=dict)
    apps: dict[str, AppSpec] = field(default_factory=dict)
    calendar: Calendar = field(default_factory=Calendar)
    default_user: str | None = None
    min_group_size: int = 5
    # (section, name) -> (file, line map of that file): where each declaration came from
    origins: dict[tuple[str, str], tuple[str, dict]] = field(default_factory=dict)

    @classmethod
    def load(cls, root: str | Path) -> Project:
        """Load and validate every file; raise one ConfigError listing all problems found.

        Validating takes a second or more on a big project, so a project that loaded without problems is kept
        in `.brain/project.pickle` under a digest of what it was made from: the contents of every file read,
        the project's folder, and the package's code and versions. A later load whose digest is the same reads
        it back; any change (a file edited, added or removed, another version) validates anew, with the same
        errors as ever. Only a file this user wrote and nobody else may change is read back."""
        root = Path(root).resolve()
        if not (root / PROJECT_FILE).is_file():
            raise ProjectNotFound(
                f"no {PROJECT_FILE} in {root}",
                hint="pass -p/--project DIR, set BRAIN_PROJECT, or create one with `brain init DIR`",
            )
        digest = _files_digest(root)
        kept = _read_kept(root, digest) if digest is not None else None
        if kept is not None:
            return kept
        project = cls._validate(root)
        if digest is not None and _files_digest(root) == digest:  # nothing changed while it was read
            _keep(root, digest, project)
        return project

    @classmethod
    def _validate(cls, root: Path) -> Project:
        problems: list[tuple[Location, str]] = []
        spec = None
        try:
            spec = yaml_loader.load(ProjectSpec, root / PROJECT_FILE, PROJECT_FILE)
        except ConfigError as exc:
            problems.extend(exc.problems)
        sections: dict[str, dict[str, Any]] = {s: {} for _, names in FOLDERS.values() for s in names}
        origins: dict[tuple[str, str], tuple[str, dict]] = {}
        singles: dict[str, Any] = {}
        for folder, (model, names) in FOLDERS.items():
            for path in _folder_files(root, folder):
                display = str(path.relative_to(root))
                try:
                    data, line_map = yaml_loader.read_yaml(path, display)
                    parsed = yaml_loader.validate(model, data, display, line_map)
                except ConfigError as exc:
                    problems.extend(exc.problems)
                    continue
                for section in names:
                    for name, value in getattr(parsed, section).items():
                        if (section, name) in origins:
                            loc = Location(display, line_map.get((section, name)), name)
                            other = origins[(section, name)][0]
                            problems.append((loc, f"{section[:-1]} {name!r} is already declared in {other}"))
                            continue
                        sections[section][name] = value
                        origins[(section, name)] = (display, line_map)
                for single in ("calendar", "default_user", "min_group_size"):
                    value = getattr(parsed, single, None)
                    if value is not None:
                        singles[single] = value
        if spec is None:
            raise ConfigError(problems)
        project = cls(root=root, spec=spec, origins=origins, **sections, **singles)  # type: ignore[arg-type]
        if not problems:
            from companybrain.project_checks import attach_decision_objects, attach_usecase_outputs

            problems.extend(attach_usecase_outputs(project))
            problems.extend(attach_decision_objects(project))
        if not problems:
            from companybrain.project_checks import cross_check

            problems.extend(cross_check(project))
        if problems:
            raise ConfigError(problems)
        return project

    def locate(self, section: str, name: str, *path: str | int) -> Location:
        """The file and line of a declaration, or of a key inside it."""
        file, line_map = self.origins.get((section, name), (PROJECT_FILE, {}))
        # a scenario or use case is a whole file: its keys sit at the top of the document
        prefix: tuple[str, ...] = () if section in ONE_PER_FILE else (section, name)
        for end in range(len(path), -1, -1):
            line = line_map.get((*prefix, *path[:end])) if path[:end] or prefix else None
            if line:
                return Location(file, line, ".".join(str(p) for p in (name, *path)))
        return Location(file, None, name)

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


def _folder_files(root: Path, folder: str) -> list[Path]:
    return sorted((root / folder).glob("*.y*ml"))


def _files_digest(root: Path) -> bytes | None:
    """What a loaded project is made of: every file Project.load reads (name and contents), the folder and
    the code; None when a file cannot be read (then nothing is kept or read back)."""
    digest = hashlib.sha256(_code_digest())
    digest.update(str(root).encode() + b"\0")
    files = [root / PROJECT_FILE, *(path for folder in FOLDERS for path in _folder_files(root, folder))]
    try:
        for path in files:
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    except OSError:
        return None
    return digest.digest()


@cache
def _code_digest() -> bytes:
    """The code that validates a project and the classes of what it holds: the package's source files
    (name, size, modification time), its version and those of Python and the libraries the specs use."""
    import pydantic
    import sqlglot
    from ruamel import yaml

    from companybrain import __version__

    package = Path(__file__).parent
    digest = hashlib.sha256(_CACHE_FORMAT)
    for version in (sys.version, __version__, pydantic.VERSION, sqlglot.__version__, yaml.__version__):
        digest.update(str(version).encode() + b"\0")
    for folder, dirs, files in sorted(os.walk(package)):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".py"):
                stat = os.stat(os.path.join(folder, name))
                digest.update(f"{os.path.relpath(folder, package)}/{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.digest()


def _read_kept(root: Path, digest: bytes) -> Project | None:
    """The project kept under `digest`, or None (none kept, another digest, or a file others could have written)."""
    try:
        with (root / CACHE_FILE).open("rb") as kept:
            stat = os.fstat(kept.fileno())
            if stat.st_mode & 0o022 or (hasattr(os, "getuid") and stat.st_uid != os.getuid()):
                return None  # unpickling runs code: only a file of this user's that nobody else may change
            if kept.readline() != digest.hex().encode() + b"\n":
                return None
            project = pickle.load(kept)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError, ValueError):
        return None  # a file cut short, or classes that changed under the same digest: validate anew
    return project if isinstance(project, Project) else None


def _keep(root: Path, digest: bytes, project: Project) -> None:
    """Write the project for the next load, whole or not at all; a folder that cannot be written is skipped."""
    folder = root / CACHE_FILE.parent
    partial = None
    try:
        folder.mkdir(exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=folder, prefix="project.", suffix=".part")  # mode 0600
        with os.fdopen(handle, "wb") as out:
            out.write(digest.hex().encode() + b"\n")
            pickle.dump(project, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, root / CACHE_FILE)
        partial = None
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        pass  # not kept: the next load validates again
    finally:
        if partial is not None:
            Path(partial).unlink(missing_ok=True)


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
