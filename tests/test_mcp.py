"""The MCP server: a real MCP client session over stdio lists and calls the brain's tools, as the token's user."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from companybrain import Brain
from companybrain.delivery.tokens import TokenStore

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(small_demo: Callable[[str], Path]) -> Iterator[tuple[Path, str]]:
    root = small_demo("mcp")
    with Brain.open(root) as brain:
        secret, _ = TokenStore(brain.warehouse).create("emea_rep", ["read:metrics", "read:objects"])
    yield root, secret


def session_calls(root: Path, token: str, calls: list[tuple[str, dict[str, Any]]]) -> tuple[list[str], list[Any]]:
    """Start `brain mcp` over stdio with the SDK's client, list the tools, make the calls."""
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    async def run() -> tuple[list[str], list[Any]]:
        params = StdioServerParameters(
            command=sys.executable,
            args=["-c", "from companybrain.cli.main import main; main()", "-p", str(root), "mcp"],
            env={"BRAIN_TOKEN": token, "PATH": "/usr/bin:/bin"},
        )
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            tools = [t.name for t in (await session.list_tools()).tools]
            results = []
            for name, arguments in calls:
                result = await session.call_tool(name, arguments)
                text = result.content[0].text if result.content else ""
                results.append(("error", text) if result.is_error else json.loads(text))
            return tools, results

    return anyio.run(run)


def test_tools_are_listed_and_called_as_the_tokens_user(project: tuple[Path, str]) -> None:
    root, token = project
    tools, (by_region, denied, customers, answer) = session_calls(
        root,
        token,
        [
            ("query_metrics", {"metrics": ["revenue"], "by": ["region"], "period": "2025"}),
            ("query_metrics", {"metrics": ["headcount"]}),
            ("find_objects", {"type": "Customer", "limit": 50}),
            ("ask", {"question": "revenue by region in 2025"}),
        ],
    )
    assert {"list_metrics", "query_metrics", "find_objects", "get_object", "ask", "run_scenario", "replan"} <= set(
        tools
    )
    assert [row[0] for row in by_region["rows"]] == ["EMEA"]  # the token's user is a sales rep in EMEA
    assert by_region["policy"]["user"] == "emea_rep" and by_region["sql"]
    assert denied[0] == "error" and "may not read the metric 'headcount'" in denied[1]
    assert {c["region"] for c in customers["rows"]} == {"EMEA"}
    assert answer["kind"] == "answer" and [row[0] for row in answer["table"]["rows"]] == ["EMEA"]
    with Brain.open(root) as brain:  # every call was audited as the token's user
        users = {r["user_name"] for r in brain.audit.tail(20)}
    assert users == {"emea_rep"}


def test_an_unknown_token_is_refused(project: tuple[Path, str]) -> None:
    root, _ = project
    # the server exits before the session starts (Error: unknown ... API token): the client cannot connect
    with pytest.raises(Exception):  # noqa: B017 - the SDK surfaces a closed stdio stream in several types
        session_calls(root, "cbt_not-a-token", [])


def test_an_agent_proposes_an_action_that_waits_for_approval(project: tuple[Path, str]) -> None:
    root, _ = project
    with Brain.open(root) as brain:
        secret, _ = TokenStore(brain.warehouse).create("cfo", ["read:metrics", "read:objects", "write:actions"])
        order = brain.objects("Order", where="status = 'open'", limit=1, user="cfo")[0]["order_id"]
    delay = {
        "order_id": order,
        "due_date": "2026-03-05",
        "new_date": "2026-03-12",
        "delay_days": 7,
        "value": 9_000.0,
    }
    _, (types, proposed, unknown) = session_calls(
        root,
        secret,
        [
            ("list_action_types", {}),
            ("propose_action", {"action_type": "delay_order", "parameters": delay}),
            ("propose_action", {"action_type": "delay_ordr", "parameters": delay}),
        ],
    )
    assert "delay_order" in {t["name"] for t in types["action_types"]}
    action = proposed["proposed"][0]
    assert action["status"] == "proposed" and action["proposed_by"] == "cfo" and action["source"] == "mcp"
    assert unknown[0] == "error" and "did you mean 'delay_order'" in unknown[1]
    with Brain.open(root) as brain:  # nothing applied: it waits for someone the policy names
        assert brain.actions.get(action["action_id"])["status"] == "proposed"
