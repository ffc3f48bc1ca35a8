"""Service target (issue "push intelligence into the tools people use"): a cached metric query over HTTP.

`GET /api/v1/metrics/query?...` repeated with the same URL and token, on loopback:
>= 500 requests/s and p99 < 50 ms. Measured with `wrk` when it is installed (Debian: wrk), else
with a bounded Python load loop (threads x httpx2 clients).

Usage: python benchmarks/bench_service.py [--project demo/acme] [--seconds 10] [--connections 16]
(generates, ingests and builds the small demo in a temporary folder when no project is given).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

URL_PATH = "/api/v1/metrics/query?metric=revenue&metric=orders&by=region&period=2025-Q4"
TARGET_RPS, TARGET_P99_MS = 500.0, 50.0
SERVER = (
    "import sys, uvicorn; from companybrain.delivery.app import create_app; "
    "uvicorn.run(create_app(sys.argv[1]), host='127.0.0.1', port=int(sys.argv[2]), log_level='warning')"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(project: Path | None) -> tuple[Path, str]:
    """The project (the small demo, built, when none is given) and a fresh token for the CEO."""
    from companybrain.brain import Brain
    from companybrain.delivery.tokens import TokenStore

    if project is None:
        from companybrain.demo.generate import generate_demo

        project = Path(tempfile.mkdtemp(prefix="bench-service-")) / "acme"
        generate_demo(project, scale="small", seed=7)
        with Brain.open(project) as brain:
            brain.ingest()
            brain.build()
    with Brain.open(project) as brain:
        secret, _ = TokenStore(brain.warehouse).create("ceo", ["read:metrics"], expires_days=1)
    return project, secret


def wait_ready(base: str, proc: subprocess.Popen[bytes]) -> None:
    import httpx2

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            if httpx2.get(base + "/readyz", timeout=1).status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not become ready in 60 s")


def with_wrk(url: str, token: str, seconds: int, connections: int) -> tuple[float, float, str]:
    command = [
        "wrk", f"-t{min(connections, 4)}", f"-c{connections}", f"-d{seconds}s", "--latency",
        "-H", f"Authorization: Bearer {token}", url,
    ]  # fmt: skip
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    p99_ms = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"{errors.group(1)} requests failed:\n{out}")
    return rps, p99_ms, "wrk " + " ".join(command[1:5]) + " ..."


def with_python(url: str, token: str, seconds: int, connections: int) -> tuple[float, float, str]:
    import httpx2

    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker() -> None:
        mine = []
        with httpx2.Client(headers={"Authorization": f"Bearer {token}"}) as client:
            while time.monotonic() < stop:
                t = time.perf_counter()
                client.get(url).raise_for_status()
                mine.append(time.perf_counter() - t)
        with lock:
            latencies.extend(mine)

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    p99 = statistics.quantiles(latencies, n=100)[98] * 1000
    return len(latencies) / elapsed, p99, f"python load loop, {connections} threads"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="A built project (default: the small demo, generated).")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--python-loop", action="store_true", help="Use the Python load loop even if wrk exists.")
    args = parser.parse_args()

    project, token = prepare(args.project)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(project), str(port)], env=os.environ.copy())
    try:
        wait_ready(base, proc)
        import httpx2

        first = httpx2.get(base + URL_PATH, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        first.raise_for_status()  # computes and fills the cache
        use_wrk = shutil.which("wrk") is not None and not args.python_loop
        measure = with_wrk if use_wrk else with_python
        rps, p99, how = measure(base + URL_PATH, token, args.seconds, args.connections)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"GET {URL_PATH}  ({how}, {args.seconds} s, {args.connections} connections)")
    print(f"  requests/s  {rps:10.0f}   target >= {TARGET_RPS:.0f}   {'ok' if rps >= TARGET_RPS else 'MISSED'}")
    print(
        f"  p99 latency {p99:8.1f} ms   target <  {TARGET_P99_MS:.0f} ms  {'ok' if p99 < TARGET_P99_MS else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
