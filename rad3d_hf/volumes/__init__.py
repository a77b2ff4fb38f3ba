"""CT volumes: decoding and headers, locating files by name, errors, the preprocessed cache, phantoms and figures.

Nothing here imports the builder, scoring or models; :mod:`rad3d_hf.transforms` builds on this package.
"""
