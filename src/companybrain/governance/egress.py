"""The egress guard: the brain calls no host the project did not allow (brain.yaml `egress.allow`).

Every outbound call - alert channels, action webhooks, the copilot's LLM endpoint - asks here first,
so sovereignty is one rule enforced in one place, not a promise kept by each caller."""

from __future__ import annotations

from companybrain.errors import PolicyDenied


class EgressDenied(PolicyDenied):
    """A call would reach a host the project does not allow."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, policy="egress", hint=hint)


def host_allowed(host: str, allow: list[str] | set[str]) -> bool:
    """Exact host, or `*.domain` for its subdomains (never the bare domain's look-alikes)."""
    host = host.lower()
    for entry in allow:
        entry = entry.lower().strip()
        if host == entry or (entry.startswith("*.") and host.endswith(entry[1:])):
            return True
    return False


def require_host(host: str, allow: list[str] | set[str], what: str, purpose: str) -> None:
    """Raise EgressDenied unless `host` is allowed; `what` names the call, `purpose` why it would be added."""
    if not host_allowed(host, allow):
        raise EgressDenied(
            f"{what} calls host={host!r}, which is not in brain.yaml egress.allow "
            f"({', '.join(sorted(allow)) or 'empty'})",
            hint=f"add {host!r} to egress.allow in brain.yaml if {purpose}",
        )
