"""Scores of probability forecasts, in one place: Brier, log, skill, AUC and calibration.

Every job that scores forecasts (`alliance backtest`, `alliance crossval`, rolling origins) calls
these functions, so a score means the same wherever it is printed (docs/calibration.md, "What
each score means"):

- **Brier score**: mean (p - o)^2 over binary events; 0 is perfect, 0.25 is what 50/50 scores.
- **log score**: mean -ln(probability given to what happened); 0 is perfect, ln 2 = 0.693 is
  50/50. A forecast is kept within [floor, 1 - floor]: for the model, the Monte Carlo floor
  1/(2N) of N runs (a Monte Carlo zero means "below one in N", not "impossible"); for the other
  forecasters, 1e-6.
- **skill** against a reference: 1 - score / reference score (above 0: better than the
  reference). Where the reference scores exactly 0 the ratio is undefined: skill is NaN (None in
  JSON), and the verdict compares the scores themselves, so a model worse than a perfect
  reference still says so.
- **AUC**: the chance that a member that reached the stage got a higher probability than one that
  did not (ties count one half), over members' outcomes at one common horizon per case and
  stage (`horizon_outcomes`), never over facts of different horizons.
- **calibration intercept and slope**: the logistic recalibration of the outcomes on the
  forecasts' log-odds. The slope (1 is ideal; below 1, forecasts too extreme; above 1, too
  timid) from logit P(o) = a + b logit(p); the intercept (0 is ideal; above 0, the forecaster
  under-forecasts on average) from logit P(o) = a + logit(p), the slope held at 1.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.experiments.observations import Fact
from sim.model.stages import LATER_STAGES

FORECASTERS = ("model", "base_rate", "fifty_fifty", "logit")
REFERENCES = ("base_rate", "fifty_fifty", "logit")
LABELS = {"model": "model", "base_rate": "base rate", "fifty_fifty": "50/50", "logit": "logit"}
SCORES = ("brier", "log_score")
REFERENCE_FLOOR = 1e-6


def brier(p: np.ndarray, outcome: np.ndarray) -> float:
    """Mean squared difference between forecast probabilities and 0/1 outcomes."""
    return float(np.mean((np.asarray(p, float) - np.asarray(outcome, float)) ** 2))


def log_score(p: np.ndarray, outcome: np.ndarray, floor: float = REFERENCE_FLOOR) -> float:
    """Mean -ln(probability given to what happened), probabilities kept within [floor, 1-floor]."""
    p = np.clip(np.asarray(p, float), floor, 1.0 - floor)
    o = np.asarray(outcome, float)
    return float(np.mean(-(o * np.log(p) + (1.0 - o) * np.log1p(-p))))


def monte_carlo_floor(runs: int) -> float:
    """The smallest probability N runs can stand for: 1/(2N), half of one run in N."""
    return 0.5 / runs


def floor_of(forecaster: str, runs: int) -> float:
    """The log score's floor: the Monte Carlo floor for the model, 1e-6 for the references."""
    return monte_carlo_floor(runs) if forecaster == "model" else REFERENCE_FLOOR


def skill(score: float, reference: float) -> float:
    """1 - score / reference; NaN where the reference scores 0 or is missing (undefined)."""
    if reference is None or not math.isfinite(reference) or reference <= 0.0:
        return math.nan
    return 1.0 - score / reference


def verdict(score: float, reference: float) -> str:
    """`better`, `worse` or `level`: the scores compared directly (lower is better)."""
    if not math.isfinite(reference) or not math.isfinite(score):
        return "not scored"
    if math.isclose(score, reference, rel_tol=1e-12, abs_tol=1e-15):
        return "level"
    return "better" if score < reference else "worse"


def auc(p: np.ndarray, outcome: np.ndarray) -> float:
    """Probability that a random positive outranks a random negative (ties one half); NaN
    without both."""
    p = np.asarray(p, float)
    o = np.asarray(outcome, bool)
    pos, neg = p[o], p[~o]
    if len(pos) == 0 or len(neg) == 0:
        return math.nan
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


@dataclass(frozen=True)
class Calibration:
    """Calibration intercept (slope held at 1; 0 ideal) and slope (1 ideal); NaN where the
    outcomes or forecasts cannot identify them."""

    intercept: float
    slope: float


