"""The leak matrix: every demo user x every read path (REST, MCP over HTTP, the cockpit, the copilot, the
CLI) x the values that user must not see. Each probe is a question an attacker would ask of the path
(a breakdown by a key, a list, one object, a many-to-many link, a question in words); each answer is
searched for the forbidden values, read straight from the warehouse. Zero leaks is the only pass.

Alerts and notifications have their own matrix (tests/test_alert_leaks.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from sqlglot import exp

from companybrain import Brain
from companybrain.delivery.app import BrainService, create_app
from companybrain.semantic.query import MetricQuery
from tests.live_service import serve

pytestmark = pytest.mark.slow

USERS = ["ceo", "cfo", "emea_rep", "mke_plant_manager", "emea_hrbp", "data_steward"]
SCOPES = ["read:metrics", "read:objects"]
QUESTIONS = [
    "what is the salary of employee E000001?",
    "headcount cost by employee",
    "list the employees in Milwaukee with their email",
    "revenue by customer in 2025",
    "revenue by order",
]


@dataclass
class Forbidden:
    """What one user must never be shown, as text to search for."""

    words: set[str] = field(default_factory=set)  # ids, names, emails: whole words
    numbers: set[str] = field(default_factory=set)  # exact figures, as JSON and as the cockpit shows them

    def found_in(self, text: str, asked: str = "") -> list[str]:
        """The forbidden values in `text`, but for those the probe itself named (an error may repeat them)."""
        # a word stands alone: at the start of a run of [\w.@-] and at its end or before a '.'; a number is a
        # run of [\d.,] or that run but a final '.' - looked up in sets, one pass over the text (a page of
        # thousands of rows against thousands of values would be millions of regex searches)
        runs = set()
        for run in re.findall(r"[\w.@-]+", text):
            parts = run.split(".")
            runs.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        figures = {f for run in re.findall(r"[\d.,]+", text) for f in (run, run.rstrip("."))}
        hits = []
        for w in self.words:
            if w in asked:
                continue
            if re.fullmatch(r"[\w.@-]+", w):
                if w in runs:
                    hits.append(w)
            elif re.search(rf"(?<![\w.@-]){re.escape(w)}(?![\w@-])", text):  # a name of several words
                hits.append(w)
        hits += [n for n in self.numbers if n in figures]
        return hits


def _table(brain: Brain, name: str, *columns: str) -> list[dict[str, Any]]:
    query = exp.select(*columns).from_(exp.table_(name, db="ontology"))
    return brain.warehouse.query_arrow(query).to_pylist()


def _figures(value: float) -> set[str]:
    return {f"{value:.1f}", f"{value:,.0f}"} if value >= 1000 else set()


def forbidden_for(brain: Brain) -> dict[str, Forbidden]:
    """Per user, from the warehouse itself (not a governed read): what their policies hide."""
    employees = _table(brain, "employee", "employee_id", "email", "salary", "region")
    customers = _table(brain, "customer", "customer_id", "name", "region")
    order_totals = [r["order_total"] for r in _table(brain, "order", "order_total") if r["order_total"]]
    out = {u: Forbidden() for u in USERS}
    for user in USERS:
        policy_user = brain.principal(user)
        unmask = {t for role in policy_user.roles for t in brain.project.roles[role].unmask}
        f = out[user]
        if "pii" not in unmask or user == "emea_rep":  # the rep may see pii, but no Employee at all
            f.words |= {e["email"] for e in employees}
        if "salary" not in unmask:
            f.numbers |= {n for e in employees if e["salary"] for n in _figures(e["salary"])}
        if "financial" not in unmask:
            f.numbers |= {n for total in order_totals[:300] for n in _figures(total)}
    out["emea_rep"].words |= {c["customer_id"] for c in customers if c["region"] != "EMEA"}
    out["emea_rep"].words |= {c["name"] for c in customers if c["region"] != "EMEA" and len(c["name"]) > 8}
    # the HR partner may see personal data, of EMEA's people only (ids of others may show as a visible
    # person's manager_id: a key, not their data)
    out["emea_hrbp"].words |= {e["email"] for e in employees if e["region"] != "EMEA"}
    return out


@pytest.fixture(scope="module")
def world(small_demo: Callable[[str], Path]) -> Iterator[tuple[str, dict[str, str], dict[str, Forbidden], Path]]:
    cli_root = small_demo("leaks_cli")
    brain = Brain.open(small_demo("leaks"))
    forbidden = forbidden_for(brain)
    app = create_app(brain=brain)
    svc: BrainService = app.state.service
    tokens = {u: svc.tokens.create(u, SCOPES)[0] for u in USERS}
    try:
        with serve(app) as base:
            yield base, tokens, forbidden, cli_root
    finally:
        brain.close()


def _rest(base: str, token: str) -> list[tuple[str, str]]:
    headers = {"Authorization": f"Bearer {token}"}
    probes = [
        "/api/v1/metrics/query?metric=headcount_cost&by=Employee.employee_id&limit=100",
        "/api/v1/metrics/query?metric=headcount_cost&where=Employee.employee_id%20%3D%20%27E000001%27",
        "/api/v1/metrics/query?metric=revenue&by=Order.order_id&limit=100",
        "/api/v1/metrics/query?metric=revenue&by=Customer.customer_id&limit=300",
        "/api/v1/objects/Employee?limit=300",
        "/api/v1/objects/Employee/E000002",
        "/api/v1/objects/Skill/SK001",
        "/api/v1/objects/Skill/SK002",
        "/api/v1/objects/Customer?limit=300",
        "/api/v1/objects/Site/MKE",
    ]
    with httpx2.Client(base_url=base, headers=headers, timeout=120) as http:
        answers = [(url, http.get(url).text) for url in probes]
        for question in QUESTIONS:
            answers.append((f"ask: {question}", http.post("/api/v1/ask", json={"question": question}).text))
    return answers


def _mcp(base: str, token: str) -> list[tuple[str, str]]:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    calls: list[tuple[str, dict[str, Any]]] = [
        ("query_metrics", {"metrics": ["headcount_cost"], "by": ["Employee.employee_id"], "limit": 100}),
        ("query_metrics", {"metrics": ["revenue"], "by": ["Order.order_id"], "limit": 100}),
        ("find_objects", {"type": "Employee", "limit": 300}),
        ("find_objects", {"type": "Customer", "limit": 300}),
        ("get_object", {"type": "Skill", "key": "SK001"}),
        ("get_object", {"type": "Employee", "key": "E000002"}),
        ("ask", {"question": QUESTIONS[0]}),
        ("ask", {"question": QUESTIONS[3]}),
    ]

    async def run() -> list[tuple[str, str]]:
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=120) as http,
            streamable_http_client(f"{base}/mcp", http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            out = []
            for name, arguments in calls:
                result = await session.call_tool(name, arguments)
                out.append((f"mcp {name} {arguments}", " ".join(getattr(c, "text", "") for c in result.content)))
            return out

    return anyio.run(run)


def _cockpit(base: str, token: str) -> list[tuple[str, str]]:
    pages = [
        "/cockpit/",
        "/cockpit/finance?metric=revenue&by=OrderLine.order_line_id",
        "/cockpit/finance?metric=revenue&by=customer",
        "/cockpit/sales",
        "/cockpit/people",
        "/cockpit/operations",
        "/cockpit/predictions",
        "/cockpit/objects/Employee/E000002",
        "/cockpit/objects/Customer?region=APAC",
        "/cockpit/export.csv?m=revenue&by=Customer.customer_id",
        "/cockpit/export.csv?type=Employee",
        "/cockpit/alerts",
    ]
    with httpx2.Client(base_url=base, timeout=120, follow_redirects=True) as http:
        signin = http.post("/cockpit/signin", data={"token": token, "next": "/cockpit/"})
        assert signin.status_code == 200, signin.text
        answers = []
        for page in pages:
            response = http.get(page)
            assert response.status_code in (200, 400, 403, 404), f"{page}: {response.status_code}"
            answers.append((page, response.text))
        form = http.get("/cockpit/ask").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        if csrf:
            for question in QUESTIONS[:3]:
                data = {"question": question, "csrf": csrf[1]}
                answers.append((f"cockpit ask: {question}", http.post("/cockpit/ask", data=data).text))
    return answers


@pytest.mark.parametrize("user", USERS)
def test_no_path_shows_a_user_what_their_policies_hide(
    world: tuple[str, dict[str, str], dict[str, Forbidden], Path], user: str
) -> None:
    base, tokens, forbidden, _ = world
    leaks = []
    for path, answers in (
        ("REST", _rest(base, tokens[user])),
        ("MCP", _mcp(base, tokens[user])),
        ("cockpit", _cockpit(base, tokens[user])),
    ):
        for probe, text in answers:
            if hits := forbidden[user].found_in(text, probe):
                leaks.append(f"{path} {probe}: {sorted(hits)[:5]}")
    assert not leaks, f"{user} was shown what the policies hide:\n" + "\n".join(leaks)


@pytest.mark.parametrize("user", ["ceo", "emea_rep", "mke_plant_manager", "emea_hrbp"])
def test_no_cli_command_shows_a_user_what_their_policies_hide(
    world: tuple[str, dict[str, str], dict[str, Forbidden], Path], run_cli: Any, user: str
) -> None:
    _, _, forbidden, root = world
    commands = [
        ["query", "headcount_cost", "--by", "Employee.employee_id", "--limit", "100"],
        ["query", "revenue", "--by", "Order.order_id", "--limit", "100"],
        ["objects", "Employee", "--limit", "300"],
        ["objects", "Customer", "--limit", "300"],
        ["object", "Skill", "SK001"],
        ["object", "Employee", "E000002"],
        ["ask", QUESTIONS[0]],
        ["ask", QUESTIONS[3]],
    ]
    leaks = []
    for command in commands:
        _, out, err = run_cli("-p", str(root), *command, "--as", user, "--format", "json")
        if hits := forbidden[user].found_in(out + err, " ".join(command)):
            leaks.append(f"brain {' '.join(command)}: {sorted(hits)[:5]}")
    assert not leaks, f"{user} was shown what the policies hide:\n" + "\n".join(leaks)


def test_the_matrix_would_see_a_leak(world: tuple[str, dict[str, str], dict[str, Forbidden], Path]) -> None:
    """The search is not blind: what the CFO may see (salaries are not among it) is found for the HR partner."""
    _, _, forbidden, root = world
    with Brain.open(root) as brain:
        rows = brain.query(MetricQuery(("headcount_cost",), by=("Employee.employee_id",), limit=20), "emea_hrbp").rows
        listed = json.dumps(brain.objects("Employee", limit=50, user="emea_hrbp"), default=str)
    shown = json.dumps(rows)
    assert forbidden["ceo"].found_in(shown), "a salary as the HR partner sees it must count as a leak for the CEO"
    assert forbidden["ceo"].found_in(listed), "an email as the HR partner sees it must count as a leak for the CEO"
