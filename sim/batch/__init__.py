"""Batches: lanes of replications in chunks, the engines that run them (local processes, Dask), the
chunk store and manifests, the estimands and the results reader.

May import `sim.model` only.
"""
