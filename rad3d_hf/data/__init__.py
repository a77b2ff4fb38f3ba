"""The data core: the task catalogue, the QA tables, volume names, earlier scans, CT-RATE metadata and the builder.

Imports point one way: ``catalogue`` <- ``tables`` <- ``rows`` <- ``builder``; scoring reads the catalogue alone.
This package's ``__init__`` imports nothing, so ``import rad3d_hf.data.catalogue`` stays light.
"""
