"""The demo source's QA tables alone (no volumes, about a second), for tests that score or compare predictions."""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path
from typing import Any


@functools.lru_cache(maxsize=1)
def demo_tables() -> str:
    """A folder holding the demo's test and train tables (the ones ``ensure_demo_data()`` writes), made once."""
    from rad3d_hf.demo.cohort import demo_cohort
    from rad3d_hf.demo.tables import build_tables, write_tables

    root = Path(tempfile.mkdtemp(prefix="rad3d-hf-demo-tables-"))
    tables = build_tables(demo_cohort(0), 0)
    written = write_tables(root, tables)
    # the demo declares the subtasks it leaves empty, as its manifest does
    counts = {path: len(tables[tuple(path[: -len(".csv")].split("/"))]) for path in written}
    (root / "manifest.json").write_text(json.dumps({"tables": counts}), encoding="utf-8")
    return str(root)


def demo_test_rows() -> list[dict[str, Any]]:
    """Every question of the demo's test split."""
    from rad3d_hf.data.rows import read_rows

    return list(read_rows(demo_tables(), "test", "all"))
