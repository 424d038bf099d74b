"""alliance-defection: an agent-based model (Mesa) of members leaving an alliance.

The package is cut along the pipeline, each stage importing only those before it:
`sim.model` (scenarios, agents, model) -> `sim.batch` (lanes, engines, chunk store, estimands,
results) -> `sim.plots` -> `sim.experiments` (sweeps, sensitivity, calibration, backtests) ->
`sim.report` -> `sim.viz` -> `sim.cli`. `docs/architecture.md` is the map.
"""
