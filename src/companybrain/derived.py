"""Values derived from one build's objects as one user reads them, kept between runs.

Some results depend only on the built objects and on who reads them, not on the question or the
scenario at hand: the words the copilot knows, the price elasticity estimated from the whole order
history, the baseline's network plan. Each is kept in `.brain/derived/` (as JSON, or pickled where it
is made of the package's own classes and reading it back must be quick), under a name made
of the build (its id and when it ran), the reader (user, roles, attributes, purpose), the project as
the reading Brain loaded it (brain.yaml, object types with the decision types actions add, metrics,
dimensions, roles, users) and the package's code: a new build, another policy or a code change gives
another name, so a stale value is never read, and a Brain loaded before a policy changed never keeps
a value under the new policy's name. A value read back is audited in place of the reads it stands
for (action `derived`, with its kind and file). A project folder that cannot be written still
answers, only slower.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.governance.principal import Principal
    from companybrain.project import Project

T = TypeVar("T")
FOLDER = Path(".brain") / "derived"
NAME = re.compile(r"(?P<kind>[a-z_]+)-(?P<build>\d+)-")  # kind-build-digest.json|pickle (kinds have no dash)


def derived(
    brain: Brain,
    user: str | Principal | None,
    kind: str,
    make: Callable[[], T],
    key: Any = None,
    *,
    pickled: bool = False,
) -> tuple[T, bool]:
    """`make()` (JSON data, or any picklable value when `pickled`) for this build, reader and `key`
    (anything else it depends on), and whether it was kept from an earlier run (read back) rather than
    computed now (and kept)."""
    assert NAME.fullmatch(f"{kind}-1-"), f"a kind is lower-case words joined by _, not {kind!r}"
    build = brain.require_built()
    principal = brain.principal(user)
    identity = [kind, key, build, principal.reader_key()]
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode())
    digest.update(project_digest(brain.project))
    digest.update(_code_digest())
    folder = brain.project.root / FOLDER
    prefix = f"{kind}-{build['build_id']}-"
    path = folder / f"{prefix}{digest.hexdigest()[:16]}.{'pickle' if pickled else 'json'}"
    try:
        value = pickle.loads(path.read_bytes()) if pickled else json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError):
        value = None
    if value is not None:
        request = {"kind": kind, "file": path.name}
        brain.audit.append(principal, "derived", request, None, None, f"build-{build['build_id']}")
        return value["value"], True
    made = make()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        started = _epoch(build["started_at"])
        for old in folder.iterdir():  # an earlier build's, whatever its kind (or a crashed write's), or one
            named = NAME.match(old.name)  # written before this build began (a warehouse made anew)
            other = int(named["build"]) if named else int(build["build_id"])
            if other < int(build["build_id"]) or (other > int(build["build_id"]) and old.stat().st_mtime < started):
                old.unlink(missing_ok=True)
        handle, partial = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".part")
        os.fchmod(handle, 0o666 & ~_umask())  # as any file the user writes (mkstemp's is theirs alone)
        with os.fdopen(handle, "wb") as out:
            if pickled:
                pickle.dump({"value": made}, out, protocol=pickle.HIGHEST_PROTOCOL)
            else:
                out.write(json.dumps({"value": made}, default=str).encode("utf-8"))
        os.replace(partial, path)  # whole or not at all: nobody reads half a file
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        pass
    return made, False


def project_digest(project: Project) -> bytes:
    """The project as loaded: what the reads of a derived value depend on (not the files on disk now)."""
    digest = hashlib.sha256(project.spec.model_dump_json().encode())
    for section in (project.objects, project.metrics, project.dimensions, project.roles, project.users):
        for name, spec in sorted(section.items()):
            digest.update(name.encode() + b"\0" + spec.model_dump_json().encode())
    return digest.digest()


def _epoch(started_at: Any) -> float:
    """A build's start (naive UTC, or text) as seconds since the epoch."""
    when = started_at if isinstance(started_at, datetime) else datetime.fromisoformat(str(started_at))
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


@cache
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@cache
def _code_digest() -> bytes:
    """The package's source files (name, size, modification time): another version or an edit changes it."""
    package = Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path.relative_to(package)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.digest()
