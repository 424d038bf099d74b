"""Figures from real result directories: their content (axes, curves, bands, event markers,
calendar dates), the files written, and the `alliance plot` command's errors.

Fixtures build a 2,000-run batch of csto_2022 and of csto_no_war, a 3 x 3 sweep and a small Sobol
run once per module (about 2 s); the whole module takes about 20 s.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from result_dirs import SCENARIOS, make_batch, make_sensitivity, make_sweep

from sim.batch.results import load
from sim.model.errors import InputError
from sim.plots import figure, plot, sensitivity_bars, sweep_heatmap
from sim.plots.style import EVENT_MARKER_GID, LINESTYLES, MARKERS, series_style

ALLIANCE = [str(Path(sys.executable).with_name("alliance"))]
STAGES = ("disengaged", "frozen", "withdrawn")


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("results")
    return {
        "war": make_batch(root / "war"),
        "no_war": make_batch(root / "no_war", "csto_no_war.yaml"),
        "sweep": make_sweep(root),
        "sobol": make_sensitivity(root),
    }


@pytest.fixture(scope="module")
def war(dirs: dict[str, Path]):
    return load(dirs["war"])


def panels(fig) -> list:
    """The data panels of a figure (not the event-key strip, not colour bars)."""
    return [
        ax for ax in fig.axes if ax.get_visible() and ax.axison and ax.get_label() != "<colorbar>"
    ]


def by_gid(artists, prefix: str) -> dict:
    return {a.get_gid(): a for a in artists if (a.get_gid() or "").startswith(prefix)}


def x_dates(line) -> list[dt.date]:
    return [mdates.num2date(v).date() for v in mdates.date2num(line.get_xdata())]


def band_values(collection) -> np.ndarray:
    return np.concatenate([p.vertices[:, 1] for p in collection.get_paths()])


def marker_dates(ax) -> list[dt.date]:
    return sorted(x_dates(line)[0] for line in ax.lines if line.get_gid() == EVENT_MARKER_GID)


def first_event_of_each_month(timeline: list[dict[str, str]]) -> list[dt.date]:
    """Expected marker dates, computed independently of the plotting code."""
    firsts: dict[str, str] = {}
    for event in sorted(timeline, key=lambda e: e["date"]):
        firsts.setdefault(event["date"][:7], event["date"])
    return sorted(dt.date.fromisoformat(d if len(d) == 10 else d + "-01") for d in firsts.values())


def test_defection_curves_by_stage_show_every_member_with_bands_and_events(dirs, war):
    fig = figure([dirs["war"]], "defection-curves")
    axes = panels(fig)
    assert len(axes) == 3
    sc = war.scenario
    expected_markers = first_event_of_each_month(sc.timeline)
    assert len(expected_markers) == 9
    for ax, stage in zip(axes, STAGES, strict=True):
        assert stage in ax.get_title(loc="left")
        assert ax.get_ylabel() == "cumulative probability (%)"
        assert ax.get_xlabel() == "calendar date (end of month)"
        lines = by_gid(ax.lines, "curve:")
        assert sorted(lines) == sorted(f"curve:{m}:{stage}" for m in sc.members)
        bands = by_gid(ax.collections, "band:")
        assert len(bands) == len(sc.members)
        for member in sc.members:
            rows = war.curves[(war.curves.member == member) & (war.curves.stage == stage)]
            line = lines[f"curve:{member}:{stage}"]
            assert np.allclose(line.get_ydata(), rows.sort_values("month")["probability"])
            dates = x_dates(line)
            assert dates[0] == dt.date(2020, 2, 1) and dates[-1] == dt.date(2031, 1, 1)
            values = band_values(bands[f"band:{member}:{stage}"])
            assert values.min() >= 0.0 and values.max() <= 1.0
            assert (rows["low"] <= rows["probability"] + 1e-12).all()
            assert (rows["probability"] <= rows["high"] + 1e-12).all()
        assert marker_dates(ax) == expected_markers
    title = fig.legends[0].get_title().get_text()
    assert "csto_2022" in title and "2,000 runs" in title and "seed 1" in title
    # fixed parameters: the title says the bands are Monte Carlo error only
    assert "95% Monte Carlo bands" in " ".join(title.split()) and "parameters fixed" in title
    key = "\n".join(t.get_text() for ax in fig.axes if not ax.axison for t in ax.texts)
    for event in sc.timeline:
        assert event["date"] in key and event["what"] in key


def test_curves_tell_members_apart_in_greyscale(dirs):
    fig = figure([dirs["war"]], "defection-curves")
    lines = list(by_gid(panels(fig)[0].lines, "curve:").values())
    looks = {(str(line.get_linestyle()), line.get_marker()) for line in lines}
    assert len(looks) == len(lines)
    styles = [series_style(i) for i in range(len(LINESTYLES))]
    assert len({str(s["linestyle"]) for s in styles}) == len(LINESTYLES)
    assert len({s["marker"] for s in styles}) == len(MARKERS)


def test_defection_curves_by_member_and_event_filters(dirs, war):
    fig = figure([dirs["war"]], "defection-curves", by="member")
    axes = panels(fig)
    assert [ax.get_title(loc="left") for ax in axes] == war.scenario.members
    for ax in axes:
        assert len(by_gid(ax.lines, "curve:")) == 3
    none = figure([dirs["war"]], "defection-curves", events="none")
    assert all(marker_dates(ax) == [] for ax in panels(none))
    crises = figure([dirs["war"]], "defection-curves", events="crisis")
    expected = first_event_of_each_month(
        [e for e in war.scenario.timeline if e["kind"] == "crisis"]
    )
    assert (
        marker_dates(panels(crises)[0])
        == expected
        == [
            dt.date(2020, 9, 27),
            dt.date(2021, 5, 12),
            dt.date(2022, 9, 13),
        ]
    )


def test_alliance_figure(dirs, war):
    fig = figure([dirs["war"]], "alliance")
    exit_ax, active_ax = panels(fig)
    line = by_gid(exit_ax.lines, "curve:")["curve:alliance:any_exit"]
    assert np.allclose(line.get_ydata(), war.alliance.sort_values("month")["p_any_exit"])
    band = band_values(by_gid(exit_ax.collections, "band:")["band:alliance:any_exit"])
    assert band.min() >= 0.0 and band.max() <= 1.0
    active = by_gid(active_ax.lines, "curve:")["curve:alliance:expected_active"]
    assert np.allclose(active.get_ydata(), war.alliance.sort_values("month")["expected_active"])
    assert active_ax.get_ylabel() == "members active (count)"
    assert active_ax.get_ylim()[1] >= len(war.scenario.members)


@pytest.mark.parametrize(
    ("kind", "actors", "label"),
    [
        ("trust", None, "trust in the patron's guarantee (0-1)"),
        ("capacity", ["Russia"], "free capacity (share of strength, 0-1)"),
    ],
)
def test_fan_charts(dirs, war, kind, actors, label):
    fig = figure([dirs["war"]], kind)
    axes = panels(fig)
    names = actors or war.scenario.members
    assert [ax.get_title(loc="left") for ax in axes] == names
    for ax, actor in zip(axes, names, strict=True):
        rows = war.monthly[(war.monthly.actor == actor) & (war.monthly.variable == kind)]
        rows = rows.sort_values("month")
        median = by_gid(ax.lines, "median:")[f"median:{actor}"]
        assert np.allclose(median.get_ydata(), rows["q50"])
        wide = band_values(by_gid(ax.collections, "band:")[f"band:{actor}:q05-q95"])
        inner = band_values(by_gid(ax.collections, "band:")[f"band:{actor}:q25-q75"])
        assert 0.0 <= wide.min() <= inner.min() and inner.max() <= wide.max() <= 1.0
        assert ax.get_ylabel() == label and ax.get_ylim() == (0.0, 1.0)
        assert marker_dates(ax) == first_event_of_each_month(war.scenario.timeline)


def test_compare_puts_scenarios_on_the_same_axes(dirs, war):
    fig = figure([dirs["war"], dirs["no_war"]], "compare", stage="withdrawn")
    axes = panels(fig)
    assert len(axes) == len(war.scenario.members) + 1
    no_war = load(dirs["no_war"])
    for ax, member in zip(axes, war.scenario.members, strict=False):
        lines = by_gid(ax.lines, "curve:")
        assert sorted(lines) == sorted(
            f"curve:{name}:{member}:withdrawn" for name in ("csto_2022", "csto_no_war")
        )
        for name, results in (("csto_2022", war), ("csto_no_war", no_war)):
            rows = results.curves[
                (results.curves.member == member) & (results.curves.stage == "withdrawn")
            ]
            y = lines[f"curve:{name}:{member}:withdrawn"].get_ydata()
            assert np.allclose(y, rows.sort_values("month")["probability"])
    assert len(by_gid(axes[-1].lines, "curve:")) == 2
    labels = fig.legends[0].get_texts()
    assert [t.get_text() for t in labels] == ["csto_2022", "csto_no_war"]
    # fixed parameters in both: the title says the bands are Monte Carlo error
    assert "(95% Monte Carlo bands)" in fig.legends[0].get_title().get_text()


def test_heatmap_cells_hold_the_sweep_estimates(dirs):
    results = pd.read_csv(dirs["sweep"] / "results.csv")
    fig = figure([dirs["sweep"]], "heatmap")
    axes = panels(fig)
    outcomes = list(dict.fromkeys(results["outcome"]))
    assert [ax.get_title(loc="left") for ax in axes] == outcomes
    for ax, outcome in zip(axes, outcomes, strict=True):
        assert ax.get_xlabel() == "drain_scale" and ax.get_ylabel() == "answer_willingness"
        mesh = by_gid(ax.collections, "heatmap")["heatmap"]
        grid = (
            results[results.outcome == outcome]
            .pivot(index="answer_willingness", columns="drain_scale", values="estimate")
            .sort_index()
            .sort_index(axis=1)
        )
        assert mesh.get_array().shape == (3, 3)
        assert np.allclose(mesh.get_array(), grid.to_numpy())
        assert len(ax.texts) == 9
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert [b.get_ylabel() for b in bars] == ["probability (%)"] * 2


def test_sobol_bars_are_ranked_by_total_effect(dirs):
    indices = pd.read_csv(dirs["sobol"] / "indices.csv")
    fig = figure([dirs["sobol"]], "sobol")
    axes = panels(fig)
    assert len(axes) == indices["outcome"].nunique()
    for ax in axes:
        outcome = ax.get_title(loc="left").split("\n")[0]
        mine = indices[indices.outcome == outcome].sort_values("ST")
        names = [t.get_text() for t in ax.get_yticklabels()]
        assert names == list(mine["parameter"])
        total = [c for c in ax.containers if c.get_label() == "total effect ST"]
        assert np.allclose([bar.get_width() for bar in total[0]], mine["ST"])
        assert all(bar.get_gid() == "bars:ST" for bar in total[0])
        assert ax.get_xlabel() == "Sobol index (share of output variance)"


@pytest.mark.parametrize(
    ("fmt", "magic"), [("png", b"\x89PNG"), ("svg", b"<?xml"), ("pdf", b"%PDF")]
)
def test_plot_writes_each_format_reproducibly(dirs, tmp_path, fmt, magic):
    default = plot([dirs["war"]], "capacity", fmt=fmt)
    assert default == dirs["war"] / "figures" / f"capacity.{fmt}"
    assert default.read_bytes().startswith(magic)
    again = plot([dirs["war"]], "capacity", out=tmp_path / f"again.{fmt}", fmt=fmt)
    assert again.read_bytes() == default.read_bytes()


def test_plot_command_prints_the_path_and_gives_one_line_errors(dirs, tmp_path):
    out = tmp_path / "curves.svg"
    ok = subprocess.run(
        [*ALLIANCE, "plot", str(dirs["war"]), "--kind", "defection-curves", "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == f"figure: {out}" and out.read_bytes().startswith(b"<?xml")
    bad = subprocess.run(
        [*ALLIANCE, "plot", str(dirs["war"]), "--kind", "heatmap", "--out", str(tmp_path / "x")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "expected a sweep directory" in bad.stderr and "Traceback" not in bad.stderr
    assert not list(tmp_path.glob("x*"))


@pytest.mark.parametrize(
    ("which", "kind", "message"),
    [
        ("missing", "defection-curves", "not a directory"),
        ("war", "compare", "two or more batch directories"),
        ("sweep", "trust", "expected a batch directory"),
        ("sobol", "heatmap", "expected a sweep directory"),
        ("war", "pie", "unknown kind 'pie'"),
    ],
)
def test_plot_refuses_the_wrong_directory_or_kind(dirs, tmp_path, which, kind, message):
    directory = dirs.get(which, tmp_path / "missing")
    with pytest.raises(InputError, match=message):
        plot([directory], kind, out=tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_plot_refuses_a_suffix_that_contradicts_the_format(dirs, tmp_path):
    with pytest.raises(InputError, match="does not match format 'svg'"):
        plot([dirs["war"]], "trust", out=tmp_path / "trust.png", fmt="svg")
    with pytest.raises(InputError, match="unknown event kind"):
        figure([dirs["war"]], "trust", events="crisis,parade")


def test_batch_plot_prints_the_whole_figure_path_on_one_line(tmp_path):
    out = tmp_path / "a_batch_directory_with_a_long_name_as_users_give_them" / "csto_2022"
    done = subprocess.run(
        [*ALLIANCE, "batch", str(SCENARIOS / "csto_2022.yaml"), "--out", str(out)]
        + ["--runs", "1000", "--workers", "1", "--no-summary", "--plot"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    figure_path = out / "figures" / "defection-curves.png"
    assert f"figure: {figure_path}" in done.stdout.splitlines()
    assert figure_path.read_bytes().startswith(b"\x89PNG")


def test_heatmap_of_a_sampled_design_and_of_a_single_parameter():
    rng = np.random.default_rng(5)
    points = pd.DataFrame({"point": range(12), "a": rng.random(12), "b": rng.random(12)})
    sampled = points.assign(outcome="P(exit)", estimate=points["a"] * 0.5, n=100)
    sampled = sampled.assign(low=sampled.estimate * 0.9, high=sampled.estimate * 1.1)
    (ax,) = panels(sweep_heatmap(sampled))
    dots = by_gid(ax.collections, "heatmap")["heatmap"]
    ordered = sampled.sort_values(["a", "b"])
    assert np.allclose(dots.get_offsets(), ordered[["a", "b"]].to_numpy())
    assert np.allclose(dots.get_array(), ordered["estimate"])
    single = sampled.drop(columns="b")
    (ax,) = panels(sweep_heatmap(single))
    line = by_gid(ax.lines, "sweep-curve")["sweep-curve"]
    order = np.argsort(single["a"].to_numpy())
    assert np.allclose(line.get_ydata(), single["estimate"].to_numpy()[order])
    assert ax.get_xlabel() == "a" and ax.get_ylabel() == "probability (%)"


def test_morris_bars_are_ranked_by_mu_star_with_sigma_marked():
    indices = pd.DataFrame(
        {
            "outcome": "active members at 2030-12",
            "parameter": ["x", "y", "z"],
            "method": "morris",
            "mu_star": [0.2, 0.9, 0.5],
            "mu_star_conf": [0.05, 0.1, 0.05],
            "sigma": [0.1, 0.3, 0.2],
        }
    )
    (ax,) = panels(sensitivity_bars(indices))
    assert [t.get_text() for t in ax.get_yticklabels()] == ["x", "z", "y"]
    bars = [c for c in ax.containers if "mu*" in c.get_label()][0]
    assert [bar.get_width() for bar in bars] == [0.2, 0.5, 0.9]
    sigma = [line for line in ax.lines if line.get_label().startswith("sigma")][0]
    assert list(sigma.get_xdata()) == [0.1, 0.2, 0.3]


def test_probability_ticks_are_labelled_exactly():
    """A tick at 2.5% must not read '2%': tick steps are ones the percent labels show exactly."""
    from matplotlib.figure import Figure

    from sim.plots.style import probability_axis

    for height in (2.0, 3.0, 4.8):
        for top in (0.15, 0.3, 0.4, 0.6, 0.08, 0.012):
            fig = Figure(figsize=(6.4, height))
            ax = fig.subplots()
            probability_axis(ax, top=top)
            formatter = ax.yaxis.get_major_formatter()
            formatter.set_locs(ax.get_yticks())
            for tick in ax.get_yticks():
                if 0 <= tick <= top:
                    shown = float(formatter(tick).rstrip("%")) / 100
                    assert abs(shown - tick) < 1e-9, (height, top, tick, formatter(tick))


def test_by_member_writes_its_own_file_beside_the_stage_layout(dirs):
    by_stage = plot([dirs["war"]], "defection-curves")
    by_member = plot([dirs["war"]], "defection-curves", by="member")
    assert by_stage == dirs["war"] / "figures" / "defection-curves.png"
    assert by_member == dirs["war"] / "figures" / "defection-curves-by-member.png"
    assert by_stage.is_file() and by_member.is_file()
    assert by_stage.read_bytes() != by_member.read_bytes()


def test_difference_axis_reads_percentage_points(dirs):
    fig = figure([dirs["war"], dirs["no_war"]], "difference")
    for ax in panels(fig):
        assert "percentage points" in ax.get_ylabel()
        formatter = ax.yaxis.get_major_formatter()
        assert formatter(0.025, 0) == "+2.5" and formatter(-0.1, 0) == "-10"
        assert formatter(0.0, 0) == "0"
        FigureCanvasAgg(fig).draw()
        assert not any("%" in t.get_text() for t in ax.get_yticklabels())


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


@pytest.mark.parametrize(
    ("kind", "directories"),
    [
        ("alliance", ["war"]),
        ("defection-curves", ["war"]),
        ("trust", ["war"]),
        ("compare", ["war", "no_war"]),
        ("difference", ["war", "no_war"]),
        ("sobol", ["sobol"]),
        ("heatmap", ["sweep"]),
    ],
)
def test_legends_cover_no_data(dirs, kind, directories):
    fig = figure([dirs[d] for d in directories], kind)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in panels(fig):
            assert not _overlaps(box, ax.get_window_extent(renderer)), (kind, ax.get_title())


def test_sobol_figure_fits_a_screen_with_the_top_parameters(tmp_path):
    rng = np.random.default_rng(0)
    names = [f"p{i:02d}" for i in range(33)]
    rows = []
    for outcome in ("a", "b", "c", "d", "e"):
        st = rng.random(33)
        for name, total in zip(names, st, strict=True):
            rows.append({"outcome": outcome, "method": "sobol", "parameter": name, "ST": total,
                         "ST_conf": 0.05, "S1": total / 2, "S1_conf": 0.05})  # fmt: skip
    indices = pd.DataFrame(rows)
    fig = sensitivity_bars(indices, "many parameters")
    width, height = fig.get_size_inches()
    assert width <= 14.5 and height <= 9.5  # a laptop screen at the figures' resolution
    for ax in panels(fig):
        outcome = ax.get_title(loc="left").split("\n")[0]
        assert "top 12 of 33 by ST" in ax.get_title(loc="left")
        mine = indices[indices.outcome == outcome].nlargest(12, "ST").sort_values("ST")
        assert [t.get_text() for t in ax.get_yticklabels()] == list(mine["parameter"])
