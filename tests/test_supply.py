"""Supply on the small demo. Supplier delivery risk: purchase orders described as known on their order
date (the supplier's record read through the `of: supplier` features), a model that beats the
supplier's own late share on the later holdout, the planted slipping supplier ranked first, scores and
reasons written back onto PurchaseOrder, a malformed `of` refused with file and line. Shortages: the
netting against a hand computation, a projected row recomputed by hand from the objects, the replan
and the projection counting the same arrivals, a supplier-slip scenario, and each reader's rights."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score
from sqlglot import exp

from companybrain import Brain, factory
from companybrain.decisions.materials import load_materials
from companybrain.decisions.shortages import project_shortages, short_by_week, supply_by_week, week_of
from companybrain.errors import ConfigError
from companybrain.factory import selection
from companybrain.factory.line import split
from companybrain.factory.registry import Registry
from companybrain.factory.training import AS_OF, KEY, LABEL, training_set
from companybrain.ontology.model import FACTORY_SCHEMA, materialize_query, object_table
from companybrain.semantic.query import MetricQuery
from companybrain.warehouse.ddl import insert_select, table
from tests.conftest import LOCAL_HOSTS

pytestmark = pytest.mark.slow
USECASE = "supplier_delay_risk"


@pytest.fixture(scope="module")
def scored(small_demo) -> Path:
    """The small demo with the supplier risk scored, a flat demand forecast (each series' mean week of the
    last 13) standing in for the forecast use case's, and the shortages projected as finance."""
    root = small_demo("supply")
    with Brain.open(root) as brain:
        assert [r["status"] for r in factory.train(brain, [USECASE])] == ["ok"]
        assert [r["status"] for r in factory.score(brain, [USECASE])] == ["ok"]
        _flat_forecast(brain)
        brain.project_shortages("cfo")
    return root


def _flat_forecast(brain: Brain) -> None:
    uc = brain.project.usecases["demand_forecast"]
    start = date(2026, 2, 23)  # the Monday of the small demo's today (2026-03-01)
    query = MetricQuery(metrics=("units_sold",), by=("family", "site"), period="2025-11-24..2026-02-22")
    rows = []
    for r in brain.query_table(query, user="data_steward").to_pylist():
        for w in range(13):
            period = start + timedelta(weeks=w)
            series = f"{r['family']} | {r['site']}"
            rows.append(
                {
                    "forecast_id": f"{series} | {period}",
                    "series": series,
                    "family": r["family"],
                    "site": r["site"],
                    "period": period,
                    "forecast": float(r["units_sold"] or 0) / 13,
                    "model_version": "flat",
                }
            )
    obj = brain.project.objects["DemandForecast"]
    data = pa.Table.from_pylist(rows).cast(
        pa.schema(
            [
                (n, {"date": pa.date32(), "float": pa.float64()}.get(obj.properties[n].type, pa.string()))
                for n in rows[0]
            ]
        )
    )
    source, live = table(FACTORY_SCHEMA, f"forecast__{uc.name}"), object_table("DemandForecast")
    with brain.warehouse.transaction():
        brain.warehouse.execute(exp.delete(source))
        brain.warehouse.write_arrow(source, data, create=False)
        brain.warehouse.execute(exp.delete(live))
        brain.warehouse.execute(insert_select(live, list(obj.properties), materialize_query(obj)))


def test_supplier_history_features_see_only_what_was_known_at_order_time(scored: Path) -> None:
    with Brain.open(scored) as brain:
        uc = brain.project.usecases[USECASE]
        data = training_set(brain, uc, brain.principal(uc.run_as)).frame
        pos = brain.read("PurchaseOrder", user="data_steward").to_pandas()
    pos["po_id"] = pos["po_id"].astype(str)
    for column in ("order_date", "promised_date", "received_date"):
        pos[column] = pd.to_datetime(pos[column])
    sample = data.sample(40, random_state=3).rename(columns={AS_OF: "as_of"}).merge(pos, left_on=KEY, right_on="po_id")
    for row in sample.itertuples():
        same = pos[pos["supplier_id"] == row.supplier_id]
        # late orders of the supplier whose promised date (when lateness shows) fell in the 730 days before
        window = same[
            (same["promised_date"] < row.as_of) & (same["promised_date"] >= row.as_of - pd.Timedelta(days=730))
        ]
        late = window[window["received_date"] > window["promised_date"]]
        assert row.supplier_late_2y == len(late), row.po_id
        arrived = same[
            (same["received_date"] < row.as_of) & (same["received_date"] >= row.as_of - pd.Timedelta(days=90))
        ]
        assert row.supplier_receipts_90d == len(arrived), row.po_id


