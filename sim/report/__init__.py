"""The self-contained HTML report of a batch directory (`alliance report`).

May import `sim.model`, `sim.batch`, `sim.plots` and `sim.experiments`.
"""
