"""The judgements on disk: one SQLite table keyed by (judge model, prompt version, question, reference, prediction).

Readable and unreadable judgements are kept (an unreadable one with the judge's raw reply, so it can be inspected and
is not paid for twice); failed requests are not, so a rerun retries them. Every judgement is committed as it comes
in (WAL journal), so a run that is killed keeps what it had judged. Only the thread that drives the pool writes.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["JudgeCache", "cache_key"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS judgements (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    question TEXT NOT NULL,
    reference TEXT NOT NULL,
    prediction TEXT NOT NULL,
    status TEXT NOT NULL,
    value REAL,
    raw TEXT NOT NULL,
    request TEXT NOT NULL,
    created REAL NOT NULL
)
"""
_CHUNK = 500  # SQLite's bound on host parameters is 999 in old builds


def cache_key(model: str, prompt_version: str, question: str, reference: str, prediction: str) -> str:
    """The cache key of one judgement: a SHA-256 over the five fields, unambiguously joined."""
    fields = json.dumps([model, prompt_version, question, reference, prediction], ensure_ascii=False)
    return hashlib.sha256(fields.encode("utf-8")).hexdigest()


class JudgeCache:
    """A SQLite file of judgements; ``get_many`` and ``put`` are safe to call from any thread (one lock)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._db.commit()

    def get_many(self, keys: Iterable[str]) -> dict[str, tuple[str, float | None, str]]:
        """``key -> (status, value, raw)`` of the keys that are cached."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, tuple[str, float | None, str]] = {}
        with self._lock:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT key, status, value, raw FROM judgements WHERE key IN ({marks})"
                for key, status, value, raw in self._db.execute(query, chunk):
                    found[key] = (status, value, raw)
        return found

    def put(self, key: str, fields: Sequence[str], status: str, value: float | None, raw: str, request: str) -> None:
        """Store one judgement (``fields``: model, prompt version, question, reference, prediction) and commit."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO judgements VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, *fields, status, value, raw, request, time.time()),
            )
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM judgements").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
