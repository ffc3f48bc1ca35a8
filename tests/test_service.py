"""The service (`brain serve`): authentication, policies per demo user, problems, request ids, figures.

One small demo project per module, built once; the app runs in-process (TestClient) except in
`test_served_over_real_http`, which starts uvicorn on a free loopback port.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import types
import typing
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import jwt
import pytest
import typer
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError
from typer.testing import CliRunner

from companybrain.brain import Brain
from companybrain.cli import service_cmds
from companybrain.delivery import tokens as tokens_mod
from companybrain.delivery.app import BrainService, create_app
from companybrain.specs.project import Auth

USERS = ["ceo", "cfo", "emea_rep", "mke_plant_manager", "emea_hrbp", "data_steward"]
ALL_SCOPES = ["read:metrics", "read:objects", "read:audit"]
REVENUE = "/api/v1/metrics/query?metric=revenue&by=region&period=2025"
# every route that needs credentials, with the scope that covers it
PROTECTED: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("GET", "/api/v1/metrics", None, "read:metrics"),
    ("GET", REVENUE, None, "read:metrics"),
    ("POST", "/api/v1/metrics/query", {"metrics": ["revenue"], "by": ["region"]}, "read:metrics"),
    ("GET", "/api/v1/objects/Customer?limit=2", None, "read:objects"),
    ("GET", "/api/v1/objects/Customer/count", None, "read:objects"),
    ("GET", "/api/v1/objects/Customer/C00001", None, "read:objects"),
    ("GET", "/api/v1/audit?n=2", None, "read:audit"),
    ("POST", "/api/v1/ask", {"question": "revenue by region in 2025"}, "read:metrics"),
    ("GET", "/api/v1/usecases", None, "read:objects"),
    ("GET", "/api/v1/usecases/machine_failure_risk", None, "read:objects"),
    ("GET", "/api/v1/actions", None, "read:objects"),
    ("GET", "/api/v1/actions/types", None, "read:objects"),
    ("GET", "/api/v1/scenarios", None, "read:metrics"),
    ("GET", "/api/v1/alerts", None, "read:metrics"),
]
ISSUER = "https://idp.acme.test/realms/acme"
AUDIENCE = "companybrain"


@pytest.fixture(scope="module")
def brain(small_demo: Callable[[str], Path]) -> Iterator[Brain]:
    b = Brain.open(small_demo("service"))
    yield b
    b.close()


@pytest.fixture(scope="module")
def app(brain: Brain) -> FastAPI:
    return create_app(brain=brain)


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def svc(app: FastAPI) -> BrainService:
    found: BrainService = app.state.service
    return found


@pytest.fixture(scope="module")
def tokens(svc: BrainService) -> dict[str, str]:
    """A token with every scope for each demo user."""
    return {user: svc.tokens.create(user, ALL_SCOPES)[0] for user in USERS}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def call(client: TestClient, method: str, url: str, body: dict[str, Any] | None, headers: dict[str, str]) -> Any:
    return client.request(method, url, json=body, headers=headers)


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:companybrain:problem:")
    assert body["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return body


# --- authentication and scopes -----------------------------------------------------------------


@pytest.mark.parametrize(("method", "url", "body", "scope"), PROTECTED)
def test_every_route_requires_credentials(
    client: TestClient, svc: BrainService, method: str, url: str, body: dict[str, Any] | None, scope: str
) -> None:
    problem = assert_problem(call(client, method, url, body, {}), 401)
    assert problem["instance"] == url.split("?")[0]
    assert_problem(call(client, method, url, body, auth("cbt_never-issued")), 401)
    assert_problem(call(client, method, url, body, {"Authorization": "Basic Y2VvOmNlbw=="}), 401)
    assert_problem(call(client, method, url, body, auth("not.a.jwt")), 401)  # OIDC is not configured here

    revoked, record = svc.tokens.create("data_steward", ALL_SCOPES)
    assert call(client, method, url, body, auth(revoked)).status_code == 200
    svc.tokens.revoke(record.token_id)
    assert "revoked" in assert_problem(call(client, method, url, body, auth(revoked)), 401)["detail"]

    others = [s for s in ALL_SCOPES if s != scope]
    narrow, _ = svc.tokens.create("data_steward", others)
    assert assert_problem(call(client, method, url, body, auth(narrow)), 403)["type"].endswith("insufficient-scope")


def test_expired_token_is_rejected(client: TestClient, svc: BrainService, monkeypatch: pytest.MonkeyPatch) -> None:
    token, _ = svc.tokens.create("ceo", ["read:metrics"], expires_days=1)
    assert client.get("/api/v1/metrics", headers=auth(token)).status_code == 200
    later = datetime.now(UTC) + timedelta(days=2)
    monkeypatch.setattr(tokens_mod, "_now", lambda: later)
    assert "expired" in assert_problem(client.get("/api/v1/metrics", headers=auth(token)), 401)["detail"]


def test_tokens_are_stored_hashed(svc: BrainService, brain: Brain) -> None:
    secret, record = svc.tokens.create("cfo", ["read:metrics"])
    stored = brain.warehouse.query_sql("SELECT * FROM brain.api_tokens").to_pylist()
    assert not any(secret in json.dumps(row, default=str) for row in stored)
    assert any(row["token_hash"] == tokens_mod.hash_token(secret) for row in stored)
    assert record.token_id in {t.token_id for t in svc.tokens.all_tokens()}


def test_health_probes_need_no_credentials(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["built"] and ready.json()["data_version"].startswith("build-")


# --- the demo users x routes -------------------------------------------------------------------

# (url, {user: expected status})
MATRIX: list[tuple[str, dict[str, int]]] = [
    (
        REVENUE,
        {"ceo": 200, "cfo": 200, "emea_rep": 200, "mke_plant_manager": 403, "emea_hrbp": 403, "data_steward": 200},
    ),
    (
        "/api/v1/metrics/query?metric=attrition_rate&period=2025",
        {"ceo": 200, "cfo": 403, "emea_rep": 403, "mke_plant_manager": 403, "emea_hrbp": 200, "data_steward": 403},
    ),
    (
        "/api/v1/objects/Employee?limit=5",
        {"ceo": 200, "cfo": 200, "emea_rep": 403, "mke_plant_manager": 200, "emea_hrbp": 200, "data_steward": 200},
    ),
    (
        "/api/v1/objects/Customer/count",
        {"ceo": 200, "cfo": 200, "emea_rep": 200, "mke_plant_manager": 403, "emea_hrbp": 403, "data_steward": 200},
    ),
    ("/api/v1/audit?n=3", {u: 200 if u == "data_steward" else 403 for u in USERS}),
    ("/api/v1/metrics", dict.fromkeys(USERS, 200)),
]


@pytest.mark.parametrize("user", USERS)
def test_users_get_what_their_policies_allow(client: TestClient, tokens: dict[str, str], user: str) -> None:
    for url, expected in MATRIX:
        response = client.get(url, headers=auth(tokens[user]))
        assert response.status_code == expected[user], f"{user} {url}: {response.text}"
        if expected[user] == 403:
            assert_problem(response, 403)


def test_emea_rep_sees_emea_revenue_only(client: TestClient, tokens: dict[str, str]) -> None:
    everyone = client.get(REVENUE, headers=auth(tokens["ceo"])).json()
    rep = client.get(REVENUE, headers=auth(tokens["emea_rep"])).json()
    assert [r[0] for r in everyone["rows"]] == ["APAC", "EMEA", "LATAM", "NA"]
    assert [r[0] for r in rep["rows"]] == ["EMEA"]
    assert rep["rows"][0] == next(r for r in everyone["rows"] if r[0] == "EMEA")
    assert rep["policy"]["user"] == "emea_rep" and rep["policy"]["row_filters"]
    assert (
        client.get("/api/v1/objects/Customer/count", headers=auth(tokens["emea_rep"])).json()["count"]
        < (client.get("/api/v1/objects/Customer/count", headers=auth(tokens["ceo"])).json()["count"])
    )


def test_salaries_are_masked_except_for_hr(client: TestClient, tokens: dict[str, str]) -> None:
    for user in ("ceo", "cfo", "data_steward", "mke_plant_manager"):
        employees = client.get("/api/v1/objects/Employee?limit=5", headers=auth(tokens[user])).json()["objects"]
        assert employees and all(e["salary"] == "***" for e in employees), user
    hr = client.get("/api/v1/objects/Employee?limit=5", headers=auth(tokens["emea_hrbp"])).json()["objects"]
    assert all(isinstance(e["salary"], float) and e["region"] == "EMEA" for e in hr)


def test_object_with_links_and_catalog(client: TestClient, tokens: dict[str, str]) -> None:
    customer = client.get("/api/v1/objects/Customer/C00001", headers=auth(tokens["emea_rep"])).json()
    assert customer["key"] == "C00001" and customer["links"]
    names = {m["name"] for m in client.get("/api/v1/metrics", headers=auth(tokens["emea_rep"])).json()["metrics"]}
    assert "revenue" in names and "attrition_rate" not in names


def test_every_read_is_audited_with_the_caller(client: TestClient, tokens: dict[str, str], svc: BrainService) -> None:
    client.get("/api/v1/objects/Customer/count?where=region%20%3D%20%27NA%27", headers=auth(tokens["cfo"]))
    client.get("/api/v1/objects/Employee", headers=auth(tokens["emea_rep"]))
    records = client.get("/api/v1/audit?n=5", headers=auth(tokens["data_steward"])).json()["records"]
    mine = [(r["user_name"], r["action"], r["outcome"]) for r in records]
    assert ("cfo", "count", "ok") in mine
    assert ("emea_rep", "objects", "denied: object-access") in mine
    assert svc.brain.audit.verify()["ok"]


# --- the result cache --------------------------------------------------------------------------


def test_repeated_get_is_served_from_cache_and_still_audited(
    client: TestClient, tokens: dict[str, str], svc: BrainService
) -> None:
    url = "/api/v1/metrics/query?metric=orders&by=region&period=2025-Q3"
    first = client.get(url, headers=auth(tokens["cfo"])).json()
    assert not first["cached"]
    again = [client.get(url, headers=auth(tokens["cfo"])).json() for _ in range(3)]
    assert all(r["cached"] and r["rows"] == first["rows"] for r in again)
    other_user = client.get(url, headers=auth(tokens["emea_rep"])).json()
    assert not other_user["cached"] and other_user["rows"] != first["rows"]
    svc.flush_audit()
    cached = [
        json.loads(r["request"])
        for r in svc.brain.audit.tail(20)
        if r["user_name"] == "cfo" and "cached" in r["request"]
    ]
    assert cached and cached[-1]["cached"]["hits"] == 3 and cached[-1]["period"] == "2025-Q3"


def test_post_and_get_forms_agree(client: TestClient, tokens: dict[str, str]) -> None:
    body = {"metrics": ["revenue", "orders"], "by": ["region"], "period": "2025-Q4", "order_by": ["-revenue"]}
    posted = client.post("/api/v1/metrics/query", json=body, headers=auth(tokens["ceo"])).json()
    url = "/api/v1/metrics/query?metric=revenue&metric=orders&by=region&period=2025-Q4&order_by=-revenue"
    got = client.get(url, headers=auth(tokens["ceo"]))
    assert got.json()["rows"] == posted["rows"] and got.headers["cache-control"].startswith("private")


# --- problems, request ids, no tracebacks ------------------------------------------------------


def test_errors_are_problems_with_the_right_status(client: TestClient, tokens: dict[str, str]) -> None:
    headers = auth(tokens["ceo"])
    assert_problem(client.get("/api/v1/objects/Nope", headers=headers), 404)
    assert_problem(client.get("/api/v1/objects/Customer/nope", headers=headers), 404)
    assert_problem(client.get("/api/v1/objects/Customer?where=((", headers=headers), 400)
    typo = assert_problem(client.get("/api/v1/metrics/query?metric=revenu", headers=headers), 400)
    assert "did you mean 'revenue'" in typo["detail"]
    invalid = assert_problem(client.get("/api/v1/metrics/query", headers=headers), 422)
    assert invalid["errors"][0]["loc"] == ["query", "metric"]
    assert_problem(client.post("/api/v1/metrics/query", content=b"{", headers=headers), 422)
    assert_problem(client.get("/api/v1/nothing-here"), 404)
    assert_problem(client.delete("/api/v1/metrics", headers=headers), 405)


def test_a_wrong_method_is_a_405_that_names_the_allowed_ones(client: TestClient) -> None:
    """Every documented path: a method it does not answer is a 405 problem whose `Allow` lists the methods
    it does answer, and each of those is not a 405 (checked without credentials: routing comes first)."""
    spec = client.get("/openapi.json").json()
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    for template, operations in spec["paths"].items():
        path = re.sub(r"\{[^}]+\}", "1", template)
        documented = {m.upper() for m in operations}
        for method in [m for m in methods if m not in documented]:
            response = client.request(method, path)
            if response.status_code != 405:  # another route answers this method on the same path
                continue
            assert_problem(response, 405)
            allowed = set(response.headers["allow"].split(", "))
            assert documented <= allowed, f"{method} {path}: Allow {allowed}, documented {documented}"
            for other in allowed:
                assert client.request(other, path).status_code != 405, f"{path} allows {other}, then refuses it"
    for decision in ("approve", "reject", "rollback"):  # `/actions/{action_id}` used to take these: a 422
        refused = client.get(f"/api/v1/actions/{decision}")
        assert assert_problem(refused, 405)["type"].endswith("method-not-allowed")
        assert refused.headers["allow"] == "POST"
    assert client.put("/api/v1/actions").headers["allow"] == "GET, POST"  # both routes of the path


def _request_models(app: FastAPI) -> list[type[BaseModel]]:
    """The pydantic models of every request body the API takes."""
    found: dict[str, type[BaseModel]] = {}
    for route in iter_route_contexts(app.routes):
        field = route.body_field if str(route.path).startswith("/api/") else None
        annotation = field.field_info.annotation if field is not None else None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found[annotation.__name__] = annotation
    return list(found.values())


def _scalar(annotation: Any) -> tuple[type | None, bool]:
    """(bool, int or float, or None) inside an annotation, and whether it sits in a list."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is list:
        return _scalar(args[0])[0], True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return _scalar(args[0])
    if typing.get_origin(annotation) is typing.Annotated:
        return _scalar(args[0])
    return (annotation if annotation in (bool, int, float) else None), False


