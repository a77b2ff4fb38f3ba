"""Files written whole or not at all: a temporary file beside the target, then ``os.replace`` (atomic on POSIX).

A reader never sees a half-written file, concurrent writers of the same target leave one complete version, and a
write that fails removes its temporary file. Used by the preprocessed cache, the preprocessing pass and the
per-process prediction files; imports nothing of the package, so every layer may use it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_atomically(path: Path, write: Callable[[BinaryIO], object], *, tag: str = "", sync: bool = True) -> None:
    """Write ``path`` through ``write(binary file)`` into ``.<name>.<tag><random>.tmp``, then move it into place.

    ``tag`` names the writer in the temporary file's name (the cache records host and pid there, so that a later
    fill can tell a dead writer's leftovers); ``sync=False`` skips the fsync where a checksum catches a torn file.
    """
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{tag}", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            write(f)
            f.flush()
            if sync:
                os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_bytes_atomically(path: Path, data: bytes | memoryview, *, sync: bool = True) -> None:
    """:func:`write_atomically` of ``data``."""
    write_atomically(path, lambda f: f.write(data), sync=sync)


def write_text_atomically(path: Path, text: str) -> None:
    """:func:`write_atomically` of ``text`` as UTF-8."""
    write_atomically(path, lambda f: f.write(text.encode("utf-8")))


__all__ = ["write_atomically", "write_bytes_atomically", "write_text_atomically"]
