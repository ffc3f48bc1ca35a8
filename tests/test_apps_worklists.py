"""The demo's apps on the small demo with its failure-risk and attrition models trained and scored: each user
lists the apps they may open and reads their own rows and columns (row filters, HR data, masking) through
the API; hostile app names, sort keys, filters and proposal fields are refused; the threshold tiles count at
the use case's own threshold; and in Chromium a planner opens the maintenance worklist, sorts it, drills into
a machine, proposes "schedule maintenance" from a row, and the Milwaukee plant manager finds it in their
inbox and approves it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from companybrain import factory
from companybrain.brain import Brain
from companybrain.delivery.app import BrainService, create_app
from tests.conftest import LOCAL_HOSTS
from tests.live_service import serve

pytestmark = pytest.mark.slow  # trains and scores two models on the small demo (about 11 s)
SCOPES = ["read:metrics", "read:objects", "write:actions"]
USERS = ("planner", "mke_plant_manager", "emea_hrbp", "ceo", "emea_rep", "data_steward")


@pytest.fixture(scope="module")
def brain(small_demo: Callable[[str], Path]) -> Iterator[Brain]:
    root = small_demo("apps")
    found = Brain.open(root)
    names = ["machine_failure_risk", "attrition_risk"]
    assert [r["status"] for r in factory.train(found, names) + factory.score(found, names)] == ["ok"] * 4
    yield found
    found.close()


@pytest.fixture(scope="module")
def app(brain: Brain) -> FastAPI:
    return create_app(brain=brain)


@pytest.fixture(scope="module")
def tokens(app: FastAPI) -> dict[str, str]:
    svc: BrainService = app.state.service
    return {u: svc.tokens.create(u, SCOPES)[0] for u in USERS}


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def get(client: TestClient, tokens: dict[str, str], user: str, path: str) -> Any:
    return client.get(path, headers={"Authorization": f"Bearer {tokens[user]}"})


def test_each_user_lists_the_apps_they_may_open(client: TestClient, tokens: dict[str, str]) -> None:
    expected = {
        "planner": {"maintenance_worklist"},
        "mke_plant_manager": {"maintenance_worklist", "quality_watch"},
        "emea_hrbp": {"talent_early_warning"},
        "ceo": {"maintenance_worklist", "quality_watch", "sales_list", "demand_planner"},
        "emea_rep": {"sales_list"},
    }
    for user, apps in expected.items():
        listed = get(client, tokens, user, "/api/v1/apps").json()
        assert {a["name"] for a in listed} == apps, user


def test_a_worklist_is_the_viewers_own_rows_ranked_by_the_model(
    client: TestClient, tokens: dict[str, str], brain: Brain
) -> None:
    everyone = get(client, tokens, "ceo", "/api/v1/apps/maintenance_worklist").json()
    mine = get(client, tokens, "mke_plant_manager", "/api/v1/apps/maintenance_worklist").json()
    assert everyone["matching"] == brain.count_objects("Machine", None, "ceo")
    assert mine["matching"] == brain.count_objects("Machine", None, "mke_plant_manager") < everyone["matching"]
    assert {r["values"]["site_id"] for r in mine["rows"]} == {"MKE"}
    assert len(mine["rows"]) == mine["matching"] and len(everyone["rows"]) == min(50, everyone["matching"])
    risks = [r["values"]["failure_risk_7d"] for r in everyone["rows"]]
    assert risks == sorted(risks, reverse=True) and risks[0] is not None
    top = brain.read("Machine", None, None, "ceo", ["machine_id", "failure_risk_7d"]).to_pylist()
    assert everyone["rows"][0]["key"] == max(top, key=lambda r: r["failure_risk_7d"] or -1)["machine_id"]
    assert everyone["rows"][0]["reasons"]  # the highest scores are explained
    assert everyone["rows"][0]["href"] == f"/api/v1/objects/Machine/{everyone['rows'][0]['key']}"


def test_threshold_tiles_count_at_the_use_cases_own_threshold(
    client: TestClient, tokens: dict[str, str], brain: Brain
) -> None:
    level = brain.project.usecases["machine_failure_risk"].thresholds["high"]
    found = get(client, tokens, "ceo", "/api/v1/apps/maintenance_worklist").json()
    assert [(t["name"], t["level"]) for t in found["tiles"]] == [("high", level)]
    assert found["tiles"][0]["count"] == brain.count_objects("Machine", f"failure_risk_7d >= {level}", "ceo")
    flagged = [r for r in found["rows"] if r["level"] == "high"]
    assert len(flagged) == found["tiles"][0]["count"]
    assert all(r["values"]["failure_risk_7d"] >= level for r in flagged)


def test_hr_rows_reach_hr_partners_of_their_region_and_nobody_else(
    client: TestClient, tokens: dict[str, str], brain: Brain
) -> None:
    from companybrain.apps.worklist import refusal

    for user in ("planner", "ceo", "data_steward", "emea_rep"):
        refused = get(client, tokens, user, "/api/v1/apps/talent_early_warning")
        assert refused.status_code == 403 and "rows" not in refused.json(), user
    hrbp = get(client, tokens, "emea_hrbp", "/api/v1/apps/talent_early_warning").json()
    keys = [r["key"] for r in hrbp["rows"]]
    assert keys and hrbp["matching"] == brain.count_objects("Employee", "status = 'active'", "emea_hrbp")
    regions = brain.read("Employee", None, None, "ceo", ["employee_id", "region"]).to_pylist()
    assert {r["region"] for r in regions if r["employee_id"] in set(keys)} == {"EMEA"}
    assert any(r["reasons"] for r in hrbp["rows"])
    # open to everyone, the risk itself still stays hidden from a role that may not read HR data
    open_app = brain.project.apps["talent_early_warning"].model_copy(update={"audience": None})
    said = refusal(brain, open_app, brain.principal("data_steward"))
    assert said is not None and "attrition_risk" in said


@pytest.mark.parametrize(
    ("path", "status", "said"),
    [
        ("/api/v1/apps/maintenance_worklist?sort=salary", 400, "sort by one of machine_id"),
        ("/api/v1/apps/maintenance_worklist?sort=-failure_risk_7d%3B%20DROP%20TABLE%20x", 400, "cannot be sorted"),
        ("/api/v1/apps/maintenance_worklist?sort=" + "x" * 65, 422, None),
        ("/api/v1/apps/maintenance_worklist?filter.manufacturer=ABB", 400, "filter by one of site_id"),
        ("/api/v1/apps/maintenance_worklist?filter.site_id=" + "M" * 201, 400, "at most 200"),
        ("/api/v1/apps/maintenance_worklist?where=1%3D1", 400, "unknown parameter 'where'"),
        ("/api/v1/apps/maintenance_worklist?limit=0", 422, None),
        ("/api/v1/apps/maintenance_worklist?limit=51", 400, "limit must be from 1 to 50"),
        ("/api/v1/apps/maintenance_worklist?limit=100000", 422, None),
        ("/api/v1/apps/" + quote("Robert'); DROP TABLE apps;--", safe=""), 422, None),
        ("/api/v1/apps/" + quote("../../etc/passwd", safe=""), 404, None),
        ("/api/v1/apps/maintenance_worklis", 404, "did you mean 'maintenance_worklist'"),
    ],
)
def test_hostile_app_names_sort_keys_and_filters_are_refused(
    client: TestClient, tokens: dict[str, str], path: str, status: int, said: str | None
) -> None:
    answer = get(client, tokens, "planner", path)
    assert answer.status_code == status, answer.text
    if said is not None:
        assert said in answer.json()["detail"]


def test_a_filter_value_is_a_value_never_sql(client: TestClient, tokens: dict[str, str]) -> None:
    injected = quote("MKE' OR '1'='1", safe="")
    found = get(client, tokens, "ceo", f"/api/v1/apps/maintenance_worklist?filter.site_id={injected}").json()
    assert found["matching"] == 0 and found["rows"] == []
    mke = get(client, tokens, "ceo", "/api/v1/apps/maintenance_worklist?filter.site_id=MKE").json()
    assert mke["matching"] > 0 and {r["values"]["site_id"] for r in mke["rows"]} == {"MKE"}


def test_proposing_from_a_row_goes_to_who_approves_it(client: TestClient, tokens: dict[str, str], brain: Brain) -> None:
    def post(user: str, path: str, body: dict[str, Any]) -> Any:
        return client.post(path, json=body, headers={"Authorization": f"Bearer {tokens[user]}"})

    propose = "/api/v1/apps/maintenance_worklist/propose"
    gsp = brain.read("Machine", "site_id = 'GSP'", 1, "ceo", ["machine_id"]).to_pylist()[0]["machine_id"]
    refused = [
        ({"action_type": "open_inspection", "key": "MKE-L1-M1"}, 400, "offers no action 'open_inspection'"),
        ({"action_type": "schedule_maintenance", "key": "MKE-L1-M1", "fields": {"site_id": "GSP"}}, 400, "no field"),
        ({"action_type": "schedule_maintenance", "key": "x' OR '1'='1", "fields": {"note": "x"}}, 404, "no Machine"),
    ]  # fmt: skip
    for body, status, said in refused:
        answer = post("planner", propose, body)
        assert answer.status_code == status and said in answer.json()["detail"], answer.text
    unseen = post("mke_plant_manager", propose, {"action_type": "schedule_maintenance", "key": gsp, "fields": {}})
    assert unseen.status_code == 404  # a machine of another site is not one of their rows
    made = post("planner", propose, {"action_type": "schedule_maintenance", "key": "MKE-L1-M1",
                                     "fields": {"week_start": "2026-03-09", "note": "vibration"}})  # fmt: skip
    assert made.status_code == 200, made.text
    action = made.json()[0]
    assert action["parameters"]["site_id"] == "MKE" and action["source"] == "app:maintenance_worklist"
    seen = client.get(
        "/api/v1/actions?status=proposed", headers={"Authorization": f"Bearer {tokens['mke_plant_manager']}"}
    )
    assert action["action_id"] in {a["action_id"] for a in seen.json()}
    approved = post("mke_plant_manager", "/api/v1/actions/approve", {"ids": [action["action_id"]]})
    assert approved.json()[0]["status"] == "applied", approved.text


# --- in the browser --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(app: FastAPI) -> Iterator[str]:
    with serve(app) as url:
        yield url


def signed_in(browser: Any, server: str, token: str, seen: list[str]) -> tuple[Any, Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.on("request", lambda request: seen.append(request.url))
    page.goto(f"{server}/cockpit/apps")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/cockpit/apps", wait_until="load")
    return context, page


def column(page: Any, name: str) -> list[str]:
    return page.locator(f"#worklist tbody td[data-column={name}]").all_inner_texts()


@pytest.mark.services
def test_a_planner_proposes_maintenance_and_the_plant_manager_approves_it(
    browser: Any, server: str, tokens: dict[str, str], tmp_path: Path
) -> None:
    seen: list[str] = []
    context, page = signed_in(browser, server, tokens["planner"], seen)
    assert page.locator("header nav a", has_text="Apps").count() == 1
    page.click("#apps [data-app=maintenance_worklist] a")
    page.wait_for_selector("#worklist")
    risks = [float(v) for v in page.locator("#worklist td[data-column=failure_risk_7d]").evaluate_all(
        "cells => cells.map(c => c.dataset.value)")]  # fmt: skip
    assert risks == sorted(risks, reverse=True) and len(risks) == 50
    assert page.locator("#app-tiles [data-tile=high]").count() == 1
    page.click("#worklist th[data-column=install_date] a")  # sort by install date, newest first
    page.wait_for_url(re.compile(r"sort=-install_date"))
    dates = column(page, "install_date")
    assert dates == sorted(dates, reverse=True)
    page.click("#worklist th[data-column=install_date] a")  # and again: oldest first
    page.wait_for_url(re.compile(r"sort=install_date"))
    oldest = column(page, "install_date")  # the 50 oldest of all the machines
    assert oldest == sorted(oldest) and oldest[0] <= dates[-1]
    page.fill("#app-filters input[name='f.site_id']", "MKE")
    page.click("#app-filters button[type=submit]")
    page.wait_for_url(re.compile(r"f\.site_id=MKE"))
    assert set(column(page, "site_id")) == {"MKE"}
    first = page.locator("#worklist tbody tr").first
    machine = first.get_attribute("data-key")
    first.locator("td[data-column=machine_id] a").click()  # drill into the machine
    page.wait_for_url(re.compile(rf"/cockpit/objects/Machine/{machine}$"))
    assert machine in page.inner_text("h1")
    page.go_back()
    row = page.locator(f"#worklist tr[data-key='{machine}']")
    row.locator("details[data-action=schedule_maintenance] summary").click()
    row.locator("input[name='field.week_start']").fill("2026-03-16")
    row.locator("details[data-action=schedule_maintenance] button[type=submit]").click()
    page.wait_for_selector("#app-message")
    assert "f.site_id=MKE" in page.url and set(column(page, "site_id")) == {"MKE"}  # back to the same list
    said = page.inner_text("#app-message")
    assert said.startswith("Proposed action") and "plant_manager" in said, said
    action = re.search(r"Proposed action (\d+)", said)
    assert action is not None
    page.screenshot(path=str(tmp_path / "maintenance-worklist.png"), full_page=True)
    context.close()

    context, page = signed_in(browser, server, tokens["mke_plant_manager"], seen)
    waiting = page.locator(f"#inbox tr[data-action='{action.group(1)}']")
    assert waiting.count() == 1 and machine in waiting.inner_text()
    waiting.locator("button[value=approve]").click()
    page.wait_for_selector("#app-message")
    assert "applied" in page.inner_text("#app-message")
    assert page.locator(f"#inbox tr[data-action='{action.group(1)}']").count() == 0
    context.close()
    outside = [u for u in seen if not u.startswith("data:") and urlparse(u).hostname not in LOCAL_HOSTS]
    assert seen and outside == []


@pytest.mark.services
def test_the_hr_partner_sees_the_talent_app_and_others_are_told_why_not(
    browser: Any, server: str, tokens: dict[str, str]
) -> None:
    seen: list[str] = []
    context, page = signed_in(browser, server, tokens["emea_hrbp"], seen)
    assert [a.get_attribute("data-app") for a in page.locator("#apps [data-app]").all()] == ["talent_early_warning"]
    page.click("#apps [data-app=talent_early_warning] a")
    page.wait_for_selector("#worklist")
    assert page.locator("#worklist tbody tr").count() > 0 and "why" in page.inner_text("#worklist thead")
    context.close()
    context, page = signed_in(browser, server, tokens["planner"], seen)
    answer = page.goto(f"{server}/cockpit/apps/talent_early_warning")
    assert answer is not None and answer.status == 403
    assert "not available to you" in page.inner_text("main") and page.locator("#worklist").count() == 0
    context.close()


def test_hostile_cockpit_inputs_are_refused_in_words(app: FastAPI, tokens: dict[str, str], brain: Brain) -> None:
    """The app page's sort and filters, the proposal form and the inbox's decision: refused, never run."""
    with TestClient(app) as c:
        c.post("/cockpit/signin", data={"token": tokens["planner"], "next": "/cockpit/apps"})
        page = c.get("/cockpit/apps/maintenance_worklist?sort=salary%3B%20DROP%20TABLE%20x")
        assert page.status_code == 400 and "cannot be sorted by" in page.text and 'id="worklist"' not in page.text
        page = c.get("/cockpit/apps/maintenance_worklist?f.manufacturer=ABB")
        assert page.status_code == 400 and "filter by one of" in page.text
        assert c.get("/cockpit/apps/%3Cscript%3E").status_code == 404
        csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/cockpit/apps/maintenance_worklist").text)
        assert csrf is not None
        before = len(brain.actions.find(limit=100_000))
        assert c.post("/cockpit/apps/maintenance_worklist/propose", data={"action_type": "schedule_maintenance",
                      "key": "MKE-L1-M1", "field.week_start": "2026-03-09"}).status_code == 400  # fmt: skip
        forms = [
            {"action_type": "delay_order", "key": "MKE-L1-M1"},
            {"action_type": "schedule_maintenance", "key": "MKE-L1-M1", "field.site_id": "GSP"},
            {"action_type": "schedule_maintenance", "key": "MKE-L1-M1", "field.week_start": "not a date"},
        ]
        for form in forms:
            said = c.post("/cockpit/apps/maintenance_worklist/propose", data={"csrf": csrf.group(1), **form}).text
            assert "Not proposed:" in said, form  # said on the page the form returns to
        assert len(brain.actions.find(limit=100_000)) == before  # nothing was proposed
        for decision, action_id in (("drop", "1"), ("approve", "1 OR 1=1"), ("approve", "9" * 40)):
            form = {"csrf": csrf.group(1), "decision": decision, "action_id": action_id}
            assert "Choose Approve or Reject" in c.post("/cockpit/apps/inbox/decide", data=form).text
