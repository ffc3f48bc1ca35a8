"""MCP over streamable HTTP, mounted in the real service at /mcp: the SDK's own client session, where
every HTTP request's bearer token decides the user (and its scopes) of the call it carries."""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from companybrain.brain import Brain
from companybrain.delivery.app import BrainService, create_app
from tests.live_service import serve

pytestmark = pytest.mark.slow


class Bearer(httpx2.Auth):
    """The token of the next request; the test changes it between calls of one session."""

    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


@pytest.fixture(scope="module")
def service(small_demo: Callable[[str], Path]) -> Iterator[tuple[str, BrainService, dict[str, str]]]:
    brain = Brain.open(small_demo("mcp_http"))
    app = create_app(brain=brain)
    svc: BrainService = app.state.service
    tokens = {u: svc.tokens.create(u, ["read:metrics", "read:objects"])[0] for u in ("ceo", "emea_rep")}
    tokens["objects_only"] = svc.tokens.create("emea_rep", ["read:objects"])[0]
    try:
        with serve(app) as base:
            yield base, svc, tokens
    finally:
        brain.close()


Step = tuple[str | None, str, dict[str, Any]]  # (token to switch to, tool, arguments)


def session(base: str, token: str, steps: list[Step]) -> tuple[list[str], list[Any]]:
    """One MCP client session over streamable HTTP: list the tools, then make the calls in order."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def run() -> tuple[list[str], list[Any]]:
        auth = Bearer(token)
        async with (
            httpx2.AsyncClient(auth=auth, timeout=60) as http,
            streamable_http_client(f"{base}/mcp", http_client=http) as (read, write),
            ClientSession(read, write) as client,
        ):
            await client.initialize()
            tools = [t.name for t in (await client.list_tools()).tools]
            results: list[Any] = []
            for switch, name, arguments in steps:
                auth.token = switch or auth.token
                result = await client.call_tool(name, arguments)
                text = result.content[0].text if result.content else ""
                results.append(("error", text) if result.is_error else json.loads(text))
            return tools, results

    return anyio.run(run)


REVENUE = {"metrics": ["revenue"], "by": ["region"], "period": "2025"}


def test_each_request_acts_as_its_own_tokens_user(service: tuple[str, BrainService, dict[str, str]]) -> None:
    base, svc, tokens = service
    tools, (rep, ceo, narrow, objects, answer) = session(
        base,
        tokens["emea_rep"],
        [
            (None, "query_metrics", REVENUE),
            (tokens["ceo"], "query_metrics", REVENUE),  # the same session, another token: another user
            (tokens["objects_only"], "query_metrics", REVENUE),
            (None, "find_objects", {"type": "Customer", "limit": 50}),
            (tokens["emea_rep"], "ask", {"question": "revenue by region in 2025"}),
        ],
    )
    assert {"list_metrics", "query_metrics", "find_objects", "get_object", "ask", "run_scenario", "replan"} <= set(
        tools
    )
    assert [row[0] for row in rep["rows"]] == ["EMEA"] and rep["policy"]["user"] == "emea_rep"
    assert len(ceo["rows"]) == 4 and ceo["policy"]["user"] == "ceo"
    assert narrow[0] == "error" and "read:metrics" in narrow[1]
    assert {c["region"] for c in objects["rows"]} == {"EMEA"}
    assert answer["kind"] == "answer" and answer["user"] == "emea_rep"
    assert [row[0] for row in answer["table"]["rows"]] == ["EMEA"]
    with svc.use() as brain:
        users = [r["user_name"] for r in brain.audit.tail(200) if r["action"] in ("query", "objects")]
    assert "ceo" in users and "emea_rep" in users


def test_policy_denials_are_tool_errors(service: tuple[str, BrainService, dict[str, str]]) -> None:
    base, _, tokens = service
    _, (denied,) = session(base, tokens["emea_rep"], [(None, "query_metrics", {"metrics": ["headcount"]})])
    assert denied[0] == "error" and "may not read the metric 'headcount'" in denied[1]


def test_requests_without_a_valid_token_are_refused(service: tuple[str, BrainService, dict[str, str]]) -> None:
    base, _, _ = service
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    headers = {"Accept": "application/json, text/event-stream"}
    with httpx2.Client(base_url=base, timeout=30) as http:
        for auth in ({}, {"Authorization": "Bearer cbt_never-issued"}, {"Authorization": "Basic Y2VvOmNlbw=="}):
            response = http.post("/mcp", json=initialize, headers={**headers, **auth})
            assert response.status_code == 401, response.text
            assert response.headers["content-type"] == "application/problem+json"
    with pytest.raises(Exception):  # noqa: B017 - the SDK surfaces the 401 in several types
        session(base, "cbt_never-issued", [])
