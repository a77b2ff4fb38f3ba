"""Where the QA tables are and how they are opened: paths per split and config, existence, text with named encoding
errors, and content digests (so caches notice a table edited in place)."""

from __future__ import annotations

import errno
import hashlib
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass

import fsspec

from rad3d_hf.catalogue import Subtask, TaskInfo, get_config

DEFAULT_DATA_DIR = "hf://datasets/Tang-xiaoxiao/3D-RAD"


class QATableError(ValueError):
    """A QA table that does not follow the published format; the message names file, line and column."""

    def __init__(self, path: str, line: int | None, column: str | None, problem: str) -> None:
        self.path, self.line, self.column, self.problem = path, line, column, problem
        where = path + (f", line {line}" if line is not None else "") + (f", column {column!r}" if column else "")
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class SourceFile:
    """One QA table: the (task, subtask) it holds, in which split, and where it is."""

    task: TaskInfo
    subtask: Subtask
    split: str
    path: str


def source_file_path(data_dir: str, split: str, task: TaskInfo, subtask: Subtask) -> str:
    return f"{str(data_dir).rstrip('/')}/{split}/{task.folder}/{subtask.file_name}"


def source_files(data_dir: str, split: str, config: str = "all") -> list[SourceFile]:
    """The tables that ``config`` reads in ``split``, in catalogue order."""
    spec = get_config(config)
    if split not in spec.splits:
        raise ValueError(f"config {config!r} has no {split!r} split; it offers {', '.join(spec.splits)}")
    return [SourceFile(t, s, split, source_file_path(data_dir, split, t, s)) for t, s in spec.files(split)]


def table_exists(path: str) -> bool:
    """Whether something exists at ``path`` (local or fsspec URL): a file, or a folder or broken link that reading
    then names as such, rather than reporting the table as missing."""
    fs, inner = fsspec.core.url_to_fs(path)
    if fs.isfile(inner) or fs.exists(inner):
        return True
    return "://" not in path and os.path.lexists(inner)


def open_text(path: str) -> io.TextIOBase:
    try:
        if "://" not in path and os.path.islink(path) and not os.path.exists(path):
            raise OSError(errno.ELOOP if _is_link_loop(path) else errno.ENOENT, "a broken symbolic link")
        return fsspec.open(path, "r", encoding="utf-8-sig", newline="").open()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"QA table {path} not found; point data_dir at a folder holding the 3D-RAD 'train/' and 'test/' tables "
            f"(the published CSVs: {DEFAULT_DATA_DIR})"
        ) from None
    except IsADirectoryError:
        raise QATableError(path, None, None, "is a folder, not a CSV file") from None
    except OSError as error:
        raise QATableError(path, None, None, f"cannot be opened: {error.strerror or error}") from None


def _is_link_loop(path: str) -> bool:
    try:
        os.stat(path)
    except OSError as error:
        return error.errno == errno.ELOOP
    return False


def not_utf8(path: str) -> QATableError:
    """The error for a table that is not UTF-8 text, naming the line and byte of the first invalid sequence."""
    with fsspec.open(path, "rb") as handle:
        data = handle.read()
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return QATableError(path, None, None, "not UTF-8 text: it is UTF-16 (byte order mark); save it as UTF-8")
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        problem = f"not UTF-8 text: byte {data[error.start]:#04x} at byte {column} of the line"
        return QATableError(path, line, None, problem)
    return QATableError(path, None, None, "not UTF-8 text")


def tables_digest(data_dir: str, splits: Iterable[str] = ("train", "test")) -> str:
    """A digest of the content of every table ``splits`` can hold under a local ``data_dir`` (absent ones count as
    absent): hashed byte for byte (BLAKE2b: 0.2-0.4 s for the 27 MB of published tables on a 2-core machine), so a table edited in place
    is noticed even when its size and modification time are restored.

    A remote ``data_dir`` (an fsspec URL) is not downloaded to be hashed: its digest is its URL, so pin a revision
    (``hf://datasets/Tang-xiaoxiao/3D-RAD@<commit>``) to make it exact."""
    digest = hashlib.blake2b(digest_size=16)
    if "://" in data_dir:
        digest.update(f"remote:{data_dir}".encode())
        return digest.hexdigest()
    for split in splits:
        for source in source_files(data_dir, split, "all"):
            digest.update(f"{split}/{source.task.folder}/{source.subtask.file_name}\0".encode())
            digest.update(file_digest(source.path).encode() + b"\0")
    return digest.hexdigest()


def file_digest(path: str) -> str:
    """BLAKE2b of a local file's bytes, ``"absent"`` when there is none; a remote file's digest is its URL."""
    if "://" in path:
        return hashlib.blake2b(f"remote:{path}".encode(), digest_size=16).hexdigest()
    digest = hashlib.blake2b(digest_size=16)
    try:
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    except FileNotFoundError:
        return "absent"
    except OSError as error:  # a folder or a link loop: reading the table names it
        return f"unreadable-{error.errno}"
    return digest.hexdigest()
