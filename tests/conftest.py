"""Shared fixtures: where the published 3D-RAD tables are, and offline HF caches."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REAL_TABLES = Path(os.environ.get("RAD3D_TABLES", Path(__file__).resolve().parents[2] / "shared" / "3drad"))


def real_tables_or_skip() -> Path:
    """The folder holding the published tables, or skip the test saying why."""
    if not (REAL_TABLES / "test").is_dir() or not (REAL_TABLES / "train").is_dir():
        pytest.skip(f"the published 3D-RAD tables are not at {REAL_TABLES} (set RAD3D_TABLES to their folder)")
    return REAL_TABLES


@pytest.fixture
def real_tables() -> Path:
    return real_tables_or_skip()


@pytest.fixture(autouse=True)
def _offline_hf(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test may reach the Hub or share a cache with the user's."""
    home = tmp_path_factory.getbasetemp() / "hf_home"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(home))