def test_request_bodies_take_booleans_and_numbers_strictly(app: FastAPI) -> None:
    """No request model turns 0 into false, true into 1 or "5" into 5 (StrictBool, StrictInt, StrictFloat)."""
    hostile: dict[type, list[Any]] = {bool: [0, 1, "true", "yes"], int: [True, "5", 5.5], float: [True, "1.5"]}
    checked = []
    models = _request_models(app)
    assert {"DisruptionBody", "DecideBody", "MetricQueryBody", "ProposeBody", "AskBody"} <= {m.__name__ for m in models}
    for model in models:
        for name, field in model.model_fields.items():
            kind, in_list = _scalar(field.annotation)
            if kind is None:
                continue
            for value in hostile[kind]:
                with pytest.raises(ValidationError) as refused:
                    model.model_validate({name: [value] if in_list else value})
                assert any(e["loc"][0] == name for e in refused.value.errors()), f"{model.__name__}.{name}={value!r}"
            checked.append(f"{model.__name__}.{name}")
    assert {"DisruptionBody.propose", "DisruptionBody.days", "DecideBody.ids", "MetricQueryBody.limit"} <= set(checked)


def test_propose_zero_is_not_false(client: TestClient, tokens: dict[str, str], svc: BrainService) -> None:
    disruption = {"site": "Milwaukee", "line": "L3", "start": "2026-03-02", "days": 3}
    headers = auth(tokens["cfo"])
    for body in ({"propose": 0}, {"propose": "false"}, {"days": True}, {"capacity": True}):
        refused = assert_problem(client.post("/api/v1/replan", json={**disruption, **body}, headers=headers), 422)
        assert refused["errors"][0]["loc"] == ["body", next(iter(body))]
    writer = auth(svc.tokens.create("cfo", ["write:actions"])[0])
    for body in ({"ids": [True]}, {"ids": ["1"]}, {"batch": True}):
        refused = assert_problem(client.post("/api/v1/actions/reject", json=body, headers=writer), 422)
        assert refused["errors"][0]["loc"][:2] == ["body", next(iter(body))]
    limit = {"metrics": ["revenue"], "limit": True}
    assert_problem(client.post("/api/v1/metrics/query", json=limit, headers=headers), 422)


