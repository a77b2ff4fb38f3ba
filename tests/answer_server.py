"""A small OpenAI-compatible chat server on 127.0.0.1 for lmms-eval runs in tests: fixed answers, no network.

Each request is answered from its prompt text alone (a CRC picks one of a few answers in the forms models write), so
a run is reproducible; the server records how many images each request carried.
"""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from tests.local_server import send_json, serving

CLOSED_ANSWERS = ("A. Yes", "B", "The answer is B.", "I cannot tell.", "Yes", "C. New lesion")
OPEN_ANSWERS = ("A nodule in the right upper lobe.", "No abnormality.", "12 mm", "")


def answer_for(prompt: str) -> str:
    """The fixed answer to a prompt (closed questions carry a 'Choices:' line)."""
    answers = CLOSED_ANSWERS if "\nChoices:" in prompt else OPEN_ANSWERS
    return answers[zlib.crc32(prompt.encode()) % len(answers)]


@dataclass
class AnswerLog:
    prompts: list[str] = field(default_factory=list)
    images: list[int] = field(default_factory=list)


def _handler(log: AnswerLog, lock: threading.Lock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            content = body["messages"][-1]["content"]
            parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
            prompt = "".join(p.get("text", "") for p in parts if p.get("type") == "text")
            with lock:
                log.prompts.append(prompt)
                log.images.append(sum(p.get("type") == "image_url" for p in parts))
            reply = {
                "id": "fixture",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model", "fixture"),
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": answer_for(prompt)},
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
            send_json(self, 200, reply)

    return Handler


@contextmanager
def answer_server() -> Iterator[tuple[str, AnswerLog]]:
    """``(base_url, log)`` of a server running for the duration of the ``with`` block."""
    log = AnswerLog()
    with serving(_handler(log, threading.Lock())) as base_url:
        yield base_url, log
