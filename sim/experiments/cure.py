"""The split-population (cure) variant of the event-history logit: some members never at risk.

A split-population model (Schmidt & Witte 1989, J. Econometrics; in political science Svolik
2008, APSR) lets a share of the units never experience the event: a member content in its
alliance may never be at risk of leaving it, however long it is watched, where the plain logit
(`sim.experiments.logit`) gives every member the same hazards for the same covariates and so, in
the long run, has them all leave. A spell (one member's months at risk of one stage in one case,
the logit's rows, `training_rows`) is at risk at all with probability

    q = 1 / (1 + exp(-(c_s + z . g)))

with one intercept per stage and z the spell's covariates in its first month (the case's start:
the standing ones, `AT_RISK_COVARIATES`; the time terms are 0 there); a spell at risk reaches
the stage in month t with the logit's hazard h_t (the same design, `sim.experiments.logit.
design`). A spell that reached the stage in month T contributes q h_T prod_{t<T} (1 - h_t) to
the likelihood, one not reached through month T contributes 1 - q + q prod_{t<=T} (1 - h_t).
With q = 1 for every spell (nobody cured) this is the logit's likelihood.

The fit maximises the likelihood (scipy's L-BFGS-B with the analytic gradient, from the logit's
fit with q high and with q = 1/2, the better kept), every coefficient bounded by `BOUND` (a stage's
at-risk intercept at its upper bound means no member is cured). Where a covariate coefficient runs
past the logit's `LARGEST` (separation), or the fit does not converge, the logit's ridge penalty
stands in on both parts' covariate coefficients, and `method` says so. Standard errors are the
sandwich clustered by case, the bread from a numerical Hessian.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from sim.experiments.cases import Case
from sim.experiments.covariates import COVARIATES
from sim.experiments.logit import (
    LARGEST,
    RIDGE,
    Design,
    LogitFit,
    design,
    fit_design,
    own_scale,
    training_rows,
)
from sim.model.stages import LATER_STAGES

TIME_TERMS = ("t", "t2", "t3")
AT_RISK_COVARIATES = tuple(c for c in COVARIATES if c not in TIME_TERMS)
BOUND = 40.0  # every standardised coefficient within +-BOUND; q = 1 - 4e-18 at the bound
STARTS = (3.0, 0.0)  # the at-risk intercepts' starting values: q = 0.95 and q = 0.5


@dataclass(frozen=True)
class Spells:
    """The spells of a design's rows: each row's spell, each spell's case, whether it reached
    its stage, and its at-risk design (stage dummies, then its first month's covariates)."""

    index: np.ndarray
    groups: np.ndarray
    reached: np.ndarray
    z: np.ndarray
    covariates: tuple[str, ...]  # the at-risk covariates kept (varying over the spells)
    columns: np.ndarray  # their columns among the design's kept covariates


@dataclass(frozen=True)
class CureFit:
    """A fitted cure logit: the hazard of the members at risk (a `LogitFit`), the logit of
    being at risk at all (coefficients on the covariates' own scale), and the cured share."""

    hazards: LogitFit
    at_risk_covariates: tuple[str, ...]
    at_risk_params: np.ndarray  # stage intercepts, then the at-risk covariates
    at_risk_se: np.ndarray  # clustered by case
    cured_share: float  # the training spells' mean chance of never being at risk
    spells: int

    @property
    def stages(self) -> tuple[int, ...]:
        return self.hazards.stages

    @property
    def cases(self) -> tuple[str, ...]:
        return self.hazards.cases

    @property
    def method(self) -> str:
        return self.hazards.method

    def hazard(self, covariates: pd.DataFrame, stage: int) -> np.ndarray:
        """The monthly hazard of a member at risk (`LogitFit.hazard`)."""
        return self.hazards.hazard(covariates, stage)

    def at_risk(self, entry: pd.DataFrame, stage: int) -> np.ndarray:
        """The probability that each member (a row of its covariates at the case's start) is
        at risk of the stage at all (NaN for a stage without training rows)."""
        if stage not in self.stages:
            return np.full(len(entry), np.nan)
        k = len(self.stages)
        values = entry[list(self.at_risk_covariates)].to_numpy(float)
        eta = self.at_risk_params[self.stages.index(stage)] + values @ self.at_risk_params[k:]
        return np.exp(-np.logaddexp(0.0, -eta))

    def table(self) -> pd.DataFrame:
        """One row per term of both parts (`part`: hazard, at risk), with the cured share."""
        at_risk = pd.DataFrame(
            {
                "term": [f"stage_{LATER_STAGES[s - 1]}" for s in self.stages]
                + list(self.at_risk_covariates),
                "coefficient": self.at_risk_params,
                "se_clustered": self.at_risk_se,
                "method": self.method,
                "rows": self.spells,
                "events": self.hazards.events,
                "clusters": self.hazards.clusters,
            }
        )
        both = pd.concat(
            [self.hazards.table().assign(part="hazard"), at_risk.assign(part="at risk")],
            ignore_index=True,
        )
        return both.assign(cured_share=self.cured_share)


def fit_cure_logit(cases: list[Case]) -> CureFit:
    """Fit the cure logit on every member-month at risk in `cases`, errors clustered by case."""
    return fit_cure_rows(training_rows(cases))


def fit_cure_rows(
    rows: pd.DataFrame,
    covariates: tuple[str, ...] = COVARIATES,
    at_risk: tuple[str, ...] = AT_RISK_COVARIATES,
) -> CureFit:
    """Fit the cure logit on prepared rows (`training_rows`' columns): the hazard on
    `covariates`, being at risk on those of `at_risk` that vary over the spells' first months."""
    d = design(rows, covariates)
    spells = spells_of(rows, d, at_risk)
    start, _, _ = fit_design(d)
    k, p = len(d.stages), d.x.shape[1]
    method, theta = "maximum likelihood", _best(d, spells, start, np.zeros(p + spells.z.shape[1]))
    if theta is None or _runs_off(theta, k, p):
        method = "ridge"
        penalty = np.r_[np.zeros(k), np.full(p - k, RIDGE), np.zeros(k)]
        penalty = np.r_[penalty, np.full(spells.z.shape[1] - k, RIDGE)]
        theta = _best(d, spells, start, penalty, require=False)
    else:
        penalty = np.zeros(len(theta))
    cov = _sandwich(theta, d, spells, penalty)
    hazard_params, hazard_se = d.own_scale(theta[:p], cov[:p, :p])
    mean, sd = d.mean[spells.columns], d.sd[spells.columns]
    risk_params, risk_se = own_scale(theta[p:], cov[p:, p:], k, mean, sd)
    limit = float(rows["t"].max()) if "t" in rows and len(rows) else np.inf
    hazards = LogitFit(
        d.stages, d.kept, d.dropped, hazard_params, hazard_se, method, len(rows),
        int(d.y.sum()), int(d.groups.max() + 1), limit,
        tuple(str(c) for c in pd.unique(rows["case"])),
    )  # fmt: skip
    q = np.exp(-np.logaddexp(0.0, -(spells.z @ theta[p:])))
    return CureFit(hazards, spells.covariates, risk_params, risk_se, float(1.0 - q.mean()), len(q))


def spells_of(rows: pd.DataFrame, d: Design, at_risk: tuple[str, ...]) -> Spells:
    """The rows' spells (case, member, stage) and their at-risk design from their first month."""
    index = pd.factorize(pd.MultiIndex.from_frame(rows[["case", "member", "stage"]]))[0]
    n = int(index.max()) + 1
    order = np.lexsort((rows["month"].to_numpy(), index))
    first = order[np.r_[True, index[order][1:] != index[order][:-1]]]
    k = len(d.stages)
    candidates = [j for j, c in enumerate(d.kept) if c in at_risk]
    values = d.x[first][:, [k + j for j in candidates]]
    varying = [j for j, v in zip(candidates, values.T, strict=True) if np.ptp(v) > 1e-12]
    z = np.column_stack([d.x[first, :k], d.x[first][:, [k + j for j in varying]]])
    reached = np.bincount(index, weights=d.y, minlength=n) > 0
    return Spells(
        index,
        d.groups[first],
        reached,
        z,
        tuple(d.kept[j] for j in varying),
        np.array(varying, int),
    )


def log_likelihood(
    theta: np.ndarray, d: Design, spells: Spells
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per spell: the log-likelihood, the chance it is at risk given its record (1 for a spell
    that reached its stage) and at the start; per row: the hazard."""
    p = d.x.shape[1]
    eta = d.x @ theta[:p]
    log_h, log_s = -np.logaddexp(0.0, -eta), -np.logaddexp(0.0, eta)
    n = len(spells.reached)
    path = np.bincount(spells.index, weights=np.where(d.y > 0, log_h, log_s), minlength=n)
    zeta = spells.z @ theta[p:]
    log_q, log_cured = -np.logaddexp(0.0, -zeta), -np.logaddexp(0.0, zeta)
    ll = np.where(spells.reached, log_q + path, np.logaddexp(log_cured, log_q + path))
    posterior = np.where(spells.reached, 1.0, np.exp(log_q + path - ll))
    return ll, posterior, np.exp(log_q), np.exp(log_h)


def _objective(
    theta: np.ndarray, d: Design, spells: Spells, penalty: np.ndarray
) -> tuple[float, np.ndarray]:
    """Minus the penalised log-likelihood per row, and its gradient."""
    ll, posterior, q, h = log_likelihood(theta, d, spells)
    gradient = (
        np.r_[d.x.T @ (posterior[spells.index] * (d.y - h)), spells.z.T @ (posterior - q)]
        - penalty * theta
    )
    value = ll.sum() - 0.5 * penalty @ theta**2
    return -value / len(d.y), -gradient / len(d.y)


def _best(
    d: Design,
    spells: Spells,
    start: np.ndarray,
    penalty: np.ndarray,
    require: bool = True,
) -> np.ndarray | None:
    """The best optimum from the starts (`STARTS`); None where `require` and none converged."""
    k = len(d.stages)
    best, value = None, np.inf
    for level in STARTS:
        gamma = np.r_[np.full(k, level), np.zeros(spells.z.shape[1] - k)]
        result = minimize(
            _objective, np.r_[start, gamma], args=(d, spells, penalty), jac=True,
            method="L-BFGS-B", bounds=[(-BOUND, BOUND)] * (len(start) + len(gamma)),
            options={"maxiter": 3000, "ftol": 1e-13, "gtol": 1e-9},
        )  # fmt: skip
        if (result.success or not require) and result.fun < value:
            best, value = result.x, result.fun
    return best


def _runs_off(theta: np.ndarray, k: int, p: int) -> bool:
    """A standardised covariate coefficient beyond LARGEST, read as separation."""
    return bool(np.abs(np.r_[theta[k:p], theta[p + k :]]).max(initial=0.0) > LARGEST)


def _scores(theta: np.ndarray, d: Design, spells: Spells) -> np.ndarray:
    """Each case's score (the gradient of its log-likelihood), cases x coefficients."""
    _, posterior, q, h = log_likelihood(theta, d, spells)
    g = int(d.groups.max()) + 1
    out = np.zeros((g, len(theta)))
    p = d.x.shape[1]
    np.add.at(out[:, :p], d.groups, d.x * (posterior[spells.index] * (d.y - h))[:, None])
    np.add.at(out[:, p:], spells.groups, spells.z * (posterior - q)[:, None])
    return out


def _sandwich(theta: np.ndarray, d: Design, spells: Spells, penalty: np.ndarray) -> np.ndarray:
    """The covariance clustered by case: bread (the inverse of a central-difference Hessian of
    the penalised log-likelihood) x the cases' scores' outer products x bread, times G/(G-1)."""
    n, step = len(theta), 1e-5
    hessian = np.empty((n, n))
    for j in range(n):
        up, down = theta.copy(), theta.copy()
        up[j] += step
        down[j] -= step
        hessian[j] = _objective(up, d, spells, penalty)[1] - _objective(down, d, spells, penalty)[1]
    hessian = len(d.y) * (hessian + hessian.T) / (4.0 * step)
    bread = np.linalg.pinv(hessian)
    scores = _scores(theta, d, spells)
    g = scores.shape[0]
    meat = scores.T @ scores * (g / (g - 1) if g > 1 else np.nan)
    return bread @ meat @ bread
