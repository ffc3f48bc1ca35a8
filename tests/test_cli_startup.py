"""How fast `brain` starts: the CLI imports no engine before a command runs, `brain --version`, and the
validated project kept in `.brain/` between processes (read back only when nothing it was made from changed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from companybrain.errors import ConfigError
from companybrain.project import CACHE_FILE, Project
from tests.conftest import write
from tests.shop import make_shop

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


# --- the validated project kept between processes ------------------------------------------------------------


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The folders Project.load validated (rather than read back)."""
    seen: list[Path] = []
    validate = Project._validate.__func__  # type: ignore[attr-defined]

    def counted(cls: type[Project], root: Path) -> Project:
        seen.append(root)
        return validate(cls, root)

    monkeypatch.setattr(Project, "_validate", classmethod(counted))
    return seen


def _same(a: Project, b: Project) -> None:
    assert (a.root, a.spec, a.objects, a.metrics, a.dimensions, a.roles, a.users) == (
        b.root,
        b.spec,
        b.objects,
        b.metrics,
        b.dimensions,
        b.roles,
        b.users,
    )
    assert (a.usecases, a.actions, a.alerts, a.scenarios, a.origins) == (
        b.usecases,
        b.actions,
        b.alerts,
        b.scenarios,
        b.origins,
    )


def test_a_valid_project_is_read_back_unchanged(tmp_path: Path, validations: list[Path]) -> None:
    root = make_shop(tmp_path / "shop")
    first = Project.load(root)
    kept = root / CACHE_FILE
    assert kept.is_file() and kept.stat().st_mode & 0o777 == 0o600
    second = Project.load(root)
    assert validations == [root.resolve()]
    assert second is not first
    _same(first, second)


def test_an_edited_file_is_validated_again_even_with_the_same_size_and_time(
    tmp_path: Path, validations: list[Path]
) -> None:
    root = make_shop(tmp_path / "shop")
    Project.load(root)
    ontology = next((root / "ontology").glob("*.yaml"))
    text, stat = ontology.read_text(), ontology.stat()
    assert "Customer:" in text
    ontology.write_text(text.replace("Customer:", "Kustomer:", 1))
    os.utime(ontology, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # as a copy that keeps times would leave it
    assert ontology.stat().st_size == stat.st_size
    with pytest.raises(ConfigError) as cached:
        Project.load(root)
    (root / CACHE_FILE).unlink()
    with pytest.raises(ConfigError) as fresh:
        Project.load(root)
    assert cached.value.problems == fresh.value.problems  # the same errors as without the kept project
    assert len(validations) == 3


def test_a_new_file_and_a_moved_folder_are_validated_again(tmp_path: Path, validations: list[Path]) -> None:
    root = make_shop(tmp_path / "shop")
    Project.load(root)
    write(
        root / "metrics" / "more.yaml",
        """
        metrics:
          order_count_again:
            description: Orders, counted once more.
            object: Order
            expr: count(*)
        """,
    )
    assert "order_count_again" in Project.load(root).metrics
    moved = root.rename(tmp_path / "moved")
    project = Project.load(moved)
    assert project.root == moved.resolve() and "order_count_again" in project.metrics
    assert validations == [root.resolve(), root.resolve(), moved.resolve()]


def test_a_kept_file_others_could_write_or_cut_short_is_not_read(tmp_path: Path, validations: list[Path]) -> None:
    root = make_shop(tmp_path / "shop")
    first = Project.load(root)
    kept = root / CACHE_FILE
    kept.chmod(0o666)  # anyone could have put code in it: unpickling would run it
    Project.load(root)
    assert len(validations) == 2 and kept.stat().st_mode & 0o777 == 0o600  # written anew, by this user
    header = kept.read_bytes().split(b"\n", 1)[0]
    kept.write_bytes(header + b"\nnot a pickle")
    kept.chmod(0o600)
    _same(Project.load(root), first)
    assert len(validations) == 3


def test_a_folder_that_cannot_be_written_still_loads(tmp_path: Path, validations: list[Path]) -> None:
    root = make_shop(tmp_path / "shop")
    (root / ".brain").write_text("a file where the folder would be")
    assert Project.load(root).spec.name and Project.load(root).spec.name
    assert len(validations) == 2