def test_unexpected_error_is_a_500_problem_without_traceback(
    client: TestClient, tokens: dict[str, str], svc: BrainService, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("internal detail: /secret/path")

    monkeypatch.setattr(svc.brain, "count_objects", boom)
    response = client.get("/api/v1/objects/Customer/count", headers={**auth(tokens["ceo"]), "X-Request-ID": "r-500"})
    body = assert_problem(response, 500)
    assert body["request_id"] == "r-500" and "r-500" in body["detail"]
    assert "secret" not in response.text and "RuntimeError" not in response.text


def test_request_id_is_echoed_or_generated(client: TestClient, tokens: dict[str, str]) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    generated = client.get("/healthz").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    unsafe = client.get("/healthz", headers={"X-Request-ID": "x" * 500}).headers["x-request-id"]
    assert unsafe != "x" * 500
    assert client.get(REVENUE, headers={**auth(tokens["ceo"]), "X-Request-ID": "q-1"}).headers["x-request-id"] == "q-1"


def test_prometheus_counts_requests_by_route_and_status(client: TestClient, tokens: dict[str, str]) -> None:
    def count(route: str, status: int) -> float:
        pattern = rf'brain_http_requests_total{{method="GET",route="{re.escape(route)}",status="{status}"}} (\S+)'
        found = re.search(pattern, client.get("/metrics").text)
        return float(found.group(1)) if found else 0.0

    route = "/api/v1/objects/{object_type}/count"
    before_ok, before_denied = count(route, 200), count(route, 401)
    for _ in range(3):
        client.get("/api/v1/objects/Customer/count", headers=auth(tokens["ceo"]))
    client.get("/api/v1/objects/Customer/count")
    assert count(route, 200) == before_ok + 3 and count(route, 401) == before_denied + 1
    text = client.get("/metrics").text
    assert f'brain_http_request_duration_seconds_bucket{{le="0.05",method="GET",route="{route}",status="200"}}' in text


def test_openapi_documents_every_route(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            success = min(status for status in operation["responses"] if status.startswith("2"))
            ok = operation["responses"][success]["content"]
            assert ok, f"{method} {path} has no documented response"
            if path.startswith("/api/"):
                assert operation["security"] == [{"HTTPBearer": []}]
                for status in ("401", "403", "422"):
                    schema = operation["responses"][status]["content"]["application/problem+json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Problem"}
    assert spec["paths"]["/api/v1/metrics/query"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"
    ] == {"$ref": "#/components/schemas/QueryResult"}


# --- OIDC --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def idp_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def oidc_client(
    brain: Brain, idp_key: rsa.RSAPrivateKey, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(idp_key.public_key()))
    jwks = tmp_path_factory.mktemp("idp") / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "RS256", "use": "sig"}]}))
    plain = brain.project.spec
    oidc = {"oidc": {"issuer": ISSUER, "jwks": str(jwks), "audience": AUDIENCE}}  # as brain.yaml's auth: would
    brain.project.spec = plain.model_copy(update={"auth": Auth.model_validate(oidc)})
    try:
        oidc_app = create_app(brain=brain)
    finally:
        brain.project.spec = plain
    with TestClient(oidc_app) as c:
        yield c


