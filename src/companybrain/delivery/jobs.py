"""Landing work inside the service: ingest and build jobs, one at a time, on a warehouse connection of their
own, while the service goes on answering reads from the last committed build.

Jobs come from `POST /api/v1/jobs/ingest|build` (scope `admin:data`), from the CLI when `brain serve` holds
the embedded warehouse (delivery/local.py), and from a schedule (`brain serve --ingest-every 15m`: the
sources, then a build when rows landed). A build commits in one transaction, so a read on the service's
connection sees the previous build or the new one, never a part of it; the reads do not wait for the
job (its only use of the service's lock is to append its audit records to the one hash chain). Changes
to built objects (approvals, rollbacks, scores) wait for a build's transaction (`BrainService.changing`):
the build would otherwise replace them with the objects it read when it began.

No web framework is imported here: the CLI runs `ingest_report` and `build_report` itself when nothing
serves the project.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from companybrain.brain import Brain
from companybrain.errors import BrainError, Conflict, NotFound, WarehouseError
from companybrain.governance.audit import AuditLog
from companybrain.project import Project, expand_env
from companybrain.warehouse import Warehouse, connect
from companybrain.warehouse.duckdb import DuckDBWarehouse

if TYPE_CHECKING:
    from companybrain.delivery.app import BrainService

log = logging.getLogger("companybrain.delivery")

KINDS = ("ingest", "build")
MAX_WAITING = 16  # jobs queued behind the running one; more is a client looping, not a company landing data
KEEP = 100  # finished jobs remembered (in memory: the load log and the builds table are the record)
STOP_SECONDS = 10.0  # how long stopping the service waits for a running job (its transaction rolls back)


def ingest_report(brain: Brain, sources: list[str] | None = None, progress: Any = None) -> dict[str, Any]:
    """`brain ingest --format json`: land the sources (all, or `source` / `source.table` names)."""
    return {"sources": [r.as_dict() for r in brain.ingest(sources or None, progress)]}


def build_report(
    brain: Brain,
    full: bool = False,
    factory: bool = True,
    progress: Any = None,
    guard: AbstractContextManager[Any] | None = None,
    built: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """`brain build --format json`: build the objects (holding `guard`), then train and score the use cases
    that are due (`built` is called in between, when the new objects are committed)."""
    from companybrain import factory as factory_mod

    try:
        with guard or nullcontext():
            report = brain.build(progress, full=full)
    finally:
        if built is not None:
            built()
    due = factory_mod.run_due(brain) if factory and brain.project.usecases else []
    return {**report.as_dict(), "factory": due}


def rows_landed(report: dict[str, Any]) -> int:
    return sum(int(s.get("rows_loaded") or 0) for s in report.get("sources", []))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class Job:
    """One ingest or build, from queued to ok or failed; `result` is what the CLI prints with --format json."""

    job_id: int
    kind: str
    params: dict[str, Any]
    trigger: str  # request | schedule
    requested_by: str
    queued_at: str = field(default_factory=_now)
    status: str = "queued"  # queued | running | ok | failed
    started_at: str | None = None
    finished_at: str | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None  # type (problem slug), status (HTTP), message, hint
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    def as_dict(self, *, full_error: bool) -> dict[str, Any]:
        """The job as the API shows it; a server-side failure's message (hosts, paths, SQL) only in full."""
        error = self.error
        if error is not None and error["status"] >= 500 and not full_error:
            error = {**error, "message": f"job {self.job_id} failed on the server; see the server log", "hint": None}
        return {
            "job_id": self.job_id,
            "kind": self.kind,
            "status": self.status,
            "trigger": self.trigger,
            "requested_by": self.requested_by,
            "params": self.params,
            "queued_at": self.queued_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "result": self.result,
            "error": error,
        }


