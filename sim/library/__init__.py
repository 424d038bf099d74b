"""The ATOP case library: shipped data tables (ATOP, COW, GML; `DATA.md`), their checked reader,
the rules that map data rows to a case, and the builder of scenarios and observations from them.

Stage: after `sim.model`; may import `sim.model` only (it writes files the model reads).
"""
