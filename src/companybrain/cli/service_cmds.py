"""Service commands: `brain serve` and the `brain tokens` group (create, list, revoke, demo); while `brain serve`
holds the embedded warehouse, the tokens commands go through it (cli/served.py)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer

from companybrain.cli.data import open_brain
from companybrain.cli.options import AsOpt
from companybrain.cli.output import FormatOpt, console, err_console, print_json, print_rows


def register(app: typer.Typer, state: Any) -> None:
    tokens_app = typer.Typer(help="API tokens for the service: shown once, stored hashed.", no_args_is_help=True)
    app.add_typer(tokens_app, name="tokens")

    @app.command()
    def serve(
        host: Annotated[str, typer.Option(envvar="BRAIN_HOST", help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(envvar="BRAIN_PORT", help="Port to listen on (0: any free one).")] = 8765,
        ingest_every: Annotated[
            str | None,
            typer.Option(
                "--ingest-every",
                envvar="BRAIN_INGEST_EVERY",
                help="Land the sources on this schedule (30s, 15m, 2h, 1d), and build when rows landed.",
            ),
        ] = None,
        sql_port: Annotated[
            int | None,
            typer.Option(
                "--sql-port",
                envvar="BRAIN_SQL_PORT",
                help="Also speak the PostgreSQL wire protocol on this port (the SQL door for BI tools: "
                "user and API token as password, each metric set a table).",
            ),
        ] = None,
        log_level: Annotated[
            str,
            typer.Option(
                "--log-level",
                envvar="BRAIN_LOG_LEVEL",
                help="debug, info (with the access log: one line per request), warning or error.",
            ),
        ] = "info",
    ) -> None:
        """Serve the REST API (OpenAPI at /openapi.json) until interrupted. While it holds an embedded
        warehouse, `brain ingest`, `build`, `tokens` and `audit verify` send their work to it."""
        import uvicorn

        from companybrain.delivery.app import LOG_LEVELS, configure_logging, create_app
        from companybrain.delivery.local import loopback_url

        if log_level.lower() not in LOG_LEVELS:
            raise typer.BadParameter(f"{log_level!r}: use one of {', '.join(LOG_LEVELS)}", param_hint="--log-level")
        logs: dict[str, Any] = {"log_config": configure_logging(log_level), "log_level": log_level.lower()}
        logs["access_log"] = log_level.lower() in ("debug", "info")  # one line per request
        every = parse_interval(ingest_every) if ingest_every else None
        api = create_app(state.project, ingest_every=every)
        svc = api.state.service
        embedded = svc.embedded  # opens the warehouse now: a second `brain serve` of the project stops here
        config = uvicorn.Config(api, host=host, port=port, **logs)
        sockets = [config.bind_socket()]
        port = sockets[0].getsockname()[1]
        local_url = loopback_url(host, port)
        if local_url is None:  # another interface only: the CLI on this machine still needs loopback
            sockets.append(uvicorn.Config(api, host="127.0.0.1", port=port, **logs).bind_socket())
            local_url = f"http://127.0.0.1:{port}"
        if embedded:  # removed when the service stops (its lifespan), or ignored once this process is gone
            svc.publish_local(local_url)
        base = f"http://{host}:{port}"
        console.print(f"Company Brain API on {base}  (docs: {base}/docs, OpenAPI: {base}/openapi.json)", soft_wrap=True)
        console.print(f"Cockpit on {base}/cockpit/  (sign in with an API token)", highlight=False, soft_wrap=True)
        if every:
            console.print(f"Landing the sources every {ingest_every}, building when rows landed", highlight=False)
        door = None
        if sql_port is not None:
            from companybrain.delivery.sqldoor import SqlDoor

            door = SqlDoor(svc, host, sql_port).start()
            console.print(
                f"SQL door on postgresql://USER@{host}:{door.port}/brain  (password: the user's API token)",
                highlight=False,
                soft_wrap=True,
            )
        try:
            uvicorn.Server(config).run(sockets=sockets)
        finally:
            if door is not None:
                door.stop()
            svc.unpublish_local()

    @tokens_app.command("create")
    def tokens_create(
        user: Annotated[str, typer.Argument(help="The project user the token acts as.")],
        scope: Annotated[
            list[str] | None,
            typer.Option("--scope", help="read:metrics, read:objects, read:audit (repeat; default the first two)."),
        ] = None,
        expires_days: Annotated[int, typer.Option(help="Days until it stops working.")] = 90,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Create a token for USER and print it once: it is stored only as a hash."""
        from companybrain.cli.served import service_of
        from companybrain.delivery.tokens import DEFAULT_SCOPES, TokenStore

        scopes = scope or list(DEFAULT_SCOPES)
        service = service_of(state)
        if service is not None:
            body = {"user": user, "scopes": scopes, "expires_days": expires_days}
            created: dict[str, Any] = service.call("POST", "/api/v1/local/tokens", body)
        else:
            with open_brain(state) as brain:
                brain.principal(user)  # an unknown user is an error now, not a token that never works
                secret, token = TokenStore(brain.warehouse).create(user, scopes, expires_days)
            created = {**token.as_dict(), "token": secret}
        if format == "json":
            print_json(created)
            return
        console.print(created["token"], highlight=False, soft_wrap=True)
        err_console.print(
            f"token {created['id']} for {user} ({', '.join(created['scopes'])}), expires {created['expires_at']}; "
            "it is not shown again",
            highlight=False,
        )

    @tokens_app.command("demo")
    def tokens_demo(format: FormatOpt = "table") -> None:  # type: ignore[assignment]
        """A sign-in token for every declared user, the same on every run (kept in .brain/demo-tokens.json):
        for demos only."""
        from companybrain.cli.served import service_of
        from companybrain.delivery.web.signin_tokens import demo_tokens

        service = service_of(state)
        if service is not None:
            tokens: dict[str, str] = service.call("POST", "/api/v1/local/tokens/demo")
        else:
            with open_brain(state) as brain:
                tokens = demo_tokens(brain)
        if format == "json":
            print_json(tokens)
            return
        console.print("Sign-in tokens of the demo users (paste one into the cockpit's sign-in page):")
        for user, secret in tokens.items():
            console.print(f"  {user:<20} {secret}", highlight=False, soft_wrap=True)

    @tokens_app.command("list")
    def tokens_list(format: FormatOpt = "table") -> None:  # type: ignore[assignment]
        """The tokens issued, without their secrets."""
        from companybrain.cli.served import service_of
        from companybrain.delivery.tokens import TokenStore

        service = service_of(state)
        if service is not None:
            tokens: list[dict[str, Any]] = service.call("GET", "/api/v1/local/tokens")["tokens"]
        else:
            with open_brain(state) as brain:
                tokens = [t.as_dict() for t in TokenStore(brain.warehouse).all_tokens()]
        if format == "json":
            print_json({"tokens": tokens})
            return
        for t in tokens:
            t["scopes"] = " ".join(t["scopes"])
        print_rows(tokens, title="API tokens", columns=["id", "user", "scopes", "state", "created_at", "expires_at"])

    @tokens_app.command("revoke")
    def tokens_revoke(
        token_id: Annotated[str, typer.Argument(metavar="ID", help="The token id (`brain tokens list`).")],
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Revoke a token; it stops working at once (also while `brain serve` runs: it revokes it)."""
        from companybrain.cli.served import service_of
        from companybrain.delivery.tokens import TokenStore

        service = service_of(state)
        if service is not None:
            revoked: dict[str, Any] = service.call("POST", f"/api/v1/local/tokens/{quote(token_id, safe='')}/revoke")
        else:
            with open_brain(state) as brain:
                revoked = TokenStore(brain.warehouse).revoke(token_id).as_dict()
        if format == "json":
            print_json(revoked)
        else:
            console.print(f"revoked {revoked['id']} ({revoked['user']})")


def parse_interval(text: str) -> float:
    """Seconds in `30s`, `15m`, `2h`, `1d` or a plain number of seconds; at least 10 s."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        seconds = float(number) * units[unit]
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an interval: write 30s, 15m, 2h or 1d") from None
    if not seconds >= 10:
        raise typer.BadParameter(f"{text!r} is too often: at least 10s", param_hint="--ingest-every")
    return seconds


def register_mcp(app: typer.Typer, state: Any) -> None:
    @app.command()
    def mcp(
        user: AsOpt = None,
        token: Annotated[
            str | None, typer.Option(envvar="BRAIN_TOKEN", help="Act as the user of this API token (preferred).")
        ] = None,
    ) -> None:
        """Serve the brain's tools to any MCP client (stdio): every call as the token's user."""
        from companybrain.delivery.mcp_server import create_mcp_server, principal_of_token

        with open_brain(state) as brain:
            acting = principal_of_token(brain, token) if token else user
            brain.principal(acting)  # an unknown user fails here, before any client connects
            # stdio: one client, one user. Over HTTP (`brain serve`, /mcp) each request carries its own token.
            create_mcp_server(brain, acting).run("stdio")
