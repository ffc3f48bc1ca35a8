"""Values derived from a build and kept between runs (companybrain/derived.py): read back only for the
same build, reader, project shape and code; audited when read back; recomputed otherwise. On the small
demo, with real scenario runs (a fresh Brain per run, as `brain scenario run` has)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from companybrain import Brain
from companybrain.decisions.scenarios import run_scenario
from companybrain.derived import FOLDER, derived
from tests.conftest import write

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def root(small_demo: Callable[[str], Path]) -> Path:
    root = small_demo("derived")
    # an estimated elasticity (overlays) and a capacity cut in the plan's 13 weeks (a replan)
    write(
        root / "scenarios" / "pumps_up_mke_cut.yaml",
        """
        name: pumps_up_mke_cut
        period: 2026-01-01..2026-05-31
        changes:
          - {type: price, family: PUMP, change_pct: 5, elasticity: estimated}
          - {type: capacity, site: Milwaukee, change_pct: -50}
        """,
    )
    return root


def counted() -> tuple[list[int], Callable[[], dict[str, Any]]]:
    calls: list[int] = []

    def make() -> dict[str, Any]:
        calls.append(1)
        return {"n": len(calls), "when": "2026-03-01"}

    return calls, make


def test_a_value_is_kept_per_build_reader_key_and_policies(root: Path) -> None:
    calls, make = counted()
    with Brain.open(root) as brain:
        assert derived(brain, "cfo", "probe", make) == ({"n": 1, "when": "2026-03-01"}, False)
    with Brain.open(root) as brain:  # another process: read back, and the read is audited
        before = max([r["seq"] for r in brain.audit.tail(1)], default=0)
        assert derived(brain, "cfo", "probe", make) == ({"n": 1, "when": "2026-03-01"}, True)
        audited = [r for r in brain.audit.tail(10) if r["seq"] > before]
        assert [(r["user_name"], r["action"]) for r in audited] == [("cfo", "derived")]
        assert '"kind": "probe"' in audited[0]["request"] and audited[0]["data_version"].startswith("build-")
        # another reader, or another key: computed for them
        assert derived(brain, "emea_rep", "probe", make)[1] is False
        assert derived(brain, "cfo", "probe", make, key="2026-04-01")[1] is False
        assert len(calls) == 3
    # a policy edited: what the reader may see may have changed, nothing kept is read; and a Brain
    # loaded before the edit (a running service) keeps what it computes under the old policy's name
    loaded_before = Brain.open(root)
    write(root / "policies" / "more.yaml", "users:\n  auditor: {roles: [finance], attributes: {function: Finance}}\n")
    with Brain.open(root) as brain:
        assert derived(brain, "cfo", "probe", make) == ({"n": 4, "when": "2026-03-01"}, False)
        assert derived(loaded_before, "cfo", "fresh", make)[1] is False  # computed with the old policies
        assert derived(brain, "cfo", "fresh", make) == ({"n": 6, "when": "2026-03-01"}, False)  # not read
    loaded_before.close()
    (root / "policies" / "more.yaml").write_text("# no more users\n")  # a comment: the project is the same
    with Brain.open(root) as brain:
        assert derived(brain, "cfo", "probe", make) == ({"n": 1, "when": "2026-03-01"}, True)
    # a half-written or damaged file is not read: computed again and rewritten
    kept = sorted((root / FOLDER).glob("probe-*.json"))
    for path in kept:
        path.write_text('{"value": ')
    with Brain.open(root) as brain:
        assert derived(brain, "cfo", "probe", make) == ({"n": 7, "when": "2026-03-01"}, False)
        assert derived(brain, "cfo", "probe", make) == ({"n": 7, "when": "2026-03-01"}, True)
    # pickled (the copilot's vocabulary): read back as the same objects; a damaged file is made again
    pickled_calls: list[int] = []

    def vocabulary() -> dict[str, Any]:
        pickled_calls.append(1)
        return {"terms": {("on", "time"): {("metric", "otd")}}, "n": len(pickled_calls)}

    with Brain.open(root) as brain:
        assert derived(brain, "cfo", "probe_pickle", vocabulary, pickled=True)[1] is False
    with Brain.open(root) as brain:
        value, kept_back = derived(brain, "cfo", "probe_pickle", vocabulary, pickled=True)
        assert kept_back and value == {"terms": {("on", "time"): {("metric", "otd")}}, "n": 1}
    for path in (root / FOLDER).glob("probe_pickle-*.pickle"):
        path.write_bytes(b"\x80\x05not a pickle")
    with Brain.open(root) as brain:
        assert derived(brain, "cfo", "probe_pickle", vocabulary, pickled=True) == (
            {"terms": {("on", "time"): {("metric", "otd")}}, "n": 2},
            False,
        )
    # files of a later build id: a warehouse made anew left them (written before this build) and they go;
    # another process's newer build (written since) stays
    folder = root / FOLDER
    gone, newer = folder / "probe-99-0123456789abcdef.json", folder / "probe-98-0123456789abcdef.json"
    for path in (gone, newer):
        path.write_text('{"value": 1}')
    os.utime(gone, (1_000_000_000, 1_000_000_000))
    with Brain.open(root) as brain:
        assert derived(brain, "cfo", "another", make)[1] is False
    assert newer.exists() and not gone.exists()


def test_a_scenario_keeps_the_estimated_elasticity_and_the_baseline_plan_until_the_next_build(root: Path) -> None:
    def run() -> Any:
        with Brain.open(root) as brain:
            before = max([r["seq"] for r in brain.audit.tail(1)], default=0)
            result = run_scenario(brain, "pumps_up_mke_cut", "cfo")
            kinds = [r["request"] for r in brain.audit.tail(500) if r["seq"] > before and r["action"] == "derived"]
            return result, kinds

    first, kinds = run()
    assert kinds == []
    assert first.plan["status"] == "recomputed" and first.plan["baseline"]["solved"] == "now"
    second, kinds = run()
    assert sorted(k.split('"kind": "')[1].split('"')[0] for k in kinds) == ["baseline_plan", "elasticity"]
    assert second.plan["baseline"]["solved"] == "kept from an earlier run on this build"
    # the same figures as computed: the KPI diff, the assumption and the baseline plan
    assert second.kpis == first.kpis and second.assumptions == first.assumptions
    assert any("price elasticity estimated from the order history: PUMP" in a for a in second.assumptions)
    drop = {"solved", "seconds"}
    strip = {k: v for k, v in first.plan["baseline"].items() if k not in drop}
    assert {k: v for k, v in second.plan["baseline"].items() if k not in drop} == strip
    assert second.plan["kpis"] == first.plan["kpis"]
    # a new build: what was kept belongs to the old one and is removed when the new value is kept
    with Brain.open(root) as brain:
        brain.build()
        build = brain.require_built()["build_id"]
    third, kinds = run()
    assert kinds == [] and third.plan["baseline"]["solved"] == "now"
    kept = sorted(p.name for p in (root / FOLDER).iterdir())  # every kind's, the probes' of build 1 too
    assert kept and all(name.split("-")[1] == str(build) for name in kept), kept
