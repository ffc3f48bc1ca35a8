"""Alert channels: apprise URLs (mail, Slack, Teams, webhooks), checked against the project's egress
allow-list before anything leaves the machine, sent with retries, every attempt reported."""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

from companybrain.errors import BrainError, MissingDependency
from companybrain.governance.egress import require_host

# services whose URL does not name the host they call: the host is fixed by the service
SERVICE_HOSTS = {"slack": "hooks.slack.com", "discord": "discord.com"}
# services whose URL host is the host they call; Microsoft Teams is `workflows://` (a Power Automate
# or Logic Apps webhook): apprise 2.x dropped `msteams://` when Microsoft retired Office 365 connectors
URL_HOSTS = ("json", "jsons", "xml", "xmls", "form", "forms", "mailto", "mailtos", "workflows", "workflow")
SUPPORTED = (*URL_HOSTS, *SERVICE_HOSTS)


class DeliveryFailed(BrainError):
    """A channel did not accept the message (server down, rejected): worth retrying."""

    transient = True


@dataclass
class Attempt:
    """One try to deliver on one channel."""

    channel: str
    attempt: int
    status: str  # sent | failed | refused
    error: str | None
    at: float
    recipient: str | None = None  # the user of a personal channel; None on a shared one


def channel_host(url: str) -> str:
    """The host an apprise URL would call; a BrainError for a scheme we cannot place."""
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme in SERVICE_HOSTS:
        return SERVICE_HOSTS[scheme]
    if scheme not in URL_HOSTS:
        raise BrainError(
            f"unsupported alert channel scheme {scheme!r} in {redact(url)!r}",
            hint=f"use one of: {', '.join(f'{s}://' for s in SUPPORTED)}",
        )
    if scheme.startswith("mailto"):
        # apprise sends mail for well-known domains to their SMTP host (gmail.com -> smtp.gmail.com)
        plugin = _apprise().Apprise.instantiate(url, suppress_exceptions=True)
        smtp = getattr(plugin, "smtp_host", None) or parse_qs(parsed.query).get("smtp", [None])[0]
        if smtp:
            return str(smtp).split(":")[0].lower()
    return (parsed.hostname or "").lower()


def redact(url: str) -> str:
    """What a log may show of a channel: scheme, host, port and short path segments; never secrets."""
    parsed = urlparse(url)
    try:
        host = channel_host(url)
    except BrainError:
        host = parsed.hostname or "?"
    if parsed.scheme.lower() in SERVICE_HOSTS:
        return f"{parsed.scheme}://{host}"
    port = f":{parsed.port}" if parsed.port else ""
    # webhook paths often carry the secret: long segments are hidden, short ones tell channels apart
    path = "/".join(p if len(p) <= 16 else "***" for p in parsed.path.split("/"))
    return f"{parsed.scheme}://{host}{port}{path}"


def check_egress(url: str, allow: list[str]) -> None:
    """Raise EgressDenied unless the channel's host is on the allow-list."""
    require_host(channel_host(url), allow, f"channel {redact(url)}", "this host may receive the project's alerts")


@functools.cache
def _apprise() -> Any:
    try:
        with warnings.catch_warnings():
            # apprise's e-mail plugin imports the deprecated `imghdr` module (Python 3.11/3.12)
            warnings.simplefilter("ignore", DeprecationWarning)
            import apprise

            apprise.Apprise().add("json://localhost")  # loads the plugins while warnings are silenced
    except ImportError:
        raise MissingDependency("apprise", "alerts", "alert delivery") from None
    return apprise


def send_once(url: str, title: str, body: str) -> None:
    """Deliver one message on one channel; a BrainError (transient) saying why it failed."""
    apprise = _apprise()
    sender = apprise.Apprise()
    if not sender.add(url):
        raise BrainError(f"apprise does not understand the channel {redact(url)}", hint="check the URL's syntax")
    with apprise.LogCapture(level=apprise.logging.WARNING) as logs:
        ok = sender.notify(body=body, title=title)
        detail = " ".join(logs.getvalue().split())[-300:]
    if not ok:
        raise DeliveryFailed(f"delivery on {redact(url)} failed: {detail or 'no detail from apprise'}")


def deliver(
    url: str,
    title: str,
    body: str,
    allow: list[str],
    attempts: int,
    sleep: Callable[[float], None] = time.sleep,
    backoff: float = 0.2,
) -> list[Attempt]:
    """Try a channel up to `attempts` times (backoff between tries); refused at once if its host is not
    allowed. Never raises: every outcome is an Attempt for the delivery log."""
    channel = redact(url)
    try:
        check_egress(url, allow)
    except BrainError as exc:
        return [Attempt(channel, 1, "refused", exc.message, time.time())]
    tries: list[Attempt] = []
    for n in range(1, attempts + 1):
        try:
            send_once(url, title, body)
        except BrainError as exc:
            tries.append(Attempt(channel, n, "failed", exc.message, time.time()))
            if not exc.transient:
                break
            if n < attempts:
                sleep(backoff * 2 ** (n - 1))
            continue
        tries.append(Attempt(channel, n, "sent", None, time.time()))
        break
    return tries
