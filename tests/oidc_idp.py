"""A local OpenID Connect identity provider for tests, built on oauthlib's OpenID Connect server (the
authorization code grant, PKCE required): a login form, the token endpoint and the JWKS, on a loopback port.
ID tokens are RS256 JWTs signed with a key made for the run. No outside network."""

from __future__ import annotations

import html
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from oauthlib.oauth2.rfc6749.errors import OAuth2Error
from oauthlib.openid import RequestValidator, Server

KID = "test-key"


class Validator(RequestValidator):  # type: ignore[misc]
    """One public client (PKCE, no secret), its one redirect URI, and users with passwords."""

    def __init__(self, issuer: str, client_id: str, redirect_uri: str, users: dict[str, str]) -> None:
        self.issuer, self.client_id, self.redirect_uri, self.users = issuer, client_id, redirect_uri, users
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.codes: dict[str, dict[str, Any]] = {}

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]}

    # --- the authorization request
    def validate_client_id(self, client_id: str, request: Any, *args: Any, **kwargs: Any) -> bool:
        return client_id == self.client_id

    def validate_redirect_uri(self, client_id: str, redirect_uri: str, request: Any, *args: Any, **kwargs: Any) -> bool:
        return redirect_uri == self.redirect_uri

    def get_default_redirect_uri(self, client_id: str, request: Any, *args: Any, **kwargs: Any) -> str:
        return self.redirect_uri

    def validate_response_type(
        self, client_id: str, response_type: str, client: Any, request: Any, *a: Any, **k: Any
    ) -> bool:
        return response_type == "code"

    def validate_scopes(self, client_id: str, scopes: list[str], client: Any, request: Any, *a: Any, **k: Any) -> bool:
        return set(scopes) <= {"openid", "profile"}

    def get_default_scopes(self, client_id: str, request: Any, *args: Any, **kwargs: Any) -> list[str]:
        return ["openid"]

    def validate_user_match(self, id_token_hint: str | None, scopes: list[str], claims: Any, request: Any) -> bool:
        return id_token_hint is None  # no hint is sent: the user signs in on the form

    def is_pkce_required(self, client_id: str, request: Any) -> bool:
        return True

    def save_authorization_code(self, client_id: str, code: dict[str, str], request: Any, *a: Any, **k: Any) -> None:
        self.codes[code["code"]] = {
            "user": request.user,
            "scopes": request.scopes,
            "nonce": request.nonce,
            "challenge": request.code_challenge,
            "method": request.code_challenge_method,
            "redirect_uri": request.redirect_uri,
        }

    # --- the token request
    def client_authentication_required(self, request: Any, *args: Any, **kwargs: Any) -> bool:
        return False

    def authenticate_client_id(self, client_id: str, request: Any, *args: Any, **kwargs: Any) -> bool:
        if client_id != self.client_id:
            return False
        request.client = type("Client", (), {"client_id": client_id})()
        return True

    def validate_grant_type(
        self, client_id: str, grant_type: str, client: Any, request: Any, *a: Any, **k: Any
    ) -> bool:
        return grant_type == "authorization_code"

    def validate_code(self, client_id: str, code: str, client: Any, request: Any, *args: Any, **kwargs: Any) -> bool:
        found = self.codes.get(code)
        if found is None:
            return False
        request.user, request.scopes = found["user"], found["scopes"]
        return True

    def get_code_challenge(self, code: str, request: Any) -> str | None:
        return self.codes.get(code, {}).get("challenge")

    def get_code_challenge_method(self, code: str, request: Any) -> str | None:
        return self.codes.get(code, {}).get("method")

    def confirm_redirect_uri(
        self, client_id: str, code: str, redirect_uri: str, client: Any, request: Any, *a: Any, **k: Any
    ) -> bool:
        return self.codes.get(code, {}).get("redirect_uri") == redirect_uri

    def get_authorization_code_scopes(self, client_id: str, code: str, redirect_uri: str, request: Any) -> list[str]:
        return list(self.codes.get(code, {}).get("scopes", []))

    def get_authorization_code_nonce(self, client_id: str, code: str, redirect_uri: str, request: Any) -> str | None:
        return self.codes.get(code, {}).get("nonce")

    def invalidate_authorization_code(self, client_id: str, code: str, request: Any, *args: Any, **kwargs: Any) -> None:
        self.codes.pop(code, None)

    def save_bearer_token(self, token: dict[str, Any], request: Any, *args: Any, **kwargs: Any) -> None:
        pass

    def finalize_id_token(
        self, id_token: dict[str, Any], token: dict[str, Any], token_handler: Any, request: Any
    ) -> str:
        now = int(time.time())
        claims = {**id_token, "iss": self.issuer, "sub": request.user, "iat": now, "exp": now + 300}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": KID})


class IdentityProvider:
    """The running provider: its issuer URL and the endpoints a client is configured with."""

    def __init__(self, validator: Validator, server: ThreadingHTTPServer) -> None:
        self.validator, self.server = validator, server
        self.issuer = validator.issuer
        self.authorization_endpoint = f"{self.issuer}/authorize"
        self.token_endpoint = f"{self.issuer}/token"
        self.jwks_uri = f"{self.issuer}/jwks"


@contextmanager
def identity_provider(client_id: str, redirect_uri: str, users: dict[str, str]) -> Iterator[IdentityProvider]:
    """Serve a provider on a free loopback port until the block ends."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    issuer = f"http://127.0.0.1:{httpd.server_address[1]}"
    validator = Validator(issuer, client_id, redirect_uri, users)
    httpd.validator = validator  # type: ignore[attr-defined]
    httpd.oauth = Server(validator)  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield IdentityProvider(validator, httpd)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(
        self, status: int, body: str, content_type: str = "text/html", headers: dict[str, str] | None = None
    ) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        oauth, validator = self.server.oauth, self.server.validator  # type: ignore[attr-defined]
        path, _, query = self.path.partition("?")
        if path == "/jwks":
            self._send(200, json.dumps(validator.jwks()), "application/json")
            return
        if path != "/authorize":
            self._send(404, "not found")
            return
        try:
            oauth.validate_authorization_request(f"{validator.issuer}{self.path}", "GET")
        except OAuth2Error as exc:
            self._send(400, f"invalid request: {html.escape(exc.description or exc.error)}")
            return
        self._send(
            200,
            '<!doctype html><title>Acme sign-in</title><form method="post" action="/authorize">'
            f'<input type="hidden" name="query" value="{html.escape(query)}">'
            '<label>User <input id="username" name="username"></label>'
            '<label>Password <input id="password" name="password" type="password"></label>'
            '<button id="login" type="submit">Sign in</button></form>',
        )

    def do_POST(self) -> None:
        oauth, validator = self.server.oauth, self.server.validator  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        form = dict(parse_qsl(body))
        if self.path == "/token":
            headers, payload, status = oauth.create_token_response(
                f"{validator.issuer}/token", "POST", body, {"Content-Type": "application/x-www-form-urlencoded"}
            )
            self._send(status, payload, "application/json", {k: v for k, v in headers.items() if k != "Content-Type"})
            return
        if self.path != "/authorize":
            self._send(404, "not found")
            return
        user = form.get("username", "")
        if validator.users.get(user) != form.get("password") or not user:
            self._send(401, "wrong user or password")
            return
        uri = f"{validator.issuer}/authorize?{form.get('query', '')}"
        scopes, _ = oauth.validate_authorization_request(uri, "GET")
        headers, _, status = oauth.create_authorization_response(uri, "GET", None, None, scopes, {"user": user})
        self._send(status, "", headers=headers)
