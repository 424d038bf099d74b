"""Experiments over many parameter points: experiment and observation files, designs, sweeps,
Sobol and Morris sensitivity, scenario discovery (PRIM), calibration (one case or a pooled case
library: cases, likelihood, importance and sampler, fit_report), forecasts conditioned on the
record, backtests (at one origin or several), leave-one-case-out cross-validation (crossval,
crossval_scores), the scores every one of them uses (scoring) and the field's reference
forecaster, the event-history logit (logit, covariates).

May import `sim.model`, `sim.batch` and `sim.plots`.
"""
