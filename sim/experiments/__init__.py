"""Experiments over many parameter points: experiment and observation files, designs, sweeps,
Sobol and Morris sensitivity, scenario discovery (PRIM), calibration, forecasts conditioned on
the record, and backtests (at one origin or several).

May import `sim.model`, `sim.batch` and `sim.plots`.
"""
