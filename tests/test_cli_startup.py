"""How fast `brain` starts: the CLI imports no engine before a command runs; `brain --version`."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version

# what `brain --help` must not pay for: the engine, the service, and the libraries behind them
HEAVY = (
    "companybrain.brain",
    "companybrain.project",
    "companybrain.specs",
    "companybrain.semantic",
    "companybrain.ontology",
    "companybrain.governance",
    "companybrain.decisions",
    "companybrain.factory",
    "companybrain.copilot",
    "companybrain.delivery",
    "companybrain.warehouse",
    "companybrain.sources",
    "companybrain.scaffold",
    "pydantic",
    "ruamel",
    "pyarrow",
    "sqlglot",
    "pandas",
    "numpy",
    "duckdb",
    "fastapi",
    "uvicorn",
    "mcp",
    "highspy",
    "statsforecast",
    "lightgbm",
    "sklearn",
    "mlflow",
)


def _imported_by(code: str) -> list[str]:
    """The heavy modules in sys.modules after running `code` in a new interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    modules = json.loads(done.stdout.strip().splitlines()[-1])
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]


def test_importing_the_cli_imports_no_engine() -> None:
    assert _imported_by("import companybrain.cli.main") == []


def test_help_imports_no_engine() -> None:
    run_help = (
        "import sys\nfrom companybrain.cli.main import main\nsys.argv = ['brain', '--help']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert exc.code in (0, None), exc.code"
    )
    assert _imported_by(run_help) == []


def test_help_exits_0(run_cli) -> None:
    code, out, _ = run_cli("--help")
    assert code == 0
    assert "Usage: brain" in out and "ask" in out and "--version" in out
    for group in ("copilot", "sources", "factory", "demo"):
        code, out, _ = run_cli(group, "--help")
        assert code == 0 and f"Usage: brain {group}" in out


def test_version_from_the_package_metadata(run_cli) -> None:
    code, out, err = run_cli("--version")
    assert (code, out, err) == (0, f"brain {version('companybrain')}\n", "")


def test_version_is_the_package_version() -> None:
    import companybrain

    assert companybrain.__version__ == version("companybrain")


def test_schema_kinds_named_in_the_cli_are_the_specs() -> None:
    from companybrain.cli.project_cmds import SCHEMA_KINDS
    from companybrain.specs.schema import KINDS

    assert tuple(KINDS) == SCHEMA_KINDS