def calibration(p: np.ndarray, outcome: np.ndarray, floor: float = REFERENCE_FLOOR) -> Calibration:
    """Logistic recalibration of the outcomes on the forecasts' log-odds (see module doc)."""
    o = np.asarray(outcome, float)
    x = _log_odds(p, floor)
    if len(o) == 0 or o.min() == o.max():
        return Calibration(math.nan, math.nan)
    intercept = _glm(o, np.ones((len(o), 1)), offset=x)
    slope = math.nan
    if np.ptp(x) > 1e-12:
        fitted = _glm(o, np.column_stack([np.ones(len(o)), x]), offset=None, index=1)
        slope = fitted
    return Calibration(intercept, slope)


def _log_odds(p: np.ndarray, floor: float) -> np.ndarray:
    q = np.clip(np.asarray(p, float), floor, 1.0 - floor)
    return np.log(q) - np.log1p(-q)


def _glm(o: np.ndarray, x: np.ndarray, offset: np.ndarray | None, index: int = 0) -> float:
    """One coefficient of a binomial GLM; NaN where it does not converge or separates."""
    import statsmodels.api as sm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = sm.GLM(o, x, family=sm.families.Binomial(), offset=offset).fit()
        except (ValueError, np.linalg.LinAlgError, RuntimeError):
            return math.nan
    value = float(result.params[index])
    converged = bool(getattr(result, "converged", True))
    return value if converged and math.isfinite(value) and abs(value) < 50.0 else math.nan


def horizon_outcomes(facts: list[Fact]) -> list[tuple[int, str, int, int, int]]:
    """(member, member name, stage, horizon month, outcome) at one common horizon per stage.

    The horizon of a stage is the latest month any fact on it is dated; a member's outcome is 1
    if a fact says it reached the stage (by then, necessarily), 0 if a fact says it had not by
    the horizon itself; a member known only to have stayed until earlier is left out.
    """
    out = []
    for stage in sorted({f.stage for f in facts}):
        on = [f for f in facts if f.stage == stage]
        horizon = max(f.month for f in on)
        for member in dict.fromkeys(f.member for f in on):
            mine = [f for f in on if f.member == member]
            name = mine[0].member_name
            if any(f.occurred for f in mine):
                out.append((member, name, stage, horizon, 1))
            elif any(f.month == horizon for f in mine):
                out.append((member, name, stage, horizon, 0))
    return out


def score_rows(
    events: pd.DataFrame, horizon: pd.DataFrame | None, keys: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each forecaster's scores over `events`, and its AUC per stage over `horizon` (members'
    outcomes at the common horizon; `leavers` and `stayers` count the withdrawal outcomes)."""
    rows = []
    runs = int(events["runs"].iloc[0]) if "runs" in events and len(events) else 1
    for forecaster in FORECASTERS:
        column = f"p_{forecaster}"
        if column not in events or len(events) == 0:
            continue
        p = events[column].to_numpy(float)
        if np.isnan(p).any():
            continue
        o = events["outcome"].to_numpy(float)
        floor = floor_of(forecaster, runs)
        cal = calibration(p, o, floor)
        row = {
            **keys,
            "forecaster": forecaster,
            "events": len(events),
            "brier": brier(p, o),
            "log_score": log_score(p, o, floor),
            "calibration_intercept": cal.intercept,
            "calibration_slope": cal.slope,
            **{f"auc_{stage}": math.nan for stage in LATER_STAGES},
            "leavers": 0,
            "stayers": 0,
        }
        if horizon is not None and column in horizon:
            for stage in LATER_STAGES:
                at = horizon[horizon["stage"] == stage]
                row[f"auc_{stage}"] = auc(at[column], at["outcome"])
            left = horizon[horizon["stage"] == "withdrawn"]
            row["leavers"] = int(left["outcome"].sum())
            row["stayers"] = int(len(left) - left["outcome"].sum())
        rows.append(row)
    return rows


def add_skill(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Each row's skill against every reference of its group (`SCORE_skill_vs_REF`), NaN where a
    reference is missing or scores 0."""
    frame = frame.copy()
    group = frame[keys].astype(str).agg("|".join, axis=1)
    for ref in REFERENCES:
        mine = frame["forecaster"] == ref
        for score in SCORES:
            reference = group.map(dict(zip(group[mine], frame.loc[mine, score], strict=True)))
            frame[f"{score}_skill_vs_{ref}"] = [
                skill(s, r) for s, r in zip(frame[score], reference.astype(float), strict=True)
            ]
    return frame


