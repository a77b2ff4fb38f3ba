"""How fast the model judge runs against a local OpenAI-compatible stand-in server (no model, fixed replies).

Prints judgements per second with the default concurrency (8) against a server that answers at once and one that
takes ``--latency`` seconds per request (the ideal there is concurrency / latency), the cost of one request end to
end with one thread (client + local HTTP server: an upper bound on the package's overhead), and the cost of a
judgement served from the cache. Run: ``python examples/benchmarks/bench_judge.py [--n 2000] [--latency 0.05]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from rad3d_hf.scoring.judge import Judge


def _server(latency: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if latency:
                time.sleep(latency)
            reply = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Score: 80"}}]}
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def _items(n: int, tag: str) -> list[tuple[str, str, str]]:
    return [(f"What is seen? {i}", "a nodule in the right upper lobe", f"a nodule {tag} {i}") for i in range(n)]


def _timed(judge: Judge, items: list[tuple[str, str, str]]) -> float:
    start = time.perf_counter()
    judged = judge.judge_many(items)
    elapsed = time.perf_counter() - start
    assert all(j.status == "ok" for j in judged), "the stand-in server's replies were not all read"
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="judgements per run (default: 2000)")
    parser.add_argument("--latency", type=float, default=0.05, help="simulated model latency in s (default: 0.05)")
    parser.add_argument("--cache", type=Path, default=None, help="SQLite cache file (default: a temporary one)")
    args = parser.parse_args()
    cache = args.cache or Path(tempfile.mkdtemp(prefix="bench-judge-")) / "judge.sqlite3"
    n = args.n
    for latency, label in ((0.0, "instant server"), (args.latency, f"{args.latency * 1000:g} ms server")):
        server = _server(latency)
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        judge = Judge(url, "bench", cache_path=cache, progress=False)
        elapsed = _timed(judge, _items(n, label))
        ideal = f" (ideal {judge.concurrency / latency:.0f})" if latency else ""
        print(f"{label}, concurrency {judge.concurrency}: {n / elapsed:,.0f} judgements/s{ideal}")
        if not latency:
            single = Judge(url, "bench", cache_path=cache, progress=False, concurrency=1)
            one = _timed(single, _items(min(n, 500), "single"))
            print(f"one thread, instant server: {one / min(n, 500) * 1e6:,.0f} us per judgement (overhead bound)")
            cached = _timed(judge, _items(n, label))
            print(f"cached: {cached / n * 1e6:,.1f} us per judgement overhead ({n / cached:,.0f} judgements/s)")
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
