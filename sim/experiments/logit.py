"""The field's baseline: a discrete-time event-history logit on member-months.

Leeds, Mattes & Vogel (2009, AJPS) and Leeds & Savun (2007, JOP) model abrogation as a binary
outcome per alliance-member-period, regressed on the member's circumstances and cubic time since
entry, errors clustered by alliance. Here a row is a member-month at risk of reaching a stage
(disengaged, frozen, withdrawn) in one training case, taken from the case's facts as the base
rate takes them (`member_exposures`): months 0..m with 1 in month m when the stage was reached in
(or, date unknown, by) month m; 0 in every month up to the last one it is known not to have been
reached. The hazard of reaching stage s in month t is

    h = 1 / (1 + exp(-(a_s + x_t . b)))

with one intercept per stage and the covariates x of `sim.experiments.covariates` (standardised
on the training rows). A held-out fact "reached s by month M" gets 1 - prod_{t<=M} (1 - h_t);
known not reached by month k, the product starts after k. Time since the start is held at the
longest the training rows reach: a cubic in time fitted on short cases is not extrapolated
(a 36-year case held out of cases of at most 24 years would otherwise get hazards of 1).

The fit is statsmodels' maximum likelihood with errors clustered by case (alliance). Where it
fails (a covariate or stage that separates the training rows perfectly, no convergence), a
ridge fit stands in, and `method` says so: the log-likelihood less half the squared standardised
covariate coefficients (a normal prior of sd 1 per standard deviation of each covariate, the
stage intercepts free), with a sandwich covariance clustered by case. A covariate constant over
the training rows is left out (`dropped`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from sim.experiments.cases import Case
from sim.experiments.covariates import COVARIATES, covariate_table
from sim.model.scenario import Scenario
from sim.model.stages import LATER_STAGES

RIDGE = 1.0  # the fallback fit's penalty: a normal prior of sd 1 on each standardised covariate
LARGEST = 25.0  # a standardised coefficient beyond this is read as separation


def member_exposures(case: Case) -> list[tuple[int, int, int, int]]:
    """(member, stage, reached 0/1, last month at risk) per member and stage with facts.

    Reached in month m: at risk in months 0..m; reached by month m (date unknown): 0..m too, an
    upper bound; never reached: up to the latest month it is known not to have been reached.
    """
    by_key: dict[tuple[int, int], list] = {}
    for fact in case.observations.facts:
        by_key.setdefault((fact.member, fact.stage), []).append(fact)
    out = []
    for (member, stage), facts in by_key.items():
        exact = [f.month for f in facts if f.kind == "reached_in"]
        bounded = [f.month for f in facts if f.kind == "reached_by"]
        never = [f.month for f in facts if f.kind == "not_reached_by"]
        if exact or bounded:
            out.append((member, stage, 1, min(exact or bounded)))
        else:
            out.append((member, stage, 0, max(never)))
    return out


def training_rows(cases: list[Case]) -> pd.DataFrame:
    """Every member-month at risk in the cases: case, member, stage, month, y and COVARIATES."""
    frames = []
    for case in cases:
        exposures = member_exposures(case)
        if not exposures:
            continue
        table = covariate_table(case.scenario, max(e[3] for e in exposures) + 1)
        for member, stage, reached, last in exposures:
            rows = table[(table["member"] == member) & (table["month"] <= last)]
            y = np.zeros(len(rows))
            if reached:
                y[-1] = 1.0
            frames.append(rows.assign(case=case.name, stage=stage, y=y))
    if not frames:
        return pd.DataFrame(columns=["case", "member", "stage", "month", "y", *COVARIATES])
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class LogitFit:
    """A fitted event-history logit: terms, coefficients on the covariates' own scale, clustered
    standard errors, and how it was fitted."""

    stages: tuple[int, ...]  # the stages with an intercept (those with training rows)
    covariates: tuple[str, ...]  # the covariates kept
    dropped: tuple[str, ...]  # covariates constant over the training rows
    params: np.ndarray  # stage intercepts, then covariates, on the covariates' own scale
    se: np.ndarray  # clustered by case
    method: str  # "maximum likelihood" or "ridge"
    rows: int
    events: int
    clusters: int
    time_limit: float = np.inf  # the longest time since start in the training rows (decades)
    cases: tuple[str, ...] = ()  # the training cases

    @property
    def terms(self) -> list[str]:
        return [f"stage_{LATER_STAGES[s - 1]}" for s in self.stages] + list(self.covariates)

    def table(self) -> pd.DataFrame:
        """One row per term: coefficient, clustered standard error, the fit's method and size."""
        return pd.DataFrame(
            {
                "term": self.terms,
                "coefficient": self.params,
                "se_clustered": self.se,
                "method": self.method,
                "rows": self.rows,
                "events": self.events,
                "clusters": self.clusters,
            }
        )

    def hazard(self, covariates: pd.DataFrame, stage: int) -> np.ndarray:
        """Monthly hazard of reaching `stage` in each row of a covariate table (NaN: no
        intercept for a stage the training cases had no facts on)."""
        if stage not in self.stages:
            return np.full(len(covariates), np.nan)
        k = len(self.stages)
        values = covariates[list(self.covariates)].copy()
        if "t" in covariates:  # cubic time is not extrapolated past the training rows' longest
            t = np.minimum(covariates["t"].to_numpy(float), self.time_limit)
            for name, power in (("t", 1), ("t2", 2), ("t3", 3)):
                if name in values:
                    values[name] = t**power
        eta = self.params[self.stages.index(stage)] + values.to_numpy(float) @ self.params[k:]
        return _expit(eta)

    def at_risk(self, entry: pd.DataFrame, stage: int) -> np.ndarray:
        """The probability that each member (a row of its covariates at the case's start) is at
        risk of the stage at all: 1 for every member in the plain logit (`sim.experiments.cure`
        fits a share that never is)."""
        return np.ones(len(entry))


