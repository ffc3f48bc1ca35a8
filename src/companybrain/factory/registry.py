"""The registry of use-case versions, kept in MLflow so that people browse runs with the tools they know.

By default a SQLite store inside the project (`.brain/mlflow.db`, artifacts in `.brain/mlruns`);
any tracking server by URL in brain.yaml's `factory.tracking_uri` or $BRAIN_MLFLOW_URI. Each
training is one run of the use case's experiment, tagged with its version number, its status
(champion, challenger or retired), the data version it was trained on, and its lineage.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from companybrain.errors import MissingDependency, NotFound
from companybrain.governance.egress import require_host

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from companybrain.project import Project

TAG = "brain."
CHAMPION, CHALLENGER, RETIRED = "champion", "challenger", "retired"


@dataclass
class Version:
    """One trained version of a use case, as the registry holds it."""

    usecase: str
    version: int
    run_id: str
    status: str
    model_family: str
    data_version: str | None
    trained_at: str
    metrics: dict[str, float]
    params: dict[str, str]
    promoted_by: str | None = None
    promotion_reason: str | None = None

    @property
    def label(self) -> str:
        return f"{self.usecase}@v{self.version}"

    def as_dict(self) -> dict[str, Any]:
        promoted = {"promoted_by": self.promoted_by, "promotion_reason": self.promotion_reason}
        return {
            "version": self.version,
            "label": self.label,
            "run_id": self.run_id,
            "status": self.status,
            "model_family": self.model_family,
            "data_version": self.data_version,
            "trained_at": self.trained_at,
            "metrics": {k: round(v, 6) for k, v in sorted(self.metrics.items())},
            **(promoted if self.promoted_by else {}),
        }


class Registry:
    """Versions of the project's use cases in one MLflow tracking store."""

    def __init__(self, project: Project) -> None:
        self.project = project
        configured = project.spec.factory.tracking_uri if project.spec.factory else None
        self.uri = os.environ.get("BRAIN_MLFLOW_URI") or configured or self._default_uri()
        parsed = urlsplit(self.uri)
        if parsed.scheme not in ("sqlite", "file", ""):  # a tracking server: models and profiles go there
            require_host(
                parsed.hostname or parsed.scheme,
                list(project.spec.egress.allow),
                f"the factory's MLflow tracking server {parsed.scheme}://{parsed.hostname}",
                "the registry may keep the project's models there",
            )
        self._client: MlflowClient | None = None

    def _default_uri(self) -> str:
        folder = self.project.root / ".brain"
        folder.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(folder / 'mlflow.db').as_posix()}"

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            try:
                from mlflow.tracking import MlflowClient
            except ImportError as exc:  # pragma: no cover - a core dependency
                raise MissingDependency("mlflow-skinny", "factory", "the factory's registry") from exc
            os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
            for name in ("mlflow", "alembic"):
                logging.getLogger(name).setLevel(logging.WARNING)
            self._client = MlflowClient(tracking_uri=self.uri)
        return self._client

    def _experiment_id(self, usecase: str, create: bool) -> str | None:
        name = f"{self.project.spec.name}/{usecase}"
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        if not create:
            return None
        location = None
        if self.uri.startswith("sqlite:///"):
            location = (self.project.root / ".brain" / "mlruns" / usecase).resolve().as_uri()
        return str(self.client.create_experiment(name, artifact_location=location))

    def versions(self, usecase: str) -> list[Version]:
        """Every version of a use case, newest first."""
        experiment = self._experiment_id(usecase, create=False)
        if experiment is None:
            return []
        runs = self.client.search_runs([experiment], filter_string="attributes.status = 'FINISHED'", max_results=1000)
        found = [self._version(usecase, run) for run in runs]
        return sorted(found, key=lambda v: -v.version)

    def champion(self, usecase: str) -> Version | None:
        return next((v for v in self.versions(usecase) if v.status == CHAMPION), None)

    def record(
        self,
        usecase: str,
        *,
        status: str,
        model_family: str,
        data_version: str | None,
        params: dict[str, Any],
        metrics: dict[str, float],
        artifacts: dict[str, Any],
        files: dict[str, Path],
    ) -> Version:
        """Register a new version; if it is the champion, the previous champion retires."""
        experiment = self._experiment_id(usecase, create=True)
        assert experiment is not None
        previous = self.versions(usecase)
        number = (previous[0].version if previous else 0) + 1
        tags = {
            f"{TAG}usecase": usecase,
            f"{TAG}version": str(number),
            f"{TAG}status": status,
            f"{TAG}model_family": model_family,
            f"{TAG}data_version": data_version or "",
            "mlflow.runName": f"{usecase}-v{number}",
        }
        run = self.client.create_run(experiment, tags=tags)
        run_id = run.info.run_id
        from mlflow.entities import Metric, Param

        stamp = run.info.start_time
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), stamp, 0) for k, v in metrics.items() if v == v],  # NaN is not a figure
            params=[Param(k, str(v)[:6000]) for k, v in params.items()],
        )
        with tempfile.TemporaryDirectory() as tmp:
            for name, data in artifacts.items():
                path = Path(tmp) / name
                path.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
                self.client.log_artifact(run_id, str(path))
            for path in files.values():
                self.client.log_artifact(run_id, str(path))
        self.client.set_terminated(run_id)
        if status == CHAMPION:
            for v in previous:
                if v.status == CHAMPION:
                    self.client.set_tag(v.run_id, f"{TAG}status", RETIRED)
        return next(v for v in self.versions(usecase) if v.run_id == run_id)

    def promote(self, usecase: str, version: int, by: str, reason: str) -> tuple[Version, Version | None]:
        """Make a version the champion by a person's decision (who and why kept on the version); the
        previous champion retires. Returns the new champion and the one it replaced."""
        from datetime import UTC, datetime

        chosen = self.get(usecase, version)
        previous = self.champion(usecase)
        self.client.set_tag(chosen.run_id, f"{TAG}status", CHAMPION)
        self.client.set_tag(chosen.run_id, f"{TAG}promoted_by", by)
        self.client.set_tag(chosen.run_id, f"{TAG}promotion_reason", reason[:5000])
        self.client.set_tag(chosen.run_id, f"{TAG}promoted_at", datetime.now(UTC).isoformat(timespec="seconds"))
        if previous is not None and previous.run_id != chosen.run_id:
            self.client.set_tag(previous.run_id, f"{TAG}status", RETIRED)
        return self.get(usecase, version), previous

    def artifact(self, version: Version, name: str, into: Path) -> Path:
        """Fetch one artifact of a version into a folder."""
        return Path(self.client.download_artifacts(version.run_id, name, str(into)))

    def has_artifact(self, version: Version, name: str) -> bool:
        """Whether the version carries an artifact of that name (older versions lack newer ones)."""
        return any(info.path == name for info in self.client.list_artifacts(version.run_id))

    def read_json(self, version: Version, name: str) -> Any:
        with tempfile.TemporaryDirectory() as tmp:
            return json.loads(self.artifact(version, name, Path(tmp)).read_text(encoding="utf-8"))

    def get(self, usecase: str, version: int | None = None) -> Version:
        """A version by number, or the champion."""
        versions = self.versions(usecase)
        if not versions:
            raise NotFound(f"use case {usecase} has no trained version", hint=f"brain factory train {usecase}")
        if version is None:
            champion = next((v for v in versions if v.status == CHAMPION), None)
            if champion is None:
                raise NotFound(f"use case {usecase} has no champion", hint="see `brain factory show` for its versions")
            return champion
        for v in versions:
            if v.version == version:
                return v
        raise NotFound(
            f"use case {usecase} has no version {version}; it has {', '.join(str(v.version) for v in versions)}"
        )

    def _version(self, usecase: str, run: Any) -> Version:
        tags = run.data.tags
        from datetime import UTC, datetime

        return Version(
            usecase=usecase,
            version=int(tags.get(f"{TAG}version", "0")),
            run_id=run.info.run_id,
            status=tags.get(f"{TAG}status", CHALLENGER),
            model_family=tags.get(f"{TAG}model_family", ""),
            data_version=tags.get(f"{TAG}data_version") or None,
            trained_at=datetime.fromtimestamp(run.info.start_time / 1000, UTC).isoformat(timespec="seconds"),
            metrics=dict(run.data.metrics),
            params=dict(run.data.params),
            promoted_by=tags.get(f"{TAG}promoted_by") or None,
            promotion_reason=tags.get(f"{TAG}promotion_reason") or None,
        )
