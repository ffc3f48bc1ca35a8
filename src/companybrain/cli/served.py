"""Commands against a served project: while `brain serve` holds the project's embedded warehouse, the
commands that open it send their work to it and print what they print otherwise: `brain ingest` and
`build` as jobs, `tokens` and `audit verify`, and the reads and decisions (`brain query`, `objects`,
`ask`, `replan`, `scenario run`, `actions ...`: `run_command`, delivery/commands.py).

The service's loopback URL and local secret come from `.brain/serve.json` (delivery/local.py); the
request goes to that loopback address only, never through a proxy. A failure comes back as the
service's problem document and leaves as the same `Error: ...` (exit 1) the command would print.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from companybrain.errors import BrainError

if TYPE_CHECKING:
    from companybrain.delivery.local import ServedBy

CONNECT_SECONDS = 15.0  # a service that has just started binds its socket before it accepts
WAIT_SECONDS = 30  # one long poll of a job; the command waits for as many as the job takes
COMMAND_SECONDS = 3600.0  # a command runs in the request (a replan of a large network, a scenario)
_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the secret never leaves loopback


def run_command(state: Any, name: str, /, **args: Any) -> Any:
    """A command's data (delivery/commands.py): computed by the service that holds the warehouse, else here
    on the warehouse. Both pass through the same encoding, so what the CLI prints is the same."""
    from companybrain.delivery import commands
    from companybrain.delivery.local import from_wire, to_wire

    service = service_of(state)
    if service is not None:
        return service.command(name, args)
    from companybrain.cli.data import open_brain

    with open_brain(state) as brain:
        data = commands.run(brain, name, args)
    return from_wire(to_wire(data))


def service_of(state: Any) -> Service | None:
    """The running service that holds this project's warehouse, or None (then the command opens it)."""
    from companybrain.delivery.local import served_by
    from companybrain.project import find_project

    found = served_by(find_project(state.project))
    return Service(found) if found is not None else None


class Service:
    """A running `brain serve` of this project, as the CLI talks to it."""

    def __init__(self, served: ServedBy) -> None:
        from companybrain.delivery.local import is_loopback

        if not is_loopback(urlsplit(served.url).hostname):  # served_by checks it; a second look costs nothing
            raise BrainError(f"refusing to send the local secret to {served.url}: not a loopback address")
        self.served = served

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 60) -> Any:
        """One request; the answer's JSON, or the BrainError its problem document describes."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.served.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.served.secret}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        deadline = time.monotonic() + CONNECT_SECONDS
        while True:
            try:
                with _no_proxy.open(request, timeout=timeout) as answer:
                    return json.loads(answer.read() or b"null")
            except urllib.error.HTTPError as exc:
                raise _problem(exc) from None
            except (urllib.error.URLError, ConnectionError) as exc:
                if time.monotonic() > deadline:
                    raise BrainError(
                        f"`brain serve` (pid {self.served.pid}) holds this project's warehouse but does not answer "
                        f"on {self.served.url}: {getattr(exc, 'reason', exc)}",
                        hint="wait until it has started, or stop it (a file .brain/serve.json left by a process "
                        "that is gone is ignored)",
                    ) from None
                time.sleep(0.2)

    def command(self, name: str, args: dict[str, Any]) -> Any:
        """Run a CLI command in the service (as the `--as` user in `args`); its data, decoded."""
        from companybrain.delivery.local import from_wire, to_wire

        with _waiting(f"{name.replace('.', ' ')}: in `brain serve` (pid {self.served.pid})"):
            answer = self.call("POST", f"/api/v1/local/commands/{name}", {"args": to_wire(args)}, COMMAND_SECONDS)
        return from_wire(answer)

    def run_job(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """Queue an ingest or build job and wait for it; its result, or the BrainError it failed with."""
        with _waiting(f"{kind}: job in `brain serve` (pid {self.served.pid})"):
            job = self.call("POST", f"/api/v1/jobs/{kind}", body)
            while job["status"] in ("queued", "running"):
                job = self.call("GET", f"/api/v1/jobs/{job['job_id']}?wait={WAIT_SECONDS}", timeout=WAIT_SECONDS + 30)
        if job["status"] == "failed":
            error = job["error"]
            raise BrainError(error["message"], hint=error["hint"])
        result: dict[str, Any] = job["result"]
        return result


def _problem(exc: urllib.error.HTTPError) -> BrainError:
    try:
        problem = json.loads(exc.read())
        return BrainError(str(problem["detail"]), hint=problem.get("hint"))
    except (ValueError, KeyError, TypeError):
        return BrainError(f"`brain serve` answered {exc.code} {exc.reason}")


@contextmanager
def _waiting(what: str) -> Iterator[None]:
    """A transient spinner on stderr while the service works; silent when stderr is not a terminal."""
    from companybrain.cli.output import err_console

    if not err_console.is_terminal:
        yield
        return
    with err_console.status(what):
        yield
