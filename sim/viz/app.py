"""The interactive view (Mesa SolaraViz) of one replication, month by month.

Served by `alliance viz [SCENARIO]` (`sim.viz.serve`), which runs `solara run sim.viz.app` with the
scenario's path in the ALLIANCE_VIZ_SCENARIO environment variable. Sliders set the main
parameters and the seed (Reset applies them); Step and play advance the calendar; charts show
each member's trust and the patron's free capacity, with the scenario's events marked; a table
shows each member's stage.

SolaraViz rebuilds a model as `type(model)(**slider_values, scenario=<a Mesa Scenario>)` and reads
`model.scenario` as a Mesa Scenario, so the page drives `AllianceView`: the model itself, a
single-lane `AllianceModel` whose constructor takes the seed and the sliders' parameters as
keywords (and the empty Mesa Scenario SolaraViz passes, which it leaves aside: the alliance's
own compiled scenario file is `alliance_scenario`), with a DataCollector for the charts.
"""

from __future__ import annotations

import html
import os
from functools import cache
from typing import Any

import matplotlib as mpl
import solara
from matplotlib.figure import Figure
from mesa.datacollection import DataCollector
from mesa.experimental.scenarios import Scenario as MesaScenario
from mesa.visualization import SolaraViz

from sim.model.model import AllianceModel
from sim.model.parameters import BY_NAME
from sim.model.scenario import Scenario, load_scenario, with_parameters
from sim.model.shipped import default_scenario
from sim.model.stages import STAGES
from sim.plots.style import (
    RC,
    date_axis,
    event_groups,
    mark_events,
    mark_history,
    month_end,
    month_start,
    series_style,
)
from sim.viz.serve import SCENARIO_ENV

SLIDER_PARAMETERS = (
    "drain_scale",
    "answer_willingness",
    "trust_loss_unanswered",
    "trust_spillover",
    "contagion_weight",
    "outside_weight",
    "hazard_slope",
    "crisis_rate_scale",
)
SLIDER_STEPS = 40
NICE_STEPS = (0.5, 0.25, 0.1, 0.05, 0.025, 0.01, 0.005, 0.0025, 0.001, 0.0001)
DATE_CLASS = "alliance-date"
STATUS_CLASS = "alliance-status"
CARD_STYLE = {"height": "100%", "overflow-y": "auto"}  # a grid cell has a fixed height
STATUS_STYLE = (
    f"<style>.{STATUS_CLASS} th, .{STATUS_CLASS} td {{ padding: 2px 12px; text-align: left; }}"
    f" .{STATUS_CLASS} th {{ border-bottom: 1px solid #999; }}</style>"
)
STAGE_MARKS = {"active": "●", "disengaged": "◐", "frozen": "◔", "withdrawn": "○"}


@cache
def viz_scenario() -> Scenario:
    """The scenario the page shows: $ALLIANCE_VIZ_SCENARIO, or the default shipped scenario."""
    return load_scenario(os.environ.get(SCENARIO_ENV) or default_scenario())


class AllianceView(AllianceModel):
    """One replication of `AllianceModel`, with the slider parameters as keyword arguments."""

    def __init__(
        self,
        seed: int = 0,
        drain_scale: float | None = None,
        answer_willingness: float | None = None,
        trust_loss_unanswered: float | None = None,
        trust_spillover: float | None = None,
        contagion_weight: float | None = None,
        outside_weight: float | None = None,
        hazard_slope: float | None = None,
        crisis_rate_scale: float | None = None,
        scenario: MesaScenario | None = None,
    ):
        chosen = {
            "drain_scale": drain_scale,
            "answer_willingness": answer_willingness,
            "trust_loss_unanswered": trust_loss_unanswered,
            "trust_spillover": trust_spillover,
            "contagion_weight": contagion_weight,
            "outside_weight": outside_weight,
            "hazard_slope": hazard_slope,
            "crisis_rate_scale": crisis_rate_scale,
        }
        overrides = {k: float(v) for k, v in chosen.items() if v is not None}
        super().__init__(
            viz_scenario(), lanes=1, parameters=overrides, rng=int(seed), log_events=True
        )
        reporters: dict[str, Any] = {"capacity": lambda m: float(m.patron.capacity[0])}
        for member in self.members:
            reporters[f"trust:{member.name}"] = _trust_reporter(member.index)
        self.datacollector = DataCollector(model_reporters=reporters)
        self.datacollector.collect(self)

    @property
    def months_done(self) -> int:
        """Months simulated so far (Mesa's step count)."""
        return self.steps

    @property
    def last_month(self) -> str:
        """Calendar label of the last simulated month ('' before the first step)."""
        return self.alliance_scenario.month_label(self.steps - 1) if self.steps else ""

    def step(self) -> None:
        """One calendar month, then the charts' data."""
        super().step()
        self.datacollector.collect(self)


def _trust_reporter(index: int):
    def trust(model: AllianceView) -> float:
        return float(model.members[index].trust[0])

    return trust


def model_params(scenario: Scenario) -> dict[str, dict[str, Any]]:
    """Slider definitions: the seed and the main parameters at the scenario's values."""
    values = with_parameters(scenario, {})
    params: dict[str, dict[str, Any]] = {
        "seed": {"type": "SliderInt", "value": 0, "min": 0, "max": 999, "step": 1, "label": "seed"}
    }
    for name in SLIDER_PARAMETERS:
        p = BY_NAME[name]
        params[name] = {
            "type": "SliderFloat",
            "value": values[name],
            "min": p.low,
            "max": p.high,
            "step": slider_step(p.low, p.high, values[name]),
            "label": name.replace("_", " "),
        }
    return params