class LandingBrain(Brain):
    """The project as it is on disk now (what a CLI run would load), on a warehouse connection of its own.

    Its audit records (the factory's governed reads) are appended under the service's lock: the service's
    own appends hold it too, so the records of both connections form one hash chain.
    """

    def __init__(self, project: Project, warehouse: Warehouse, lock: AbstractContextManager[Any]) -> None:
        super().__init__(project)
        self._connection: Warehouse | None = warehouse
        self._lock = lock
        self._chained: AuditLog | None = None

    @property
    def warehouse(self) -> Warehouse:
        if self._connection is None:
            raise WarehouseError("the job's warehouse connection is closed")
        return self._connection

    @property
    def audit(self) -> AuditLog:
        if self._chained is None:
            plain = super().audit  # made as the facade makes it (its key file and all)
            self._chained = _AuditUnderLock(plain.wh, plain.key_path, self._lock)
        return self._chained

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._chained = None
        super().close()


class _AuditUnderLock(AuditLog):
    def __init__(self, wh: Warehouse, key_path: Any, lock: AbstractContextManager[Any]) -> None:
        super().__init__(wh, key_path)
        self._lock = lock

    def append(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        with self._lock:
            return super().append(*args, **kwargs)


class JobRunner:
    """The service's job queue: one worker thread, jobs in the order asked, an optional schedule."""

    def __init__(self, svc: BrainService, every: float | None = None) -> None:
        self.svc = svc
        self.every = every
        self._jobs: OrderedDict[int, Job] = OrderedDict()
        self._waiting: deque[Job] = deque()
        self._running: Job | None = None
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._scheduler: threading.Thread | None = None

    # --- asking -------------------------------------------------------------------------------

    def submit(self, kind: str, params: dict[str, Any], requested_by: str, trigger: str = "request") -> Job:
        """Queue a job; Conflict when the service is stopping or too many jobs wait already."""
        if kind not in KINDS:
            raise NotFound(f"no job kind {kind!r}; valid: {', '.join(KINDS)}")
        with self._cond:
            if self._stop.is_set():
                raise Conflict("the service is stopping: no new jobs", hint="retry when it is back")
            if len(self._waiting) >= MAX_WAITING:
                raise Conflict(
                    f"{len(self._waiting)} jobs are waiting already", hint="GET /api/v1/jobs shows them; retry later"
                )
            job = Job(next(self._ids), kind, params, trigger, requested_by)
            self._jobs[job.job_id] = job
            self._waiting.append(job)
            self._forget_old()
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="brain-jobs", daemon=True)
                self._worker.start()
            self._cond.notify_all()
        log.info("job %s (%s) queued by %s", job.job_id, kind, requested_by)
        return job

    def get(self, job_id: int) -> Job:
        with self._cond:
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id} (the service remembers its last {KEEP} jobs since it started)")
        return job

    def recent(self, limit: int = 20) -> list[Job]:
        """The latest jobs, newest first."""
        with self._cond:
            return list(reversed(self._jobs.values()))[:limit]

    # --- running ------------------------------------------------------------------------------

    def start(self) -> None:
        """Take jobs (again, after a stop) and start the schedule, if the service has one."""
        self._stop.clear()
        if self.every and self._scheduler is None:
            self._scheduler = threading.Thread(target=self._schedule, name="brain-schedule", daemon=True)
            self._scheduler.start()

    def stop(self, seconds: float = STOP_SECONDS) -> bool:
        """Stop taking jobs; fail the waiting ones; wait up to `seconds` for the running one. True when idle."""
        with self._cond:
            self._stop.set()
            while self._waiting:
                self._finish(self._waiting.popleft(), error=Conflict("the service stopped before the job ran"))
            self._cond.notify_all()
        for thread in (self._scheduler, self._worker):
            if thread is not None:
                thread.join(seconds)
        idle = self._worker is None or not self._worker.is_alive()
        if not idle:
            log.warning("a job still runs as the service stops: if the process ends first, its transaction rolls back")
        else:
            self._worker = self._scheduler = None
        return idle

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._stop.is_set():
                    self._cond.wait()
                if self._stop.is_set():
                    return
                job = self._waiting.popleft()
                job.started_at = _now()
                job.status = "running"
                self._running = job
            try:
                self._run(job)
            finally:
                with self._cond:
                    self._running = None

    def _run(self, job: Job) -> None:
        result: dict[str, Any] | None = None
        error: BaseException | None = None
        try:
            with self._landing_brain() as brain:
                if job.kind == "ingest":
                    result = ingest_report(brain, job.params.get("sources"))
                else:
                    full, factory = bool(job.params.get("full")), bool(job.params.get("factory"))
                    result = build_report(
                        brain, full, factory, guard=self.svc.model_lock, built=partial(self._announce, brain)
                    )
        except Exception as exc:  # the job fails, the worker goes on with the next one
            if not isinstance(exc, BrainError):
                log.exception("job %s (%s) failed", job.job_id, job.kind)
            error = exc
        self._finish(job, result, error)
        if result is not None and job.kind == "ingest" and job.params.get("build") and rows_landed(result):
            try:
                self.submit("build", {"full": False, "factory": True}, job.requested_by, job.trigger)
            except Conflict as exc:
                log.warning("no build after job %s: %s", job.job_id, exc.message)

    def _announce(self, brain: Brain) -> None:
        """Readers move to what a build committed now, not at the service's next version check."""
        try:
            self.svc.announce_data_version(brain.data_version())
        except BrainError as exc:  # the job's own error says more
            log.warning("could not read the data version after a build: %s", exc.message)

    def _finish(self, job: Job, result: dict[str, Any] | None = None, error: BaseException | None = None) -> None:
        from companybrain.delivery.models import jsonable

        # readers of the job (the API) see its status change last: an ok job always has its result
        job.finished_at = _now()
        if error is None:
            job.result = jsonable(result)
            job.status = "ok"
        else:
            job.error = _error_of(error)
            job.status = "failed"
            log.warning("job %s (%s) failed: %s", job.job_id, job.kind, job.error["message"])
        job.done.set()

    @contextmanager
    def _landing_brain(self) -> Iterator[LandingBrain]:
        project = Project.load(self.svc.brain.project.root)
        with self.svc.lock:  # the served connection is asked for a sibling by this thread alone
            served = self.svc.brain.warehouse
            own: Warehouse | None = served.another_connection() if isinstance(served, DuckDBWarehouse) else None
        if own is None:  # a server engine: a connection of its own, like any other client
            own = connect(expand_env(project.spec.warehouse), project.root)
        brain = LandingBrain(project, own, self.svc.lock)
        try:
            yield brain
        finally:
            brain.close()

    def _schedule(self) -> None:
        assert self.every is not None
        while not self._stop.wait(self.every):
            with self._cond:
                busy = self._running is not None or bool(self._waiting)
            if busy:  # the schedule never queues behind work: the next tick lands what this one would have
                log.info("scheduled ingest skipped: a job is running or waiting")
                continue
            try:
                self.submit("ingest", {"sources": None, "build": True}, "schedule", trigger="schedule")
            except Conflict:
                return

    def _forget_old(self) -> None:
        while len(self._jobs) > KEEP:
            oldest = next(iter(self._jobs.values()))
            if oldest.status in ("queued", "running"):
                break
            self._jobs.popitem(last=False)


def _error_of(exc: BaseException) -> dict[str, Any]:
    """A job's failure as the API shows it: the problem slug and HTTP status of its error class."""
    from companybrain.delivery.errors import status_of

    if isinstance(exc, BrainError):
        status, slug = status_of(exc)
        return {"type": slug, "status": status, "message": exc.message, "hint": exc.hint}
    return {"type": "internal-error", "status": 500, "message": f"{type(exc).__name__}: {exc}", "hint": None}
