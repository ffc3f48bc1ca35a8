"""The README's first screen and its explore block, run as written: `make demo` serving in the background (a
small demo: `make demo` takes `SCALE`, as the README says), then every command of the "in another terminal"
block against it, in bash, exactly as the README has them (parsed out of README.md, so the test cannot drift
from it). While the demo serves, those commands go through the running service (cli/served.py); they must
all succeed. Then the same reads without the service print the same.

`make test`, the first screen's other line, is the suite this test is part of: it is not run from here.
The scale is BRAIN_README_SCALE (default small; `medium` is what `make demo` uses by default).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

REPO = Path(__file__).resolve().parent.parent
SCALE = os.environ.get("BRAIN_README_SCALE", "small")
START_SECONDS = 600 if SCALE == "small" else 3600


def bash_blocks(section: str) -> list[str]:
    """The ```bash blocks of a README section (## heading), in order."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end > 0 else len(text)]
    return re.findall(r"```bash\n(.*?)```", body, flags=re.S)


def commands(block: str) -> list[str]:
    """The block's command lines (comment-only and empty lines left out)."""
    return [line for line in block.splitlines() if line.strip() and not line.strip().startswith("#")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout as `make` sees it (the Makefile, pyproject.toml, an installed .venv), so that `make demo`
    writes demo/acme here and not into the repository."""
    work = tmp_path_factory.mktemp("readme")
    for name in ("Makefile", "pyproject.toml"):
        (work / name).symlink_to(REPO / name)
    (work / ".venv").mkdir()
    (work / ".venv" / "bin").symlink_to(REPO / ".venv" / "bin")
    (work / ".venv" / ".installed").touch()  # installed already: the repository's own environment
    return work


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRAIN_", "VIRTUAL_ENV"))}
    env["COLUMNS"] = "200"  # tables as wide as a terminal, not wrapped
    env["PATH"] = ":".join(p for p in env.get("PATH", "").split(":") if ".venv" not in p)
    return env


@pytest.fixture(scope="module")
def demo_serving(workdir: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """The first screen's `make demo` (small, on a free port), serving until the module ends."""
    (make_demo,) = [c for c in commands(bash_blocks("Set up on a fresh machine")[0]) if c.startswith("make demo")]
    port = free_port()
    line = make_demo.split("#")[0].strip() + f" SCALE={SCALE} PORT={port}"
    log = (workdir / "make-demo.log").open("w")
    process = subprocess.Popen(
        ["bash", "-c", line], cwd=workdir, env=_environment(), stdout=log, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # its own process group: stopped below as Ctrl-C would stop it
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_SECONDS
    try:
        while True:
            assert process.poll() is None, f"`{line}` ended early:\n{(workdir / 'make-demo.log').read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"`{line}` did not serve within {START_SECONDS} s"
            try:
                if httpx2.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            time.sleep(1)
        yield url, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in the terminal that runs `make demo`
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


@pytest.mark.slow
def test_the_first_screen_and_the_explore_block_run_as_written(
    workdir: Path, demo_serving: tuple[str, subprocess.Popen[str]]
) -> None:
    url, _ = demo_serving
    printed = (workdir / "make-demo.log").read_text()
    assert "Sign-in tokens of the demo users" in printed and "ceo" in printed, printed[-3000:]
    assert httpx2.get(url + "/cockpit/signin").status_code == 200
    project = workdir / "demo" / "acme"
    served = json.loads((project / ".brain" / "serve.json").read_text())

    blocks = bash_blocks("Set up on a fresh machine")
    explore = blocks[1]
    script = "set -euo pipefail\nset -x\n" + explore
    started = time.monotonic()
    done = subprocess.run(
        ["bash", "-c", script], cwd=workdir, env=_environment(), capture_output=True, text=True, timeout=900
    )
    seconds = time.monotonic() - started
    assert done.returncode == 0, f"the explore block failed:\n{done.stderr[-4000:]}\n{done.stdout[-4000:]}"
    print(f"explore block ({len(commands(explore))} lines) against the served {SCALE} demo: {seconds:.1f} s")
    # every command went through the service: it held the warehouse all along, and still serves
    assert json.loads((project / ".brain" / "serve.json").read_text())["pid"] == served["pid"]
    assert httpx2.get(url + "/readyz").status_code == 200
    out = done.stdout
    assert "Milwaukee" in out or "MKE" in out
    assert re.search(r"proposed \d+ action\(s\) as batch \d+", out), out[-3000:]


READS = [
    ["objects", "Customer", "--where", "tier = 'strategic'", "--limit", "5", "--format", "json"],
    ["object", "Order", "42", "--format", "json"],
    ["sources", "status", "--format", "json"],
    ["factory", "list", "--format", "json"],
    ["query", "revenue", "--by", "month", "--as", "emea_rep", "--format", "csv"],
    ["actions", "list", "--format", "json"],
    ["value", "--as", "cfo", "--format", "json"],
]


@pytest.mark.slow
def test_the_reads_print_the_same_served_or_not(workdir: Path, demo_serving: tuple[str, subprocess.Popen[str]]) -> None:
    project = workdir / "demo" / "acme"
    brain = str(REPO / ".venv" / "bin" / "brain")

    def run_all() -> list[tuple[int, str]]:
        runs = [subprocess.run([brain, *args], cwd=project, env=_environment(), capture_output=True, text=True)
                for args in READS]  # fmt: skip
        return [(r.returncode, r.stdout) for r in runs]

    served = run_all()
    _, process = demo_serving
    os.killpg(process.pid, signal.SIGINT)
    process.wait(60)
    assert not (project / ".brain" / "serve.json").exists()
    alone = run_all()
    for args, (code, out), (code_alone, out_alone) in zip(READS, served, alone, strict=True):
        assert code == code_alone == 0, args
        assert out == out_alone, f"brain {' '.join(args)} printed otherwise through the service"
