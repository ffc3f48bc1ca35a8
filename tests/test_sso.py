"""Single sign-on in the cockpit: the OIDC authorization code flow with PKCE against a local identity provider
(tests/oidc_idp.py, oauthlib's OpenID Connect server), in a real browser and over plain HTTP; a sign-in
begun in another browser, a replayed callback and a user the project does not know are refused."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from companybrain import Brain
from companybrain.delivery.app import create_app
from tests.oidc_idp import IdentityProvider, identity_provider

pytestmark = pytest.mark.services  # a real service, a real identity provider, a real browser

PASSWORDS = {"emea_rep": "rep-pass-1", "mallory": "not-in-the-project"}


@pytest.fixture(scope="module")
def stack(small_demo: Callable[[str], Path]) -> Iterator[tuple[str, IdentityProvider]]:
    """The service (with the cockpit) on a free port, and the identity provider it trusts."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    root = small_demo("sso")
    before = os.environ.get("OAUTHLIB_INSECURE_TRANSPORT")
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"  # the local provider speaks http; a company's speaks https
    with identity_provider("cockpit", f"{base}/cockpit/sso/callback", PASSWORDS) as idp:
        with (root / "brain.yaml").open("a", encoding="utf-8") as f:
            f.write(
                f"auth:\n  oidc:\n    issuer: {idp.issuer}\n    jwks: {idp.jwks_uri}\n    sign_in:\n"
                f"      client_id: cockpit\n      authorization_endpoint: {idp.authorization_endpoint}\n"
                f"      token_endpoint: {idp.token_endpoint}\n"
            )
        brain = Brain.open(root)
        app = create_app(brain=brain)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            yield base, idp
        finally:
            server.should_exit = True
            thread.join(10)
            brain.close()
    if before is None:
        os.environ.pop("OAUTHLIB_INSECURE_TRANSPORT", None)
    else:
        os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = before


def _to_callback(http: requests.Session, base: str, user: str) -> str:
    """Begin at the cockpit, sign in at the provider; the callback URL the provider sends the browser to."""
    begun = http.get(f"{base}/cockpit/sso", params={"next": "/cockpit/"}, allow_redirects=False)
    assert begun.status_code == 303
    authorize = begun.headers["location"]
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]  # PKCE
    assert query["nonce"][0] and query["state"][0]
    form = http.get(authorize)
    assert form.status_code == 200
    issuer = f"{urlsplit(authorize).scheme}://{urlsplit(authorize).netloc}"
    login = {"query": urlsplit(authorize).query, "username": user, "password": PASSWORDS[user]}
    back = http.post(f"{issuer}/authorize", data=login, allow_redirects=False)
    assert back.status_code == 302, back.text
    return str(back.headers["location"])


def test_browser_signs_in_through_the_identity_provider(stack: tuple[str, IdentityProvider], browser: Any) -> None:
    base, idp = stack
    context = browser.new_context()
    page = context.new_page()
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    page.goto(f"{base}/cockpit/")
    assert "/cockpit/signin" in page.url
    page.click("#sso")
    page.wait_for_url(f"{idp.issuer}/authorize*")
    page.fill("#username", "emea_rep")
    page.fill("#password", PASSWORDS["emea_rep"])
    page.click("#login")
    page.wait_for_url(f"{base}/cockpit/", wait_until="load")
    assert page.get_attribute("#signed-in-user", "data-user") == "emea_rep"
    assert all(urlsplit(u).hostname == "127.0.0.1" for u in seen if not u.startswith("data:"))
    context.close()


def test_the_callback_opens_a_session_of_the_user(stack: tuple[str, IdentityProvider]) -> None:
    base, _ = stack
    http = requests.Session()
    done = http.get(_to_callback(http, base, "emea_rep"))
    assert done.status_code == 200 and 'http-equiv="refresh"' in done.text
    assert "brain_cockpit" in http.cookies.get_dict()
    page = http.get(f"{base}/cockpit/")
    assert page.status_code == 200 and 'data-user="emea_rep"' in page.text


def test_a_callback_from_another_browser_or_replayed_is_refused(stack: tuple[str, IdentityProvider]) -> None:
    base, _ = stack
    http = requests.Session()
    callback = _to_callback(http, base, "emea_rep")
    stranger = requests.get(callback)  # no state cookie: not the browser that began the sign-in
    assert stranger.status_code == 401 and "not begun in this browser" in stranger.text
    assert http.get(callback).status_code == 200
    state = parse_qs(urlsplit(callback).query)["state"][0]
    http.cookies.set("brain_sso", state, path="/cockpit/sso/callback")
    replayed = http.get(callback)
    assert replayed.status_code == 401 and "already used" in replayed.text


def test_a_user_the_project_does_not_know_is_refused(stack: tuple[str, IdentityProvider]) -> None:
    base, _ = stack
    http = requests.Session()
    refused = http.get(_to_callback(http, base, "mallory"))
    assert refused.status_code == 401 and "mallory" in refused.text
    assert "brain_cockpit" not in http.cookies.get_dict()
