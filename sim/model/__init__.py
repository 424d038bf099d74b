"""The model: scenario files (schema, loading, compiling), parameters, random streams, the Mesa
agents and model, a single run, and a scenario as known at a forecast origin.

May import nothing else from `sim`: every later stage builds on this one.
"""

from sim.model import kernels

kernels.refresh()