def signed(key: rsa.RSAPrivateKey, **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "emea_rep", "preferred_username": "display-name", "iat": now}
    claims["exp"] = now + 300
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, "RS256", headers={"kid": "k1"})


def test_oidc_jwt_from_the_issuer_is_accepted(oidc_client: TestClient, idp_key: rsa.RSAPrivateKey) -> None:
    rep = oidc_client.get(REVENUE, headers=auth(signed(idp_key)))
    assert rep.status_code == 200 and [r[0] for r in rep.json()["rows"]] == ["EMEA"]
    by_sub = oidc_client.get(REVENUE, headers=auth(signed(idp_key, preferred_username=None, sub="cfo")))
    assert by_sub.status_code == 200 and by_sub.json()["policy"]["user"] == "cfo"
    # the user is the stable `sub`, not the often user-editable preferred_username
    posing = oidc_client.get(REVENUE, headers=auth(signed(idp_key, preferred_username="cfo")))
    assert posing.status_code == 200 and posing.json()["policy"]["user"] == "emea_rep"
    hr = oidc_client.get(REVENUE, headers=auth(signed(idp_key, sub="emea_hrbp")))
    assert_problem(hr, 403)
    scoped = signed(idp_key, scope="openid read:objects")
    assert_problem(oidc_client.get(REVENUE, headers=auth(scoped)), 403)


