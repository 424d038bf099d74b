"""Batches: lanes of replications in chunks, the engines that run them (local processes, Dask), the
one way every job runs (its shared options and result directory: jobs), the typed manifests of
every kind of result directory and their reader (manifests), the chunk store, the estimands and
the results reader, lanes conditioned on dated
facts (conditioning), per-lane draws from a calibration's posterior (posterior), and paired
comparisons of two batches (compare).

May import `sim.model` only.
"""
