"""Options shared by several commands."""

from __future__ import annotations

from typing import Annotated

import typer

AsOpt = Annotated[
    str | None,
    typer.Option("--as", envvar="BRAIN_USER", help="Read as this user (their policies apply). Default: default_user."),
]
