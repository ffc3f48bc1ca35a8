"""brain.yaml: the project's name, warehouse, sources and egress allow-list."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from companybrain.specs.base import DataType, Spec

NAME = r"^[a-z][a-z0-9_]*$"
DEFAULT_MAX_QUARANTINED = 0.2


class SourceTable(Spec):
    """One table of a source, landed as raw.<source>__<name>."""

    name: Annotated[str, Field(pattern=NAME, description="Raw table name (snake_case).")]
    primary_key: list[str] = Field(
        default_factory=list, description="Key columns; loads upsert by it and null keys are quarantined."
    )
    cursor: str | None = Field(
        None, description="Column that grows on every change (e.g. updated_at): incremental loads."
    )
    mode: Literal["incremental", "full"] | None = Field(
        None, description="Default: incremental when a cursor (SQL) or files (append by file)."
    )
    columns: dict[str, DataType] = Field(
        default_factory=dict,
        description="Declared column types; values that do not cast are quarantined.",
    )
    max_quarantined: float = Field(
        DEFAULT_MAX_QUARANTINED,
        description="Fraction of the rows a load reads (of each file, for files) that it may quarantine; "
        "a load that quarantines more fails, nothing of it is written and the previous state stays. "
        "0 fails on any bad row, 1 never.",
    )
    # SQL sources
    query: str | None = Field(None, description="SQL source: a SELECT instead of the whole table.")
    source_table: str | None = Field(None, description="SQL source: table name if it differs.")
    # file sources
    files: str | None = Field(None, description="File source: glob under the source path.")
    format: Literal["csv", "parquet", "jsonl", "excel"] | None = None
    sheet: str | None = Field(None, description="Excel: sheet name (default: the first).")

    @field_validator("max_quarantined")
    @classmethod
    def _a_fraction(cls, value: float) -> float:
        if not 0 <= value <= 1:
            raise ValueError(
                f"max_quarantined must be a fraction of the rows read, from 0 to 1 (0.2 = 20%), got {value:g}"
            )
        return value


class SourceBase(Spec):
    name: Annotated[str, Field(pattern=NAME)]
    description: str = ""
    tables: list[SourceTable]
    batch_size: int = Field(500_000, gt=0, description="Rows per batch read from the source.")

    @model_validator(mode="after")
    def _unique_tables(self) -> SourceBase:
        names = [t.name for t in self.tables]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"table names must be unique in a source: {dupes}")
        return self


class SqlSource(SourceBase):
    """A SQL database: sqlite:///file, postgresql://..., mysql://... (read with connectorx)."""

    type: Literal["sql"]
    url: str = Field(description="Database URL; ${ENV_VAR} is expanded; sqlite paths are relative to the project.")


class FileSource(SourceBase):
    """A folder of files: CSV, Parquet, JSON lines or Excel exports."""

    type: Literal["files"]
    path: str = Field(description="Folder, relative to the project or absolute.")
    format: Literal["csv", "parquet", "jsonl", "excel"] = "csv"


Source = Annotated[SqlSource | FileSource, Field(discriminator="type")]


class Egress(Spec):
    allow: list[str] = Field(default_factory=list, description="Hosts this project may call (LLM endpoints, webhooks).")


class OIDCSignIn(Spec):
    """The cockpit's single sign-on at the issuer: the authorization code flow with PKCE, as a registered client."""

    client_id: str = Field(description="The cockpit's client id at the issuer; its ID tokens' `aud`.")
    client_secret: str | None = Field(
        None, description="A confidential client's secret (write ${ENV}); omit for a public client (PKCE alone)."
    )
    authorization_endpoint: str = Field(description="The issuer's authorization endpoint (https).")
    token_endpoint: str = Field(description="The issuer's token endpoint (https).")
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile"], description="Scopes asked for.")


class OIDC(Spec):
    """An OpenID Connect issuer whose bearer JWTs the service accepts."""

    issuer: str = Field(description="The `iss` to accept.")
    jwks: str = Field(description="The issuer's JWKS: a file (relative to the project) or an https URL.")
    audience: str | None = Field(None, description="The `aud` to require.")
    user_claim: str = Field(
        "sub", description="The claim naming the project user (sub: stable; preferred_username is often editable)."
    )
    sign_in: OIDCSignIn | None = Field(None, description="Single sign-on in the cockpit at this issuer.")


class Auth(Spec):
    oidc: OIDC | None = None


class CopilotLLM(Spec):
    """An OpenAI-compatible chat endpoint (vLLM, llama.cpp server, Ollama) that fills the copilot's plans."""

    url: str = Field(description="Base URL of the API, e.g. http://127.0.0.1:8000/v1 (POST {url}/chat/completions).")
    model: str = Field(description="The model name the endpoint serves.")
    api_key_env: str | None = Field(None, description="Environment variable holding the API key, if one is needed.")
    privacy: bool = Field(True, description="Send no company data to the model: only the question and the model.")
    timeout: float = Field(60.0, gt=0, description="Seconds to wait for the model's reply.")


class CopilotSpec(Spec):
    """How `brain ask` turns questions into plans: the embedded parser, or an LLM the project names."""

    engine: Literal["embedded", "llm"] = Field("embedded", description="Who turns questions into plans.")
    llm: CopilotLLM | None = None

    @model_validator(mode="after")
    def _llm_named(self) -> CopilotSpec:
        if self.engine == "llm" and self.llm is None:
            raise ValueError("copilot.engine is llm but copilot.llm (url, model) is not set")
        return self


class FactorySettings(Spec):
    """Where the AI factory registers its versions."""

    tracking_uri: str | None = Field(
        None, description="MLflow tracking URI (default: sqlite:///<project>/.brain/mlflow.db)."
    )


class ProjectSpec(Spec):
    """The root file of a brain project."""

    name: Annotated[str, Field(pattern=NAME)]
    description: str = ""
    warehouse: str = Field(
        "duckdb:///.brain/warehouse.duckdb",
        description="duckdb:///relative/path.duckdb (default), postgresql://user@host/db, "
        "sc://host:15002 (Spark Connect) or spark:local[2] (a local Spark session).",
    )
    sources: list[Source] = Field(default_factory=list)
    egress: Egress = Egress()
    auth: Auth = Field(default_factory=Auth, description="How the service signs callers in (besides API tokens).")
    copilot: CopilotSpec = Field(default_factory=CopilotSpec, description="The copilot's engine (`brain ask`).")
    factory: FactorySettings | None = Field(None, description="The AI factory's registry (MLflow).")
    today: date | None = Field(
        None, description="Reference date for relative periods (last_quarter, ytd); default: the real date."
    )

    @field_validator("warehouse")
    @classmethod
    def _known_engine(cls, url: str) -> str:
        if not re.match(r"^((duckdb|postgres|postgresql)(\+\w+)?://|sc://|spark:local)", url):
            raise ValueError("warehouse must start with duckdb://, postgresql://, sc:// or spark:local")
        return url

    @model_validator(mode="after")
    def _unique_sources(self) -> ProjectSpec:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique: {dupes}")
        return self