def test_the_model_beats_the_suppliers_own_late_share_and_the_baseline(scored: Path) -> None:
    with Brain.open(scored) as brain:
        uc = brain.project.usecases[USECASE]
        registry = Registry(brain.project)
        champion = registry.get(USECASE)
        assert champion.status == "champion"
        assert champion.metrics["model_roc_auc"] > champion.metrics["baseline_roc_auc"]
        data = training_set(brain, uc, brain.principal(uc.run_as))
        train, test = split(uc, data.frame)
        model, _ = selection.fit(uc, data, train)  # as the backtest fits it: on the earlier rows alone
        scores = model.predict(test)
    late_share = test["supplier_late_rate"].fillna(test["supplier_late_rate"].mean())
    assert roc_auc_score(test[LABEL], scores) > roc_auc_score(test[LABEL], late_share)
    # every supplier but the planted one is late at its own steady rate, which its late share already ranks:
    # on precision the two tie (0.717 against 0.718 on seed 7); the model must not fall behind it
    assert average_precision_score(test[LABEL], scores) > average_precision_score(test[LABEL], late_share) - 0.01
    assert champion.metrics["model_average_precision"] > champion.metrics["baseline_average_precision"]
    assert test[AS_OF].min() > data.frame[AS_OF].max() - pd.Timedelta(days=uc.backtest.holdout_days + 1)


def test_the_planted_slipping_supplier_is_ranked_first_with_reasons(scored: Path) -> None:
    truth = json.loads((scored / "ground_truth" / "supplier_delays.json").read_text())
    planted = {truth["supplier_id"]}
    with Brain.open(scored) as brain:
        open_pos = brain.objects("PurchaseOrder", where="late_risk IS NOT NULL", limit=None, user="data_steward")
    assert open_pos and all(p["status"] == "open" for p in open_pos)
    frame = pd.DataFrame(open_pos)
    ranked = frame.groupby("supplier_id")["late_risk"].mean().sort_values(ascending=False)
    top = set(ranked.index[: len(planted)])
    assert len(top & planted) / len(planted) == 1.0  # precision at k = the number of planted suppliers
    theirs = frame[frame["supplier_id"].isin(planted)]
    assert (theirs["late_risk"] > 0.5).all()
    assert all("supplier_" in str(r) for r in theirs["late_risk_reasons"])
    assert set(frame["late_risk_version"]) == {f"{USECASE}@v1"}


def test_of_must_name_a_many_to_one_link_and_only_for_metrics(scored: Path, tmp_path: Path) -> None:
    root = tmp_path / "acme"
    shutil.copytree(scored, root)
    path = root / "usecases" / f"{USECASE}.yaml"
    text = path.read_text()
    path.write_text(
        text.replace("of: supplier, via: supplier, window: 730}", "of: suppliers, via: supplier, window: 730}", 1)
    )
    with pytest.raises(ConfigError) as err:
        Brain.open(root)
    assert f"usecases/{USECASE}.yaml:" in str(err.value) and "did you mean 'supplier'" in str(err.value)
    path.write_text(text.replace("{property: promised_lead_days}", "{property: promised_lead_days, of: supplier}"))
    with pytest.raises(ConfigError) as err:
        Brain.open(root)
    assert "only for a metric feature" in str(err.value)
    path.write_text(text.replace("of: supplier, via: supplier, window: 90}", 'of: "x; DROP TABLE po", window: 90}', 1))
    with pytest.raises(ConfigError) as err:
        Brain.open(root)
    assert f"usecases/{USECASE}.yaml:" in str(err.value)


# --- shortages ---------------------------------------------------------------------------------


def test_the_netting_matches_a_hand_computation() -> None:
    start = date(2026, 3, 2)
    # 10 a week needed, 15 in stock; 20 promised on day 1 but predicted 10 days late (day 11: from week 2)
    assert week_of(start + timedelta(days=11), start) == 2 and week_of(start - timedelta(days=3), start) == 0
    supply = supply_by_week(15, [(start + timedelta(days=11), 20), (start + timedelta(days=40), 99)], start, 4)
    assert supply.tolist() == [15, 15, 35, 35]  # the day-40 order arrives after the horizon
    need = np.array([10.0, 10, 10, 10])
    # cumulative need 10 20 30 40 - supply 15 15 35 35 = backlog 0 5 0 5: weeks 1 and 3 short by 5
    assert short_by_week(need, supply).tolist() == [0, 5, 0, 5]
    # a week short by more than its own need carries the rest: only its own need is counted in it
    assert short_by_week(np.array([4.0, 6, 8]), np.full(3, 0.0)).tolist() == [4, 6, 8]
    assert short_by_week(np.array([4.0, 6, 8]), np.array([12.0, 12, 12])).tolist() == [0, 0, 6]


