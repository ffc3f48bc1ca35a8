"""Sign-in tokens for a demo: one API token per declared user, reused from run to run.

`make demo` prints them next to the cockpit's address. A token is shown once by `brain tokens
create` and stored only hashed, so to print the same tokens again the secrets are kept in the
project's `.brain/demo-tokens.json` (mode 0600). This is for demos and local trials; real users
get their own token (`brain tokens create USER`) or sign in through OIDC.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from companybrain.delivery.tokens import TokenStore

if TYPE_CHECKING:
    from companybrain.brain import Brain

FILE = Path(".brain") / "demo-tokens.json"
SCOPES = ("read:metrics", "read:objects", "write:actions")  # what each demo user may do, their policies decide
EXPIRES_DAYS = 30


def demo_tokens(brain: Brain, path: Path | None = None) -> dict[str, str]:
    """user -> a valid token secret for every user the project declares; creates only what is missing
    (a token revoked, expired or no longer in the warehouse is replaced)."""
    file = path or brain.project.root / FILE
    try:
        kept: dict[str, str] = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        kept = {}
    store = TokenStore(brain.warehouse)
    tokens: dict[str, str] = {}
    for user in brain.project.users:
        secret = kept.get(user)
        record = store.lookup(secret) if secret else None
        if secret is None or record is None or record.user != user or record.state() != "active":
            secret = store.create(user, SCOPES, EXPIRES_DAYS)[0]
        tokens[user] = secret
    if tokens != kept:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(tokens, out, indent=2)
        file.chmod(0o600)  # also when the file was there before with a looser mode
    return tokens
