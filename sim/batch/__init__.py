"""Batches: lanes of replications in chunks, the engines that run them (local processes, Dask), the
chunk store and manifests, the estimands and the results reader, lanes conditioned on dated
facts (conditioning), per-lane draws from a calibration's posterior (posterior), and paired
comparisons of two batches (compare).

May import `sim.model` only.
"""