def test_the_replan_and_the_projection_count_the_same_predicted_arrivals(scored: Path) -> None:
    truth = json.loads((scored / "ground_truth" / "supplier_delays.json").read_text())
    with Brain.open(scored) as brain:
        mat, why = load_materials(brain, "cfo")
        projection = project_shortages(brain, "cfo")
        pos = pd.DataFrame(brain.read("PurchaseOrder", user="cfo").to_pylist())
    assert mat is not None, why
    pos["received_date"] = pd.to_datetime(pos["received_date"])
    recent = pos[(pos["received_date"] >= pd.Timestamp("2025-03-01")) & (pos["delay_days"] > 7)]
    typical = recent.groupby("supplier_id")["delay_days"].mean()
    risk = pos.set_index("po_id")["late_risk"]
    checked = 0
    for key, receipts in mat.receipts.items():
        arrivals = {a.po_id: a.expected for a in projection.arrivals[key]}
        for r in receipts:
            by_hand = r.promised + timedelta(
                days=round(risk[r.po_id] * typical.get(r.supplier_id, recent["delay_days"].mean()))
            )
            assert r.expected == by_hand == arrivals[r.po_id], r
            checked += r.supplier_id == truth["supplier_id"]
    assert checked > 0  # the planted supplier's open orders are among them, expected weeks late
    planted = [
        a
        for k, arr in projection.arrivals.items()
        for a in arr
        if mat.components[k[1]]["supplier_id"] == truth["supplier_id"]
    ]
    assert planted and min((a.expected - a.promised).days for a in planted) >= 14


