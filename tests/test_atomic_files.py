"""Files written whole or not at all: the one mechanism the cache, preprocessing and prediction parts share."""

from __future__ import annotations

from pathlib import Path

import pytest

from rad3d_hf.atomic_files import write_atomically, write_bytes_atomically, write_text_atomically


def test_a_write_replaces_the_file_whole_and_leaves_nothing_beside_it(tmp_path: Path) -> None:
    target = tmp_path / "entry.json"
    write_text_atomically(target, "old ✓")
    write_bytes_atomically(target, memoryview(b"new"), sync=False)
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["entry.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary(tmp_path: Path) -> None:
    target = tmp_path / "entry.npy"
    target.write_bytes(b"complete")
    seen = []

    def fail(f) -> None:  # type: ignore[no-untyped-def]
        f.write(b"half")
        seen.extend(p.name for p in tmp_path.iterdir() if p.name != "entry.npy")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, fail, tag="host-123-")
    assert seen and seen[0].startswith(".entry.npy.host-123-") and seen[0].endswith(".tmp")  # the writer is named
    assert target.read_bytes() == b"complete"
    assert [p.name for p in tmp_path.iterdir()] == ["entry.npy"]
