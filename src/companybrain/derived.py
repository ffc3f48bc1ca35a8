"""Values derived from one build's objects as one user reads them, kept between runs.

Some results depend only on the built objects and on who reads them, not on the question or the
scenario at hand: the words the copilot knows, the price elasticity estimated from the whole order
history, the baseline's network plan. Each is kept as JSON in `.brain/derived/`, under a name made
of the build (its id and when it ran), the reader (user, roles, attributes, purpose), the files that
shape what they read (brain.yaml, ontology, metrics, policies) and the package's code: a new build,
another policy or a code change gives another name, so a stale value is never read. A value read
back is audited like the reads it stands for (action `derived`, with its kind). A project folder
that cannot be written still answers, only slower.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.governance.principal import Principal

T = TypeVar("T")
FOLDER = Path(".brain") / "derived"
SHAPING = ("brain.yaml", "ontology", "metrics", "policies")  # what the reads of a derived value depend on


def derived(
    brain: Brain, user: str | Principal | None, kind: str, make: Callable[[], T], key: Any = None
) -> tuple[T, bool]:
    """`make()` (JSON data) for this build, reader and `key` (anything else it depends on), and whether
    it was kept from an earlier run (read back) rather than computed now (and kept)."""
    build = brain.require_built()
    principal = brain.principal(user)
    identity = [kind, key, build, principal.as_dict(), principal.unrestricted]
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode())
    digest.update(_project_digest(brain.project.root))
    digest.update(_code_digest())
    folder = brain.project.root / FOLDER
    path = folder / f"{kind}-{build['build_id']}-{digest.hexdigest()[:16]}.json"
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        value = None
    if value is not None:
        request = {"kind": kind, "file": path.name}
        brain.audit.append(principal, "derived", request, None, None, f"build-{build['build_id']}")
        return value["value"], True
    made = make()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob(f"{kind}-*.json"):  # another build's or policy's: never read again
            if not old.name.startswith(f"{kind}-{build['build_id']}-"):
                old.unlink(missing_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.part")
        partial.write_text(json.dumps({"value": made}, default=str), encoding="utf-8")
        partial.replace(path)  # whole or not at all: another process never reads half a file
    except OSError:
        pass
    return made, False


def _project_digest(root: Path) -> bytes:
    digest = hashlib.sha256()
    for name in SHAPING:
        target = root / name
        for path in sorted(target.glob("*.y*ml")) if target.is_dir() else [target]:
            if path.is_file():
                digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.digest()


@cache
def _code_digest() -> bytes:
    """The package's source files (name, size, modification time): another version or an edit changes it."""
    package = Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path.relative_to(package)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.digest()