def test_a_projected_shortage_recomputed_by_hand_from_the_objects(scored: Path) -> None:
    with Brain.open(scored) as brain:
        shortages = pd.DataFrame(brain.objects("ProjectedShortage", limit=None, user="cfo"))
        projection = project_shortages(brain, "cfo")
        read = {
            t: pd.DataFrame(brain.read(t, user="cfo").to_pylist())
            for t in (
                "Order",
                "OrderLine",
                "Line",
                "Product",
                "ProductFamily",
                "Site",
                "BomLine",
                "Stock",
                "DemandForecast",
            )
        }
    first = shortages.sort_values(["week", "qty_short"], ascending=[True, False]).iloc[0]
    site, component = first["site_id"], first["component_id"]
    # the product mix of the 13 weeks before the horizon, from the order lines made at the site
    orders = read["Order"][read["Order"]["status"] != "cancelled"]
    orders = orders[(orders["order_date"] >= date(2025, 11, 24)) & (orders["order_date"] < date(2026, 2, 23))]
    lines = read["OrderLine"].merge(orders[["order_id"]], on="order_id")
    lines = lines.merge(read["Line"][["line_id", "site_id"]], left_on="production_line_id", right_on="line_id")
    lines = lines[lines["site_id"] == site].merge(read["Product"][["product_id", "family_id"]], on="product_id")
    units = lines.groupby(["family_id", "product_id"])["qty"].sum()
    share = units / units.groupby(level=0).transform("sum")
    bom = read["BomLine"][read["BomLine"]["component_id"] == component].set_index("product_id")["qty"]
    family_name = read["ProductFamily"].set_index("family_id")["name"]
    site_name = read["Site"].set_index("site_id").loc[site, "name"]
    forecast = read["DemandForecast"][read["DemandForecast"]["site"] == site_name]
    need = np.zeros(13)
    for (family, product), s in share.items():
        if product in bom.index:
            rows = forecast[forecast["family"] == family_name[family]]
            for r in rows.itertuples():
                need[(r.period - date(2026, 2, 23)).days // 7] += r.forecast * s * bom[product]
    stock = read["Stock"]
    on_hand = float(stock[(stock["site_id"] == site) & (stock["component_id"] == component)]["on_hand"].sum())
    arrivals = [(a.expected, a.qty) for a in projection.arrivals.get((site, component), [])]
    supply = np.full(13, on_hand)
    for when, qty in arrivals:
        supply[max(0, -(-(when - date(2026, 2, 23)).days // 7)) :] += qty
    backlog = np.maximum(np.cumsum(need) - supply, 0)
    w = (first["week"] - date(2026, 2, 23)).days // 7
    assert first["need"] == pytest.approx(need[w], rel=1e-3)
    assert first["qty_short"] == pytest.approx(min(need[w], backlog[w]), rel=1e-3)
    assert first["qty_short"] > 0 and first["units_at_risk"] > 0 and first["revenue_at_risk"] > 0


def test_a_supplier_slipping_puts_more_at_risk_and_only_its_parts(scored: Path) -> None:
    with Brain.open(scored) as brain:
        run = brain.run_scenario("jiangsu_slips_3_weeks", user="cfo")
        base = project_shortages(brain, "cfo")
        worse = project_shortages(brain, "cfo", extra_delay_days={"S0004": 56})
        mat, _ = load_materials(brain, "cfo")
    assert run.supply["status"] == "ok" and run.supply["slips"] == {"S0004": 21}
    for kpi in run.supply["kpis"]:  # three weeks more: never less at risk (the demo's stock covers most)
        assert kpi["scenario"] >= kpi["baseline"], kpi
    assert worse.totals()["qty_short"] > base.totals()["qty_short"]
    assert worse.totals()["revenue_at_risk"] > base.totals()["revenue_at_risk"]
    assert mat is not None
    before = {(r["site_id"], r["component_id"], r["week"]): r["qty_short"] for r in base.rows}
    changed = {
        (r["site_id"], r["component_id"])
        for r in worse.rows
        if r["qty_short"] > before.get((r["site_id"], r["component_id"], r["week"]), 0) + 1e-6
    }
    slipped = {key for key, rs in mat.receipts.items() if any(r.supplier_id == "S0004" for r in rs)}
    assert changed and changed <= slipped  # only the parts with an open order from the slipping supplier


def test_each_reader_sees_the_shortages_their_rights_allow(scored: Path, run_cli) -> None:
    with Brain.open(scored) as brain:
        mine = brain.objects("ProjectedShortage", limit=None, user="mke_plant_manager")
        every = brain.objects("ProjectedShortage", limit=None, user="planner")
    assert mine and {r["site_id"] for r in mine} == {"MKE"}
    assert all(r["revenue_at_risk"] == "***" for r in mine)  # no money for a plant manager
    assert len({r["site_id"] for r in every}) > 1 and all(isinstance(r["revenue_at_risk"], float) for r in every)
    code, _, err = run_cli("-p", str(scored), "supply", "project", "--forecast", "x'; DROP TABLE po; --", "--as", "cfo")
    assert code == 1 and "no forecast use case" in err and "brain factory list" in err
    code, _, err = run_cli("-p", str(scored), "supply", "project", "--as", "planner")
    assert code == 1 and "DemandForecast" in err


# --- acting on it ------------------------------------------------------------------------------


def test_projected_shortages_alert_each_plant_manager_of_their_own_plant(scored: Path, tmp_path: Path) -> None:
    from companybrain.delivery.alerts import AlertEngine
    from tests.test_alerts import Receiver

    root = tmp_path / "acme"
    shutil.copytree(scored, root)
    receiver = Receiver()
    try:
        path = root / "alerts" / "supply.yaml"
        path.write_text(path.read_text().replace("127.0.0.1:8099", f"127.0.0.1:{receiver.port}"))
        with Brain.open(root) as brain:
            short_sites = {r["site_id"] for r in brain.objects("ProjectedShortage", limit=None, user="planner")}
            names = {r["site_id"]: r["name"] for r in brain.read("Site", user="planner").to_pylist()}
            engine = AlertEngine(brain)
            try:
                report = engine.check(["projected_shortage"])
            finally:
                engine.close()
    finally:
        receiver.stop()
    assert report["errors"] == {}, report
    mine, theirs = receiver.at("/alerts/mke_plant_manager"), receiver.at("/alerts/planner")
    assert len(theirs) == len(short_sites) > 1  # the planner: one per plant short
    assert len(mine) == 1 and names["MKE"] in mine[0]["message"]  # Milwaukee's manager: Milwaukee only
    assert not any(names[s] in mine[0]["message"] for s in short_sites - {"MKE"})


def test_a_planner_proposes_to_expedite_a_risky_po_and_the_plant_manager_approves(scored: Path, tmp_path: Path) -> None:
    from companybrain.errors import BrainError

    root = tmp_path / "acme"
    shutil.copytree(scored, root)
    with Brain.open(root) as brain:
        risky = brain.objects(
            "PurchaseOrder", where="site_id = 'MKE' AND late_risk IS NOT NULL", limit=None, user="planner"
        )
        po = max(risky, key=lambda r: r["late_risk"])
        params = {
            "po_id": po["po_id"],
            "site_id": "MKE",
            "component_id": po["component_id"],
            "how": "expedite",
            "supplier_id": po["supplier_id"],
            "need_by": "2026-03-09",
            "qty": po["qty"],
            "expedite_cost": 1200.0,
        }
        for bad in ({"how": "cancel"}, {"po_id": "1; DROP TABLE po"}, {"site_id": "MKE' OR '1'='1"}, {"qty": 0}):
            with pytest.raises(BrainError):
                brain.actions.propose([("expedite_or_resource_po", {**params, **bad})], "planner")
        [proposed] = brain.actions.propose([("expedite_or_resource_po", params)], "planner")
        with pytest.raises(BrainError):
            brain.actions.approve([proposed["action_id"]], "planner")  # a planner proposes, approves none
        [outcome] = brain.actions.approve([proposed["action_id"]], "mke_plant_manager")
        decided = brain.objects("PoIntervention", limit=None, user="cfo")
    assert outcome.status == "applied", outcome
    assert [(d["po_id"], d["how"]) for d in decided] == [(po["po_id"], "expedite")]


# --- the Supply page, in Chromium --------------------------------------------------------------


@pytest.fixture(scope="module")
def cockpit(scored: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """The service over the scored demo on a loopback port, and a token per user."""
    import socket
    import threading
    import time

    import uvicorn

    from companybrain.delivery.app import create_app

    brain = Brain.open(scored)
    app = create_app(brain=brain)
    svc = app.state.service
    tokens = {u: svc.tokens.create(u, ["read:metrics", "read:objects"])[0] for u in ("planner", "mke_plant_manager")}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", tokens
    server.should_exit = True
    thread.join(10)
    svc.stop()
    brain.close()


def _signed_in(browser: Any, url: str, token: str, seen: list[str]) -> Any:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.on("request", lambda request: seen.append(request.url))
    page.goto(f"{url}/cockpit/")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/cockpit/", wait_until="load")
    return page


def _sites(page: Any) -> list[str]:
    found: list[str] = page.locator("#shortages-by-week tbody tr").evaluate_all("rows => rows.map(r => r.dataset.site)")
    return found


def test_the_supply_page_shows_shortages_and_risky_suppliers_as_each_reader_may(
    scored: Path, cockpit: tuple[str, dict[str, str]], browser: Any
) -> None:
    url, tokens = cockpit
    truth = json.loads((scored / "ground_truth" / "supplier_delays.json").read_text())
    seen: list[str] = []
    planner = _signed_in(browser, url, tokens["planner"], seen)
    planner.click("nav >> text=Supply")
    planner.wait_for_url(f"{url}/cockpit/supply")
    sites = _sites(planner)
    with Brain.open(scored) as brain:
        expected = {r["site_id"] for r in brain.objects("ProjectedShortage", limit=None, user="planner")}
    assert set(sites) == expected and len(sites) > 1
    first_supplier = planner.locator("#risky-suppliers tbody tr").first.locator("td").first.inner_text()
    assert first_supplier == truth["supplier_id"]  # the planted slipping supplier heads the list, with reasons
    assert "supplier_" in planner.locator("#risky-suppliers tbody tr").first.inner_text()
    assert planner.locator("#largest-shortages tbody tr").count() > 0
    assert "stock" in planner.locator("#largest-shortages tbody tr").first.inner_text()  # the reasons
    planner.select_option("#site-picker select", "MKE")
    planner.click("#site-picker button")
    planner.wait_for_url(f"{url}/cockpit/supply?site=MKE")
    assert planner.locator("#shortages-by-week tbody tr").evaluate_all("rows => rows.map(r => r.dataset.site)") == [
        "MKE"
    ]
    planner.goto(f"{url}/cockpit/supply?site=MKE'%20OR%20'1'='1")
    assert "choose one of" in planner.locator("p.problem").first.inner_text()
    assert len(planner.locator("#shortages-by-week tbody tr").all()) == len(expected)  # the whole page, not a leak
    manager = _signed_in(browser, url, tokens["mke_plant_manager"], seen)
    manager.goto(f"{url}/cockpit/supply")
    assert manager.locator("#shortages-by-week tbody tr").evaluate_all("rows => rows.map(r => r.dataset.site)") == [
        "MKE"
    ]
    assert "***" in manager.locator("#largest-shortages tbody tr").first.inner_text()  # no money for their role
    assert all(urlparse(u).hostname in LOCAL_HOSTS for u in seen if not u.startswith("data:"))
