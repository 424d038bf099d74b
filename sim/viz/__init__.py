"""The interactive SolaraViz page of one replication (`app`) and the command that serves it.

May import every stage below it (`sim.model` ... `sim.report`); nothing imports it but `sim.cli`.
"""
