"""The `alliance` command line: one command per job, and what each prints.

The top of the pipeline: may import every other stage, and nothing imports it.
"""
