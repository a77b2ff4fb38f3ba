"""A stand-in OpenAI-compatible judge on 127.0.0.1 for the judge tests: deterministic replies, no network.

The reply depends on the prediction in the prompt ("Model answer: ..."): ``SLOW`` sleeps past the client's
timeout, ``ERR500`` always answers HTTP 500, ``ERR429`` answers 429 on its first request and then a score,
``GARBLE`` writes no score; any other prediction gets :func:`expected_value`, written in one of the forms judges use.
"""

from __future__ import annotations

import json
import re
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from tests.local_server import send_json, serving

SCORE_FORMS = ("Score: {v}", "Score: {v}.0", "Aspects: 2 of 3 matched.\n{v}/100", "**Score:** {v}")
VERDICT_FORMS = ("Verdict: {w}", "**Verdict:** {w}", "{W}. The answers agree in meaning.")
_FIELD = re.compile(r"^(Reference answer|Model answer): (.*)$", re.MULTILINE)


def expected_value(reference: str, prediction: str) -> int:
    """The 0-100 score the server gives (100 for an exact match)."""
    if prediction.strip().lower() == reference.strip().lower():
        return 100
    return zlib.crc32(f"{reference}|{prediction}".encode()) % 101


def expected_verdict(reference: str, prediction: str) -> float:
    """The equivalence verdict the server gives, as the judge reads it."""
    value = expected_value(reference, prediction)
    return 1.0 if value == 100 else (0.5 if value >= 50 else 0.0)


@dataclass
class JudgeLog:
    requests: int = 0
    bodies: list[dict] = field(default_factory=list)
    by_prediction: Counter = field(default_factory=Counter)
    slow_seconds: float = 1.0
    delay: float = 0.0


def reply_for(body: dict, log: JudgeLog) -> tuple[int, str]:
    """(HTTP status, reply text) for one request."""
    prompt = body["messages"][-1]["content"]
    fields = dict(_FIELD.findall(prompt))
    reference, prediction = fields.get("Reference answer", ""), fields.get("Model answer", "")
    seen = log.by_prediction[prediction]
    if "ERR500" in prediction:
        return 500, ""
    if "ERR429" in prediction and seen <= 1:
        return 429, ""
    if "SLOW" in prediction:
        time.sleep(log.slow_seconds)
    if "GARBLE" in prediction:
        return 200, "The prediction mentions some of the findings."
    value = expected_value(reference, prediction)
    form = zlib.crc32(prediction.encode())
    if "Verdict:" in prompt:
        word = "yes" if value == 100 else ("partially" if value >= 50 else "no")
        return 200, VERDICT_FORMS[form % len(VERDICT_FORMS)].format(w=word, W=word.capitalize())
    return 200, SCORE_FORMS[form % len(SCORE_FORMS)].format(v=value)


def _handler(log: JudgeLog, lock: threading.Lock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            if self.path != "/v1/chat/completions":
                status, text = 404, ""
            else:
                with lock:
                    log.requests += 1
                    log.bodies.append(body)
                    log.by_prediction[_FIELD.findall(body["messages"][-1]["content"])[-1][1]] += 1
                if log.delay:
                    time.sleep(log.delay)
                status, text = reply_for(body, log)
            reply = {
                "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
            }
            send_json(self, status, reply)

    return Handler


@contextmanager
def judge_server(delay: float = 0.0) -> Iterator[tuple[str, JudgeLog]]:
    """``(base_url, log)`` of a judge server running for the ``with`` block."""
    log = JudgeLog(delay=delay)
    with serving(_handler(log, threading.Lock())) as base_url:
        yield base_url, log
