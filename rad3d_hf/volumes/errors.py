"""The error raised for a CT volume that cannot be used as it is: it names the file and what is wrong with it."""

from __future__ import annotations

import os


class VolumeError(ValueError):
    """A volume file is missing, unreadable, corrupt, truncated or holds non-finite values.

    ``str(error)`` reads ``"<file>: <what is wrong>"``. The single-message constructor keeps the class re-raisable by
    PyTorch's DataLoader, which rebuilds worker exceptions from their text, so the file name reaches the main process.
    """

    def __init__(self, message: str, *, path: str | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.reason = reason

    @classmethod
    def for_file(cls, path: str | os.PathLike[str] | None, reason: str) -> VolumeError:
        label = os.fspath(path) if path is not None else "<in-memory volume>"
        return cls(f"{label}: {reason}", path=None if path is None else os.fspath(path), reason=reason)

    def __reduce__(self) -> tuple[object, ...]:
        # Keep path and reason when the error crosses a process boundary.
        return (_rebuild, (type(self), str(self), self.path, self.reason))


def _rebuild(cls: type[VolumeError], message: str, path: str | None, reason: str | None) -> VolumeError:
    return cls(message, path=path, reason=reason)