def fit_logit(cases: list[Case]) -> LogitFit:
    """Fit the logit on every member-month at risk in `cases`, errors clustered by case."""
    rows = training_rows(cases)
    return fit_rows(rows)


@dataclass(frozen=True)
class Design:
    """The logit's design on prepared rows: stage dummies, then the covariates standardised on
    the rows (one constant over them left out), the outcomes and each row's case."""

    x: np.ndarray
    y: np.ndarray
    groups: np.ndarray  # each row's case, as 0..G-1
    stages: tuple[int, ...]
    kept: tuple[str, ...]
    dropped: tuple[str, ...]
    mean: np.ndarray  # of the kept covariates
    sd: np.ndarray

    def own_scale(self, params: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coefficients (stage intercepts, then the kept covariates' standardised ones) and their
        covariance, mapped to the covariates' own scale: coefficients and standard errors."""
        return own_scale(params, cov, len(self.stages), self.mean, self.sd)


def design(rows: pd.DataFrame, covariates: tuple[str, ...] = COVARIATES) -> Design:
    """The design matrix of prepared rows (`training_rows`' columns)."""
    stages = tuple(sorted(int(s) for s in rows["stage"].unique()))
    if not stages:
        raise ValueError("no member-month at risk to fit the logit on")
    values = rows[list(covariates)].to_numpy(float)
    spread = values.std(axis=0)
    keep = spread > 1e-12
    kept = tuple(c for c, k in zip(covariates, keep, strict=True) if k)
    dropped = tuple(c for c, k in zip(covariates, keep, strict=True) if not k)
    mean, sd = values[:, keep].mean(axis=0), spread[keep]
    z = (values[:, keep] - mean) / sd
    dummies = np.column_stack([(rows["stage"].to_numpy() == s).astype(float) for s in stages])
    x = np.column_stack([dummies, z])
    groups = pd.factorize(rows["case"])[0]
    return Design(x, rows["y"].to_numpy(float), groups, stages, kept, dropped, mean, sd)


def own_scale(
    params: np.ndarray, cov: np.ndarray, intercepts: int, mean: np.ndarray, sd: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Intercepts then standardised coefficients (and their covariance) on the covariates' own
    scale, a linear map: coefficients and standard errors."""
    k, n = intercepts, len(params)
    scale = np.zeros((n, n))
    scale[:k, :k] = np.eye(k)
    scale[:k, k:] = -mean / sd
    scale[k:, k:] = np.diag(1.0 / sd)
    return scale @ params, np.sqrt(np.diag(scale @ cov @ scale.T))


def fit_rows(rows: pd.DataFrame, covariates: tuple[str, ...] = COVARIATES) -> LogitFit:
    """Fit the logit on prepared rows (`training_rows`' columns)."""
    d = design(rows, covariates)
    params, cov, method = fit_design(d)
    raw, raw_se = d.own_scale(params, cov)
    limit = float(rows["t"].max()) if "t" in rows and len(rows) else np.inf
    return LogitFit(
        d.stages, d.kept, d.dropped, raw, raw_se, method, len(rows), int(d.y.sum()),
        int(d.groups.max() + 1), limit, tuple(str(c) for c in pd.unique(rows["case"])),
    )  # fmt: skip


def fit_design(d: Design) -> tuple[np.ndarray, np.ndarray, str]:
    """The logit on a design: standardised coefficients, their clustered covariance and the
    method (maximum likelihood, or the ridge fit where that fails)."""
    params, cov, method = _maximum_likelihood(d.y, d.x, d.groups)
    if params is None:
        params, cov = _ridge(d.y, d.x, d.groups, len(d.stages))
        method = "ridge"
    return params, cov, method


def _maximum_likelihood(
    y: np.ndarray, x: np.ndarray, groups: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray, str]:
    """statsmodels' Logit: coefficients and their covariance clustered by group; None where
    it fails or separates."""
    import statsmodels.api as sm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = sm.Logit(y, x)
            kwargs = {"groups": groups} if groups.max() > 0 else None
            result = model.fit(
                method="newton",
                maxiter=25,
                disp=0,
                cov_type="cluster" if kwargs else "nonrobust",
                cov_kwds=kwargs,
            )
        except (ValueError, np.linalg.LinAlgError, RuntimeError, OverflowError):
            return None, np.empty((0, 0)), ""
    params = np.asarray(result.params, float)
    converged = bool(result.mle_retvals.get("converged", False))
    if not converged or not np.isfinite(params).all() or np.abs(params).max() > LARGEST:
        return None, np.empty((0, 0)), ""
    return params, np.asarray(result.cov_params(), float), "maximum likelihood"


def _ridge(
    y: np.ndarray, x: np.ndarray, groups: np.ndarray, intercepts: int
) -> tuple[np.ndarray, np.ndarray]:
    """Penalised Newton fit: log-likelihood minus RIDGE/2 times the squared standardised
    covariate coefficients (the stage intercepts free); its sandwich covariance clustered by
    group, with the small-sample factor G/(G-1)."""
    penalty = np.r_[np.zeros(intercepts), np.full(x.shape[1] - intercepts, RIDGE)]
    beta = np.zeros(x.shape[1])
    beta[:intercepts] = np.log((y.mean() + 1e-9) / (1.0 - y.mean()))

    def objective(b: np.ndarray) -> float:
        eta = x @ b
        return float(y @ eta - np.logaddexp(0.0, eta).sum() - 0.5 * penalty @ b**2)

    current = objective(beta)
    for _ in range(200):
        mu = _expit(x @ beta)
        gradient = x.T @ (y - mu) - penalty * beta
        hessian = (
            (x * (mu * (1.0 - mu))[:, None]).T @ x + np.diag(penalty) + 1e-9 * np.eye(len(beta))
        )
        step = np.linalg.solve(hessian, gradient)
        size = 1.0
        while objective(beta + size * step) < current - 1e-12 and size > 1e-6:
            size /= 2.0  # step halving: each step raises the penalised likelihood
        beta = beta + size * step
        current = objective(beta)
        if np.abs(size * step).max() < 1e-9:
            break
    mu = _expit(x @ beta)
    bread = np.linalg.inv((x * (mu * (1.0 - mu))[:, None]).T @ x + np.diag(penalty))
    scores = np.zeros((groups.max() + 1, x.shape[1]))
    np.add.at(scores, groups, x * (y - mu)[:, None])
    g = scores.shape[0]
    meat = scores.T @ scores * (g / (g - 1) if g > 1 else np.nan)
    return beta, bread @ meat @ bread


def imposed_months(scenario: Scenario) -> dict[tuple[int, int], int]:
    """(member, stage) -> the first month the scenario sets the member at or beyond the stage."""
    first: dict[tuple[int, int], int] = {}
    for member, status in enumerate(scenario.status):
        for stage in range(1, int(status) + 1):
            first[(member, stage)] = 0
    for t in sorted(scenario.events):
        for member, status, _ in scenario.events[t].statuses:
            for stage in range(1, status + 1):
                first.setdefault((member, stage), t)
    return first


def _expit(eta: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -eta))


class Hazards(Protocol):
    """A fitted discrete-time hazard model: the logit, or its cure variant."""

    def hazard(self, covariates: pd.DataFrame, stage: int) -> np.ndarray: ...

    def at_risk(self, entry: pd.DataFrame, stage: int) -> np.ndarray: ...

    def table(self) -> pd.DataFrame: ...


def forecast(
    fit: Hazards, scenario: Scenario, queries: list[tuple[int, int, int, int]]
) -> np.ndarray:
    """P(member reached stage by month) per query (member, stage, month, known-not-by month,
    -1 for none): the chance it is at risk at all, given it had not reached the stage by the
    known month, times 1 - prod over the months after that of (1 - hazard); 1 where the scenario
    itself sets the member at or beyond the stage by then (a start status, a `status` event), as
    the model's runs have it. Known not reached by month k, a member at risk with chance q at
    the start is at risk with chance q S / (1 - q + q S), S its survival to k (Bayes' rule)."""
    if not queries:
        return np.zeros(0)
    table = covariate_table(scenario, max(q[2] for q in queries) + 1)
    imposed = imposed_months(scenario)
    out = np.empty(len(queries))
    stages = {q[1] for q in queries}
    by_stage = {s: fit.hazard(table, s) for s in stages}
    entry = table[table["month"] == 0]
    share = {s: dict(zip(entry["member"], fit.at_risk(entry, s), strict=True)) for s in stages}
    member = table["member"].to_numpy()
    month = table["month"].to_numpy()
    for j, (m, stage, last, after) in enumerate(queries):
        if imposed.get((m, stage), last + 1) <= last:
            out[j] = 1.0  # history set the member at or beyond the stage by then
            continue
        if last <= after:
            out[j] = 0.0
            continue
        mine = member == m
        mask = mine & (month > after) & (month <= last)
        reached = 1.0 - float(np.prod(1.0 - by_stage[stage][mask]))
        q = share[stage][m]
        if q < 1.0:
            survived = float(np.prod(1.0 - by_stage[stage][mine & (month <= after)]))
            q = q * survived / (1.0 - q + q * survived)
        out[j] = q * reached
    return out
