"""/api/v1/audit: the latest audit records, for auditors only.

The policy files have no notion of "auditor" yet, so the roles allowed are named here: a role
called `auditor` (when a project declares one) and `data_team`, the team that runs the brain.
Reading the audit log is itself audited, and so is a denied attempt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Query

from companybrain.delivery.auth import Caller, require, service
from companybrain.delivery.models import AuditRecord, AuditTail, jsonable, problem_responses
from companybrain.errors import PolicyDenied

if TYPE_CHECKING:
    from companybrain.delivery.app import BrainService

AUDITOR_ROLES = frozenset({"auditor", "data_team"})

router = APIRouter(prefix="/audit", tags=["audit"], responses=problem_responses(401, 403, 422, 500, 503))
AuditCaller = Annotated[Caller, Depends(require("read:audit"))]
Service = Annotated["BrainService", Depends(service)]


@router.get("", response_model=AuditTail, summary="The latest audit records (auditors only)")
def audit_tail(caller: AuditCaller, svc: Service, n: Annotated[int, Query(ge=1, le=1000)] = 20) -> AuditTail:
    principal = caller.principal
    request = {"n": n}
    with svc.use() as brain:
        version = svc.data_version()
        if not (principal.unrestricted or AUDITOR_ROLES & set(principal.roles)):
            brain.audit.append(principal, "audit", request, None, None, version, "denied: audit-access")
            raise PolicyDenied(
                f"user {principal.user!r} (roles: {', '.join(principal.roles) or 'none'}) may not read the audit log: "
                f"only the roles {', '.join(sorted(AUDITOR_ROLES))} may",
                policy="audit-access",
            )
        records = brain.audit.tail(n)
        brain.audit.append(principal, "audit", request, None, len(records), version)
    return AuditTail(records=[AuditRecord.model_validate(jsonable(r)) for r in records])
