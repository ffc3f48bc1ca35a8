"""/api/v1/local: what the brain CLI does through the service that holds the embedded warehouse.

`brain tokens create|list|revoke|demo` and `brain audit verify` land here while `brain serve` runs;
each answers what the command prints with `--format json`. The CLI's reads and decisions (`brain
query`, `objects`, `ask`, `replan`, `actions ...`) land on `/local/commands/{name}`, which answers the
command's data as the CLI computes it (delivery/commands.py), in the CLI's own encoding. Only the
service's local secret, over loopback, is taken (delivery/local.py, which says why it may act as any
`--as` user: it is the local operator's); these routes are not part of the public API document.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import Field, StrictInt

from companybrain.delivery.auth import Operator, local_operator, service
from companybrain.delivery.models import ApiModel, jsonable

if TYPE_CHECKING:
    from companybrain.delivery.app import BrainService

router = APIRouter(prefix="/local", include_in_schema=False)
Local = Annotated[Operator, Depends(local_operator)]
Service = Annotated["BrainService", Depends(service)]


class TokenBody(ApiModel):
    user: str = Field(min_length=1, max_length=200)
    scopes: list[Annotated[str, Field(max_length=200)]] = Field(min_length=1, max_length=20)
    expires_days: StrictInt | None = Field(None, description="None: no expiry.")


class VerifyBody(ApiModel):
    anchor: str | None = Field(None, max_length=200)


class CommandBody(ApiModel):
    args: dict[str, Any] = Field(default_factory=dict, description="The command's arguments, as to_wire encodes them.")


@router.post("/tokens")
def create_token(body: TokenBody, who: Local, svc: Service) -> dict[str, Any]:
    with svc.use() as brain:
        brain.principal(body.user)  # an unknown user is an error now, not a token that never works
    secret, token = svc.tokens.create(body.user, body.scopes, body.expires_days)
    return {**token.as_dict(), "token": secret}


@router.get("/tokens")
def list_tokens(who: Local, svc: Service) -> dict[str, Any]:
    return {"tokens": [t.as_dict() for t in svc.tokens.all_tokens()]}


@router.post("/tokens/{token_id}/revoke")
def revoke_token(token_id: Annotated[str, Path(max_length=64)], who: Local, svc: Service) -> dict[str, Any]:
    return svc.tokens.revoke(token_id).as_dict()  # this service forgets it at once: no wait for a cache


@router.post("/tokens/demo")
def demo_tokens(who: Local, svc: Service) -> dict[str, str]:
    from companybrain.delivery.web.signin_tokens import demo_tokens as make

    with svc.use() as brain:
        found: dict[str, str] = make(brain)
    return found


@router.post("/audit/verify")
def verify_audit(body: VerifyBody, who: Local, svc: Service) -> dict[str, Any]:
    svc.flush_audit()  # the cached answers' records first: the chain checked is every read until now
    with svc.use() as brain:
        report: dict[str, Any] = jsonable(brain.audit.verify(body.anchor))
    return report


@router.post("/commands/{name}")
def run_command(name: Annotated[str, Path(max_length=64)], body: CommandBody, who: Local, svc: Service) -> Response:
    """A CLI command computed here, as the `--as` user it names (or the default user); its data, encoded as
    the CLI encodes what it computes itself, so that both print the same."""
    from companybrain.delivery import commands
    from companybrain.delivery.local import from_wire, to_wire

    found = commands.get(name)
    args = from_wire(body.args)
    if found.flush_audit:
        svc.flush_audit()  # the cached answers' records first: the log read is every read until now
    with svc.changing() if found.changes_objects else svc.use() as brain:
        data = commands.run(brain, name, args)
    return Response(json.dumps(to_wire(data)), media_type="application/json")
