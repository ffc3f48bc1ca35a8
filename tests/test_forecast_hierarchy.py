"""Hierarchical forecasts: the levels summed right, reconciled forecasts that add up by every method,
the backtest per level before and after, the YAML checked (unknown and hostile names refused with
file and line), and a use case trained and scored on the small demo."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from companybrain import Brain, factory
from companybrain.errors import ConfigError
from companybrain.factory import forecast_hierarchy as fh

DIMS = ["region", "site"]
LEVELS = [["region"], []]


def regional_series(periods: int = 72, seed: int = 0) -> pd.DataFrame:
    """Monthly counts of 3 regions x 3 sites of very different sizes; one site starts late."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2018-01-01", periods=periods, freq="MS")
    frames = []
    for r in range(3):
        for s in range(3):
            level = [5, 40, 300][s] * (1 + r)
            y = rng.poisson(level * (1 + 0.3 * np.sin(2 * np.pi * np.arange(periods) / 12 + r))).astype(float)
            frame = pd.DataFrame({"unique_id": f"R{r} | S{r}{s}", "ds": ds, "y": y})
            frames.append(frame.iloc[30:] if (r, s) == (2, 0) else frame)
    return pd.concat(frames, ignore_index=True)


def test_every_level_is_the_sum_of_its_series() -> None:
    data = regional_series()
    tree = fh.structure(sorted(data["unique_id"].unique()), DIMS, LEVELS)
    assert tree.nodes[9:] == ["R0 | (all)", "R1 | (all)", "R2 | (all)", "(all) | (all)"]
    nodes = fh.aggregate(data, tree).set_index(["unique_id", "ds"])["y"]
    by_region = data.assign(region=data["unique_id"].str[:2]).groupby(["region", "ds"])["y"].sum()
    assert nodes.loc[("R2 | (all)", slice(None))].to_numpy() == pytest.approx(by_region.loc["R2"].to_numpy())
    assert nodes.loc[("(all) | (all)", slice(None))].sum() == pytest.approx(data["y"].sum())
    # a level that repeats another adds no node
    assert len(fh.structure(tree.bottom, DIMS, [["region"], ["region"], ["region", "site"]]).nodes) == 12


@pytest.mark.parametrize("method", fh.METHODS)
def test_reconciled_forecasts_add_up_and_coherent_ones_stay_put(method: str) -> None:
    data = regional_series()
    tree = fh.structure(sorted(data["unique_id"].unique()), DIMS, LEVELS)
    rng = np.random.default_rng(1)
    ds = pd.date_range("2024-01-01", periods=4, freq="MS")
    bottom = rng.uniform(1, 500, (9, 4))
    coherent = tree.summing @ bottom
    noisy = coherent * rng.uniform(0.8, 1.2, coherent.shape)
    for base, stays in ((coherent, True), (noisy, False)):
        fc = pd.DataFrame(
            [(node, d, v) for node, row in zip(tree.nodes, base, strict=True) for d, v in zip(ds, row, strict=True)],
            columns=["unique_id", "ds", "forecast"],
        )
        fc = fc.assign(lo_80=fc["forecast"] * 0.8, hi_80=fc["forecast"] * 1.2)
        out = fh.reconcile(fc, tree, method).pivot(index="unique_id", columns="ds", values="forecast")
        out = out.reindex(tree.nodes).to_numpy()
        assert out == pytest.approx(tree.summing @ out[:9])  # every level adds up
        if stays:
            assert out == pytest.approx(coherent)
    if method == "bottom_up":
        assert out[:9] == pytest.approx(noisy[:9])


@pytest.mark.slow
def test_the_backtest_reports_every_level_before_and_after() -> None:
    report = fh.backtest(
        regional_series(),
        dims=DIMS,
        levels=LEVELS,
        method="wls_var",
        model="auto_ets",
        horizon=6,
        season_length=12,
        freq="MS",
        folds=1,
        windows=1,
        n_jobs=1,
    )
    levels = report["hierarchy"]["levels"]
    assert list(levels) == ["region+site", "region", "total"]
    assert [levels[k]["nodes"] for k in levels] == [9, 3, 1]
    for figures in levels.values():
        assert {"smape", "mase", "coverage_80"} <= set(figures["base"]) and "smape" in figures["reconciled"]
    # the report's own figures are the bottom level's, reconciled
    assert report["metrics"]["model"]["smape"] == levels["region+site"]["reconciled"]["smape"]
    assert report["series"] == 9


def _usecase(levels: str, method: str = "wls_var", extra: str = "") -> str:
    return (
        "name: demand_levels\nowner: x@example.com\ntask: forecast\nrun_as: data_steward\n"
        "series: {metric: units_sold, by: [production_line.site.region, site], grain: month}\n"
        "horizon: 3\nbacktest: {folds: 1, windows: 1}\n"
        "output: {object: DemandLevels}\n"
        f"hierarchy:\n  levels: {levels}\n  method: {method}\n{extra}"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("levels", "method", "extra", "expected"),
    [
        ("[[production_line.site.regio], []]", "wls_var", "", "did you mean 'production_line.site.region'"),
        ("[['site; DROP TABLE raw.erp__orders'], []]", "wls_var", "", "is not one of series.by"),
        ("[[site, production_line.site.region]]", "wls_var", "", "is the series themselves"),
        ("[[]]", "mint", "", "'bottom_up', 'ols', 'wls_struct' or 'wls_var'"),
        ("[[]]", "ols", "regressors: [{metric: revenue, future: last}]\n", "not both yet"),
    ],
)
def test_the_hierarchy_in_the_yaml_is_checked_with_file_and_line(
    small_demo, levels: str, method: str, extra: str, expected: str
) -> None:
    root = small_demo("hierarchy-yaml")
    (root / "usecases" / "demand_levels.yaml").write_text(_usecase(levels, method, extra))
    with pytest.raises(ConfigError) as err:
        Brain.open(root)
    assert "usecases/demand_levels.yaml:" in str(err.value) and expected in str(err.value)


@pytest.mark.slow
def test_a_use_case_with_levels_trains_scores_and_its_sites_add_up_to_the_regions(small_demo, run_cli) -> None:
    root = small_demo("hierarchy-train")
    (root / "usecases" / "demand_levels.yaml").write_text(_usecase("[[production_line.site.region], []]"))
    code, _, err = run_cli("-p", str(root), "check")
    assert code == 0, err
    with Brain.open(root) as brain:
        trained = factory.train(brain, ["demand_levels"])[0]
        assert trained["status"] == "ok", trained
        levels = trained["forecaster"]["hierarchy"]["levels"]
        assert list(levels) == ["production_line.site.region+site", "production_line.site.region", "total"]
        assert levels["total"]["nodes"] == 1 and levels["production_line.site.region"]["nodes"] == 4
        brain.build()  # the use case's output type is new
        scored = factory.score(brain, ["demand_levels"])[0]
        assert scored["status"] == "ok", scored
        rows = pd.DataFrame(brain.objects("DemandLevels", limit=None, user="data_steward"))
    # the sites are written, reconciled: no row of a level, and 8 sites x 3 months
    assert len(rows) == 24 and "(all)" not in set(rows["site"]) | set(rows["production_line_site_region"])
    assert (rows["forecast"] >= 0).all()