def comparisons(scores: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The model against each reference in one row set: both scores, skill and the verdict."""
    by = scores.set_index("forecaster")
    out: dict[str, dict[str, Any]] = {}
    if "model" not in by.index:
        return out
    for ref in REFERENCES:
        if ref not in by.index:
            continue
        entry: dict[str, Any] = {}
        for score in SCORES:
            model, reference = float(by.loc["model", score]), float(by.loc[ref, score])
            value = skill(model, reference)
            entry[score] = {
                "model": model,
                "reference": reference,
                "skill": None if math.isnan(value) else value,
                "verdict": verdict(model, reference),
            }
        out[ref] = entry
    return out


def verdict_lines(comparison: dict[str, dict[str, Any]], where: str) -> list[str]:
    """One sentence per reference: whether the model beats it on both scores, and the skills."""
    lines = []
    for ref, entry in comparison.items():
        words = {entry[s]["verdict"] for s in SCORES}
        if words == {"better"}:
            head = "beats"
        elif words == {"worse"}:
            head = "is WORSE than"
        elif "worse" in words:
            head = "is WORSE on one score than"
        else:
            head = "does not beat"
        skills = ", ".join(
            f"{name} skill {_signed(entry[s]['skill'])}"
            for s, name in zip(SCORES, ("Brier", "log"), strict=True)
        )
        lines.append(f"{where} the model {head} the {LABELS[ref]} ({skills}).")
    return lines


def worse_per_case(versus_per_case: dict[str, dict[str, Any]]) -> list[str]:
    """One sentence per case where the model is worse than a reference on a score, naming the
    references and the scores (a case where it beats them all has none)."""
    lines = []
    for case, versus in versus_per_case.items():
        worse = []
        for ref, entry in versus.items():
            scores = [n for s, n in zip(SCORES, ("Brier", "log"), strict=True) if _worse(entry, s)]
            if scores:
                worse.append(f"the {LABELS[ref]} ({' and '.join(scores)})")
        if worse:
            lines.append(f"{case}: the model is WORSE than {', '.join(worse)}.")
    return lines


def worse_counts(versus_per_case: dict[str, dict[str, Any]]) -> str:
    """One sentence: on how many cases the model is worse than each reference on a score."""
    cases = len(versus_per_case)
    counts = {
        ref: sum(
            any(_worse(versus[ref], s) for s in SCORES)
            for versus in versus_per_case.values()
            if ref in versus
        )
        for ref in REFERENCES
        if any(ref in versus for versus in versus_per_case.values())
    }
    parts = ", ".join(f"the {LABELS[ref]} on {n}" for ref, n in counts.items())
    return f"Per case, the model is WORSE on a score than {parts} of the {cases} cases."


def _worse(entry: dict[str, Any], score: str) -> bool:
    return entry[score]["verdict"] == "worse"


SCORE_TABLE_NOTE = (
    "Brier, log: lower is better; calibration intercept 0 and slope 1 ideal; AUC leave: leavers "
    "ranked above stayers, 0.5 is chance; skill above 0 beats the reference"
)


@dataclass(frozen=True)
class ScoreTable:
    """A score table as a reader meets it, on the console or in the report: a label column
    (`label`), then one text cell per header, one row per label value and forecaster."""

    label: str
    headers: list[str]
    rows: list[list[str]]


def score_table(scores: pd.DataFrame, label: str) -> ScoreTable:
    """Every forecaster's Brier and log scores, calibration, AUC (where scored), and its skill
    against each reference (Brier / log: 1 - score / reference score; n/a: undefined, the
    reference scores 0), one row per `label` value and forecaster."""
    refs = [r for r in REFERENCES if r in set(scores["forecaster"])]
    auc_shown = "auc_withdrawn" in scores
    rows = [
        [
            str(getattr(r, label)),
            LABELS[r.forecaster],
            str(r.events),
            f"{r.brier:.4f}",
            f"{r.log_score:.4f}",
            _number(r.calibration_intercept, "{:+.2f}"),
            _number(r.calibration_slope, "{:.2f}"),
            *([_number(r.auc_withdrawn, "{:.2f}")] if auc_shown else []),
            *[
                ""
                if r.forecaster == ref
                else f"{_number(getattr(r, f'brier_skill_vs_{ref}'), '{:+.2f}')} / "
                f"{_number(getattr(r, f'log_score_skill_vs_{ref}'), '{:+.2f}')}"
                for ref in refs
            ],
        ]
        for r in scores.itertuples()
    ]
    headers = [
        "forecaster", "facts", "Brier", "log score", "cal. int.", "cal. slope",
        *(["AUC leave"] if auc_shown else []),
        *[f"skill vs {LABELS[ref]} B / log" for ref in refs],
    ]  # fmt: skip
    return ScoreTable(label, headers, rows)


def _number(value: float | None, form: str) -> str:
    return "n/a" if value is None or value != value else form.format(value)


def _signed(value: float | None) -> str:
    return "undefined (the reference scores 0)" if value is None else f"{value:+.2f}"
