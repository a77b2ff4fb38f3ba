"""The judge: any OpenAI-compatible chat endpoint, asked at temperature 0, with a bounded thread pool, retries and a
cache, using only the standard library (``urllib``), so it runs on a core install.

A request that gets HTTP 429 or 5xx, times out or loses its connection is retried with exponential backoff, up to
``max_retries`` times, then counted as failed (not cached, so a rerun retries it). Until one request of a run has
reached the server, a refused connection, a bad address or a 4xx answer (wrong path, key or model) stops the run
with :class:`JudgeUnavailable`: a mistake in the judge's settings, not a finding about the predictions.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from rad3d_hf.scoring.judge.cache import JudgeCache, cache_key
from rad3d_hf.scoring.judge.prompts import PROMPTS, JudgePrompt

__all__ = ["DEFAULT_CACHE", "Judge", "JudgeUnavailable", "Judgement"]

OK, UNREADABLE, FAILED = "ok", "unreadable", "failed"
# (question, reference, prediction)
Item = tuple[str, str, str]


def _default_cache() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "rad3d-hf" / "judge.sqlite3"


DEFAULT_CACHE = _default_cache()


class JudgeUnavailable(RuntimeError):
    """The judge endpoint could not be used at all (bad address, refused connection, wrong path, key or model)."""


@dataclass(frozen=True, slots=True)
class Judgement:
    """One judgement: ``value`` on a 0-1 scale (None unless ``status`` is ``"ok"``), the raw reply or the error."""

    status: str
    value: float | None
    raw: str
    cached: bool = False


class _Retryable(Exception):
    """A transient error: try again after a pause."""


class _Failed(Exception):
    """An error that another try would repeat (a 4xx answer once the server has been reached)."""


class Judge:
    """Score open answers with a model behind ``POST {base_url}/chat/completions`` (see the module docstring).

    Args:
        base_url: the endpoint's base, e.g. ``http://127.0.0.1:8000/v1``.
        model: the model name sent in each request (part of the cache key).
        prompt: ``"m3d-aspects"`` (0-100 share of the reference's aspects matched) or ``"equivalence"``
            (yes/no/partially).
        api_key: sent as a bearer token; default ``$RAD3D_JUDGE_API_KEY`` or ``$OPENAI_API_KEY`` if set.
        concurrency: requests in flight at once.
        timeout: seconds one request may take.
        max_retries: retries of a request after 429/5xx/timeouts/lost connections.
        cache_path: the SQLite cache file (default ``~/.cache/rad3d-hf/judge.sqlite3``).
        backoff: seconds before the first retry, doubled at each retry.
        progress: show a tqdm progress bar.
        baseline: also judge each subtask's most common answer (``judge_score_baseline_majority``).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        prompt: str = "m3d-aspects",
        *,
        api_key: str | None = None,
        concurrency: int = 8,
        timeout: float = 60,
        max_retries: int = 3,
        cache_path: str | Path | None = None,
        backoff: float = 1.0,
        progress: bool = True,
        baseline: bool = True,
    ) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"judge URL {base_url!r} is not an http(s) URL such as http://127.0.0.1:8000/v1")
        if prompt not in PROMPTS:
            raise ValueError(f"judge prompt {prompt!r}; expected one of {', '.join(PROMPTS)}")
        if not model:
            raise ValueError("the judge needs a model name")
        if concurrency < 1 or max_retries < 0 or timeout <= 0:
            raise ValueError("the judge needs concurrency >= 1, max_retries >= 0 and timeout > 0")
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.model = model
        self.prompt: JudgePrompt = PROMPTS[prompt]
        self.api_key = api_key or os.environ.get("RAD3D_JUDGE_API_KEY") or os.environ.get("OPENAI_API_KEY")
        self.concurrency, self.timeout, self.max_retries, self.backoff = concurrency, timeout, max_retries, backoff
        self.progress, self.baseline = progress, baseline
        self.cache = JudgeCache(cache_path if cache_path is not None else DEFAULT_CACHE)
        self.requests = 0  # HTTP requests sent (retries included), for tests and benchmarks
        self._reached = False
        self._count_lock = threading.Lock()

    def identity(self) -> dict[str, str]:
        """Who judged: the model, the prompt version and the endpoint (recorded in the report)."""
        return {"judge_model": self.model, "judge_prompt": self.prompt.version, "judge_endpoint": self.base_url}

    def request_body(self, item: Item) -> dict[str, object]:
        """The JSON body sent for one judgement (recorded in the cache with it)."""
        return {"model": self.model, "messages": self.prompt.messages(*item), "temperature": 0}

    def judge_many(self, items: Sequence[Item]) -> list[Judgement]:
        """One judgement per ``(question, reference, prediction)``, from the cache where it holds one."""
        keys = [cache_key(self.model, self.prompt.version, *item) for item in items]
        found = self.cache.get_many(keys)
        results = {key: Judgement(s, v, raw, cached=True) for key, (s, v, raw) in found.items()}
        todo = {key: item for key, item in zip(keys, items) if key not in results}
        bar = tqdm(total=len(todo), desc="judging", unit="q", disable=not self.progress or not todo, leave=False)
        try:
            pending = list(todo.items())
            while pending and not self._reached:  # one at a time until the server has answered once
                key, item = pending.pop(0)
                results[key] = self._store(key, item, self._judge_one(item))
                bar.update()
            if pending:
                self._run_pool(pending, results, bar)
        finally:
            bar.close()
        return [results[key] for key in keys]

    def _run_pool(self, pending: list[tuple[str, Item]], results: dict[str, Judgement], bar: tqdm) -> None:
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="judge")
        try:
            queue = iter(pending)
            running: dict[Future[Judgement], tuple[str, Item]] = {}
            for key, item in queue:  # a bounded window: a killed run leaves few requests unwritten
                running[pool.submit(self._judge_one, item)] = (key, item)
                if len(running) >= 2 * self.concurrency:
                    break
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    key, item = running.pop(future)
                    results[key] = self._store(key, item, future.result())
                    bar.update()
                    following = next(queue, None)
                    if following is not None:
                        running[pool.submit(self._judge_one, following[1])] = following
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _store(self, key: str, item: Item, judgement: Judgement) -> Judgement:
        if judgement.status != FAILED:
            request = json.dumps(self.request_body(item), ensure_ascii=False)
            fields = (self.model, self.prompt.version, *item)
            self.cache.put(key, fields, judgement.status, judgement.value, judgement.raw, request)
        return judgement

    def _judge_one(self, item: Item) -> Judgement:
        """One judgement from the server: retried on transient errors, FAILED after the last retry."""
        data = json.dumps(self.request_body(item)).encode("utf-8")
        error = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                reply = self._post(data)
            except _Retryable as retry:
                error = str(retry)
                continue
            except _Failed as failed:
                return Judgement(FAILED, None, str(failed))
            value = self.prompt.read(reply)
            return Judgement(UNREADABLE if value is None else OK, value, reply)
        return Judgement(FAILED, None, error)

    def _post(self, data: bytes) -> str:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        with self._count_lock:
            self.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as error:
            self._reached_or_raise(error.code)
            raise _Retryable(f"HTTP {error.code}") from error
        except TimeoutError as error:
            raise _Retryable(f"no reply within {self.timeout:g} s") from error
        except (urllib.error.URLError, ConnectionError, OSError) as error:
            reason = getattr(error, "reason", error)
            if isinstance(reason, TimeoutError):
                raise _Retryable(f"no reply within {self.timeout:g} s") from error
            if not self._reached:
                raise JudgeUnavailable(f"cannot reach the judge at {self.url}: {reason}") from error
            raise _Retryable(f"connection: {reason}") from error
        self._reached = True
        try:
            content = json.loads(body)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise _Retryable(f"not a chat completion: {body[:200]!r}") from error
        return content if isinstance(content, str) else ""

    def _reached_or_raise(self, code: int) -> None:
        if code == 429 or code >= 500:
            self._reached = True
        elif not self._reached:
            raise JudgeUnavailable(f"the judge at {self.url} answered HTTP {code} (check the URL, key and model)")
        elif code >= 400:
            raise _Failed(f"HTTP {code}")

    def close(self) -> None:
        """Close the cache file."""
        self.cache.close()
