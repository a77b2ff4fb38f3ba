"""Bridges to other evaluation frameworks; only the CLI imports them. ``lmms_eval``: the lmms-eval plugin."""
