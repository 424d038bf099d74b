"""Experiments over many parameter points: experiment and observation files, designs, sweeps,
Sobol and Morris sensitivity, calibration and backtests.

May import `sim.model`, `sim.batch` and `sim.plots`.
"""
