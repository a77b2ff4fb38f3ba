"""Models for 3D-RAD. Import :mod:`rad3d_hf.models.m3d_rad` (needs the ``train`` extra) for the M3D-RAD baseline."""