def test_oidc_bad_jwts_are_rejected(oidc_client: TestClient, idp_key: rsa.RSAPrivateKey) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bad = {
        "wrong issuer": signed(idp_key, iss="https://evil.test/"),
        "wrong audience": signed(idp_key, aud="someone-else"),
        "expired": signed(idp_key, exp=int(time.time()) - 3600),
        "badly signed": signed(other_key),
        "unknown user": signed(idp_key, preferred_username="mallory", sub="mallory"),
        "tampered": signed(idp_key)[:-4] + "AAAA",
    }
    for why, token in bad.items():
        assert assert_problem(oidc_client.get(REVENUE, headers=auth(token)), 401)["title"] == "Unauthorized", why


# --- over real HTTP, and the CLI ---------------------------------------------------------------


def test_served_over_real_http(app: FastAPI, tokens: dict[str, str]) -> None:
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        with httpx2.Client(base_url=base, timeout=30) as http:
            assert http.get("/healthz").json() == {"status": "ok"}
            assert http.get("/api/v1/metrics").status_code == 401
            rep = http.get(REVENUE, headers={**auth(tokens["emea_rep"]), "X-Request-ID": "live-1"})
            assert rep.status_code == 200 and rep.headers["x-request-id"] == "live-1"
            assert [r[0] for r in rep.json()["rows"]] == ["EMEA"]
            results: list[int] = []

            def hammer() -> None:  # concurrent callers share the one Brain safely
                with httpx2.Client(base_url=base, timeout=30) as own:
                    for url in (REVENUE, "/api/v1/objects/Customer/count", "/api/v1/objects/Customer?limit=3"):
                        results.append(own.get(url, headers=auth(tokens["cfo"])).status_code)

            threads = [threading.Thread(target=hammer) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert results == [200] * 24
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_tokens_cli(brain: Brain, svc: BrainService) -> None:
    class State:
        project: str | None = str(brain.project.root)
        debug = False

    cli = typer.Typer()
    cli.command("noop")(lambda: None)
    service_cmds.register(cli, State())
    runner = CliRunner()
    created = runner.invoke(cli, ["tokens", "create", "ceo", "--scope", "read:metrics", "--format", "json"])
    assert created.exit_code == 0, created.output
    token = json.loads(created.stdout)
    assert token["token"].startswith("cbt_") and token["scopes"] == ["read:metrics"] and token["state"] == "active"
    listed = json.loads(runner.invoke(cli, ["tokens", "list", "--format", "json"]).stdout)["tokens"]
    assert token["id"] in {t["id"] for t in listed} and "token" not in listed[0]
    assert runner.invoke(cli, ["tokens", "revoke", token["id"]]).exit_code == 0
    listed = json.loads(runner.invoke(cli, ["tokens", "list", "--format", "json"]).stdout)["tokens"]
    assert next(t for t in listed if t["id"] == token["id"])["state"] == "revoked"
    unknown = runner.invoke(cli, ["tokens", "create", "nobody"])
    assert unknown.exit_code != 0