def slider_step(low: float, high: float, value: float) -> float:
    """A round step giving at least SLIDER_STEPS positions, with low and the starting value on
    the grid (a slider snaps its value to the grid, which would otherwise move the default)."""
    for step in NICE_STEPS:
        if (high - low) / step < SLIDER_STEPS:
            continue
        if all(abs(x / step - round(x / step)) < 1e-9 for x in (low, high, value)):
            return step
    return NICE_STEPS[-1]


def status_panel(model: AllianceView) -> None:
    """The calendar month, the patron's capacity and each member's stage and trust."""
    sim = model
    sc = sim.alliance_scenario
    span = f"{sc.month_label(0)} to {sc.month_label(sc.months - 1)}"
    with solara.Card("Status", style=CARD_STYLE):
        label = model.last_month or f"before {sc.month_label(0)}"
        solara.Text(f"Month: {label}", classes=[DATE_CLASS], style={"font-size": "1.3em"})
        solara.Text(f" ({model.months_done} of {sc.months} months, {span})")
        rows = "".join(
            f"<tr><td>{_e(m.name)}</td><td>{STAGE_MARKS[STAGES[int(m.status[0])]]} "
            f"{STAGES[int(m.status[0])]}</td><td>{m.trust[0]:.2f}</td></tr>"
            for m in sim.members
        )
        used = ", ".join(f"{k.replace('_', ' ')} {sim.p[k][0]:.3g}" for k in SLIDER_PARAMETERS)
        recent = "".join(
            f"<li>{_e(e['date'])} {_e(e['actor'])}: {_e(e['detail'])}</li>"
            for e in sim.event_log[-6:]
        )
        solara.HTML(
            unsafe_innerHTML=(
                STATUS_STYLE
                + f"<p><b>{_e(sim.patron.name)}</b> free capacity: {sim.patron.capacity[0]:.2f}</p>"
                f"<table class='{STATUS_CLASS}'><tr><th>member</th><th>stage</th><th>trust</th>"
                f"</tr>{rows}</table>"
                f"<p>Parameters of this run (sliders apply on Reset): {_e(used)}</p>"
                + (f"<p><b>Latest events</b></p><ul>{recent}</ul>" if recent else "")
            )
        )


def events_panel(model: AllianceView) -> None:
    """The scenario's dated events, numbered as on the charts; those already replayed in bold."""
    sc = model.alliance_scenario
    done = model.last_month
    items = []
    for n, (_, events) in enumerate(event_groups(sc.timeline), start=1):
        for event in events:
            text = _e(f"({n}) {event['date']} {event['what']}")
            replayed = done and event["date"][:7] <= done
            items.append(f"<li><b>{text}</b></li>" if replayed else f"<li>{text}</li>")
    with solara.Card("Scenario events (bold: replayed)", style=CARD_STYLE):
        solara.HTML(unsafe_innerHTML=f"<ul>{''.join(items)}</ul>" if items else "No dated events.")


def _e(text: object) -> str:
    """Text made safe to place inside HTML (scenario names and labels come from a file)."""
    return html.escape(str(text))


def trust_chart(model: AllianceView) -> None:
    """Each member's trust so far, on the scenario's calendar."""
    data = model.datacollector.get_model_vars_dataframe()
    members = [m.name for m in model.members]
    series = {name: data[f"trust:{name}"] for name in members}
    figure = _history_figure(model, series, "trust in the patron's guarantee (0-1)", "Trust")
    solara.FigureMatplotlib(figure, format="png")


def capacity_chart(model: AllianceView) -> None:
    """The patron's free capacity so far."""
    data = model.datacollector.get_model_vars_dataframe()
    name = model.patron.name
    figure = _history_figure(
        model, {name: data["capacity"]}, "free capacity (share of strength, 0-1)", "Capacity"
    )
    solara.FigureMatplotlib(figure, format="png")


def _history_figure(model: AllianceView, series: dict[str, Any], ylabel: str, title: str) -> Figure:
    """Lines from the start to the current month over the full calendar, events marked."""
    sc = model.alliance_scenario
    months = sc.month_labels()
    x_all = month_end(months)
    start = month_start(months[:1])[0]
    with mpl.rc_context(RC):
        fig = Figure(figsize=(6.4, 3.6), layout="constrained")
        ax = fig.add_subplot()
        for i, (name, values) in enumerate(series.items()):
            # Row 0 is the state before the first month; row k the state at the end of month k.
            x = [start, *x_all[: len(values) - 1]]
            ax.plot(x, list(values), label=name, markevery=12, **series_style(i))
        ax.set_xlim(start, x_all[-1])
        ax.set_ylim(0.0, 1.0)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title}, {sc.name}", loc="left")
        mark_history(ax, sc.month_label(sc.history_end), start)
        mark_events([ax], event_groups(sc.timeline), None)
        date_axis(ax)
        ax.legend(loc="lower left", ncols=3)
    return fig


@solara.component
def Page() -> None:
    """The page: a fresh replication per browser session, driven by SolaraViz."""
    scenario = viz_scenario()
    model = solara.use_memo(AllianceView, [])
    SolaraViz(
        model,
        components=[
            (status_panel, 0),
            (trust_chart, 0),
            (events_panel, 0),
            (capacity_chart, 0),
        ],
        model_params=model_params(scenario),
        name=f"Alliance defection: {scenario.name}",
        play_interval=150,
    )
