"""Shared fixtures: where the published 3D-RAD tables are, and offline, throw-away HF caches.

The Hugging Face libraries read HF_HOME and the offline switches when they are imported, so they are set here, before
any test module imports them: no test reaches the Hub or writes into the user's caches.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

_HF_HOME = tempfile.mkdtemp(prefix="rad3d-hf-tests-hf-home-")
atexit.register(shutil.rmtree, _HF_HOME, ignore_errors=True)
os.environ.update({"HF_HOME": _HF_HOME, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1"})
for _derived in ("HF_DATASETS_CACHE", "HF_EVALUATE_CACHE", "HF_MODULES_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_CACHE"):
    os.environ.pop(_derived, None)
# Under pytest-xdist (``-n auto``: one test process per core) each process computes on one thread, as torch and the
# BLAS libraries read these before their first import (their subprocesses inherit them): threads of several
# processes contending for the same cores make the small ops of these tests wait on each other.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _threads in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_threads, "1")

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
def _offline_hf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from the session's throw-away HF_HOME and the offline switches, whatever an earlier test set."""
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE"):
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv("HF_HOME", _HF_HOME)


def demo_under(hf_home: str | os.PathLike[str], seed: int = 0) -> Path:
    """The demo folder that ``HF_HOME=hf_home`` makes ``demo=True`` read, as a copy of this process's own.

    Generating the demo takes seconds; a test that needs its own HF_HOME (a cache of its own, or to see where the
    demo folder goes) starts from a copy of the one this process generated once under the session's HF_HOME. The copy
    is complete, so ``ensure_demo_data`` reuses it exactly as it reuses a folder it generated there itself. Its files
    are hard links where the file system allows (the demo is about 100 MB): read them, never write into them.
    """
    from rad3d_hf.demo import default_demo_root, ensure_demo_data

    def root_under(home: str | os.PathLike[str]) -> Path:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HF_HOME", str(home))
            return default_demo_root(seed)

    target = root_under(hf_home)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(ensure_demo_data(root_under(_HF_HOME), seed=seed), target, copy_function=_link_or_copy)
    return target


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


@pytest.fixture(scope="session")
def release_replica(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """(tables folder, ``test.zip``, stored arrays by stem): the published release's layout, from the demo data."""
    from rad3d_hf.demo import ensure_demo_data
    from tests.release_replica import write_release_zip

    root = ensure_demo_data()
    archive = tmp_path_factory.mktemp("release") / "test.zip"
    return root, archive, write_release_zip(root, archive)
