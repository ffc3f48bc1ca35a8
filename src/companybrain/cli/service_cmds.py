"""Service commands: `brain serve` and the `brain tokens` group (create, list, revoke)."""

from __future__ import annotations

from typing import Annotated, Any

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
        port: Annotated[int, typer.Option(envvar="BRAIN_PORT", help="Port to listen on.")] = 8765,
    ) -> None:
        """Serve the REST API (OpenAPI at /openapi.json) until interrupted."""
        import uvicorn

        from companybrain.delivery.app import create_app

        api = create_app(state.project)
        console.print(f"Company Brain API on http://{host}:{port}  (OpenAPI: http://{host}:{port}/openapi.json)")
        console.print(f"Cockpit on http://{host}:{port}/cockpit/  (sign in with an API token)", highlight=False)
        uvicorn.run(api, host=host, port=port, log_level="warning")

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
        from companybrain.delivery.tokens import DEFAULT_SCOPES, TokenStore

        with open_brain(state) as brain:
            brain.principal(user)  # an unknown user is an error now, not a token that never works
            secret, token = TokenStore(brain.warehouse).create(user, scope or list(DEFAULT_SCOPES), expires_days)
        if format == "json":
            print_json({**token.as_dict(), "token": secret})
            return
        console.print(secret, highlight=False, soft_wrap=True)
        err_console.print(
            f"token {token.token_id} for {user} ({', '.join(token.scopes)}), expires {token.expires_at}; "
            "it is not shown again",
            highlight=False,
        )

    @tokens_app.command("demo")
    def tokens_demo(format: FormatOpt = "table") -> None:  # type: ignore[assignment]
        """A sign-in token for every declared user, the same on every run (kept in .brain/demo-tokens.json):
        for demos only."""
        from companybrain.delivery.web.signin_tokens import demo_tokens

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
        from companybrain.delivery.tokens import TokenStore

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
        """Revoke a token; it stops working at once (stop `brain serve` first: DuckDB has one writer)."""
        from companybrain.delivery.tokens import TokenStore

        with open_brain(state) as brain:
            token = TokenStore(brain.warehouse).revoke(token_id)
        if format == "json":
            print_json(token.as_dict())
        else:
            console.print(f"revoked {token.token_id} ({token.user})")


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
