"""User mistakes on the command line: one line on stderr naming the thing and what to do, exit status 2.

Commands raise :class:`UsageError` for mistakes they detect themselves; :func:`user_error_line` turns the package's
own input errors (a missing file, a bad table, a bad predictions file, an unreadable volume, no network for the
Hub) into the same one line. Anything else is a bug and keeps its traceback. ``RAD3D_HF_TRACEBACK=1`` shows the
traceback of a user error too.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import NoReturn

EXIT_USAGE = 2
# Modules whose exceptions mean "the network or the Hub did not answer".
_NETWORK_MODULES = ("httpx", "httpx2", "httpcore", "requests", "urllib3", "aiohttp", "huggingface_hub")
HUB_HINT = "pass --data-dir DIR (a copy of the published 3D-RAD tables) or --demo (the built-in demo data)"


class UsageError(Exception):
    """A mistake in what the user asked for; its message is the whole line the user sees."""


class OneLineArgumentParser(argparse.ArgumentParser):
    """``argparse`` whose errors are one line (no usage block): ``rad3d-hf score: argument --split: ...``."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {one_line(message)} (see {self.prog} --help)\n")


def help_text(docstring: str | None) -> str:
    """A module docstring as ``--help`` shows it: without the reStructuredText markup (````literal````, ``:func:``)."""
    text = re.sub(r":(?:func|class|mod|meth|data):`~?([^`]+)`", r"\1", docstring or "")
    return text.replace("``", "")


def one_line(text: object, limit: int = 400) -> str:
    """``text`` on one line: its lines joined by ``; `` and cut at ``limit`` characters."""
    parts = [part.strip() for part in str(text).splitlines() if part.strip()]
    line = "; ".join(parts) or type(text).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."


def is_network_error(error: BaseException) -> bool:
    """Whether ``error`` (or an error it was raised from) says the network or the Hub did not answer."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (ConnectionError, TimeoutError)):
            return True
        if type(current).__module__.split(".")[0] in _NETWORK_MODULES:
            return True
        current = current.__cause__ or current.__context__
    return False


def _input_errors() -> tuple[type[BaseException], ...]:
    from rad3d_hf.data.tables import QATableError
    from rad3d_hf.scoring.predictions import PredictionsError
    from rad3d_hf.volumes.errors import VolumeError

    # ValueError covers QATableError and the package's other checks of user input (ids, seeds, options).
    return (UsageError, QATableError, PredictionsError, VolumeError, OSError, ValueError)


def user_error_line(error: BaseException) -> str | None:
    """The one line to print for a user error, or None when ``error`` is a bug (keep its traceback)."""
    if is_network_error(error):
        return f"cannot reach the Hugging Face Hub ({one_line(error, 160)}): {HUB_HINT}"
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror}"
    if isinstance(error, _input_errors()):
        return one_line(error)
    return None


def report(prog: str, error: BaseException) -> int | None:
    """Print ``error`` as a user error of ``prog`` and return 2, or return None when it is a bug."""
    if os.environ.get("RAD3D_HF_TRACEBACK"):
        return None
    line = user_error_line(error)
    if line is None:
        return None
    print(f"{prog}: {line}", file=sys.stderr)
    return EXIT_USAGE


def close_matches(word: str, names: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the nearest names, or an empty string."""
    found = difflib.get_close_matches(word, list(names), n=2, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(n) for n in found)}?)" if found else ""


def hub_offline() -> bool:
    """Whether huggingface_hub is told not to use the network (``HF_HUB_OFFLINE``)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "on", "true", "yes")


def writable_file(path: str | os.PathLike[str], option: str) -> Path:
    """``path`` as a file to write: not a folder, in a folder that exists or can be made, writable."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{option} {target} is a folder; name the file to write, e.g. {target / 'out.png'}")
    writable_folder(target.parent if str(target.parent) else Path("."), option, of_file=target)
    return target


def writable_folder(path: str | os.PathLike[str], option: str, *, of_file: Path | None = None) -> Path:
    """``path`` as an output folder: not a file, made if missing, writable (checked before any work is done)."""
    import tempfile

    folder = Path(path)
    what = f"{option} {of_file}" if of_file is not None else f"{option} {folder}"
    if folder.exists() and not folder.is_dir():
        if of_file is None:
            raise UsageError(f"{what} is a file; {option} names a folder to write into: pass a folder path")
        raise UsageError(f"{what}: {folder} is a file, not a folder; choose another path")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # A real write, not os.access: root passes access checks on read-only file systems too.
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise UsageError(
            f"{what}: cannot write into {folder} ({error.strerror or error}); choose another folder"
        ) from None
    return folder


__all__ = [
    "EXIT_USAGE",
    "HUB_HINT",
    "OneLineArgumentParser",
    "UsageError",
    "close_matches",
    "help_text",
    "hub_offline",
    "is_network_error",
    "one_line",
    "report",
    "user_error_line",
    "writable_file",
    "writable_folder",
]
