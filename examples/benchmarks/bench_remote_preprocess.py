"""``rad3d-hf preprocess`` reading volumes from a URL against reading them from the local folder, on the demo data.

    python examples/benchmarks/bench_remote_preprocess.py --workers 4

Serves the demo folder over a local HTTP server (``http.server`` with Range support and a byte counter per path) and
runs the same ``rad3d-hf preprocess`` command twice in this process: ``--volumes-dir <demo>/volumes`` and
``--volumes-dir http://127.0.0.1:PORT/volumes/``. It prints, for each, volumes/s (the whole command: tables, listing,
every volume read, transformed and written) and their ratio; for the URL, the bytes the server sent for the volumes
over the bytes of those files (each file streamed once, plus a 17 KiB ranged read of its header), the bytes of the
listing, and the requests per volume; and the peak bytes in the workers' temporary folder, sampled every 10 ms (raw
volumes are streamed, never written there). Both output folders must hold the same arrays (same SHA-256). Loopback
HTTP has no latency or bandwidth limit: this measures the overhead of the URL path, not a download.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import io
import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


class CountingHandler(http.server.SimpleHTTPRequestHandler):
    """``SimpleHTTPRequestHandler`` that honours single Range requests and counts what it sends, per path.

    ``sent`` (bytes per URL path) and ``requests`` (``(method, path, range)`` in order) are set per server by
    :func:`serve`.
    """

    sent: Counter[str]
    requests: list[tuple[str, str, str | None]]
    lock: threading.Lock
    _limit: int | None = None

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_head(self) -> Any:
        with self.lock:
            self.requests.append((self.command, self.path, self.headers.get("Range")))
        self._limit = None
        match = _RANGE.fullmatch((self.headers.get("Range") or "").strip())
        path = self.translate_path(self.path)
        if match is None or not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        start = int(match[1])
        end = min(int(match[2]) if match[2] else size - 1, size - 1)
        if start >= size or end < start:
            self.send_error(416, "Requested Range Not Satisfiable")
            return None
        handle = open(path, "rb")  # noqa: SIM115 - closed by the base class after copyfile
        handle.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Last-Modified", self.date_time_string(int(os.stat(path).st_mtime)))
        self.end_headers()
        self._limit = end - start + 1
        return handle

    def copyfile(self, source: Any, outputfile: Any) -> None:
        left = self._limit
        while left is None or left > 0:
            block = source.read(1 << 16 if left is None else min(1 << 16, left))
            if not block:
                break
            outputfile.write(block)
            with self.lock:
                self.sent[self.path.split("?", 1)[0]] += len(block)
            if left is not None:
                left -= len(block)


@contextlib.contextmanager
def serve(folder: str | os.PathLike[str], handler: type[CountingHandler] = CountingHandler) -> Iterator[Any]:
    """Serve ``folder`` on 127.0.0.1 (a free port) in a thread; yields the server (``.url``, ``.sent``, ...)."""
    state = {"sent": Counter(), "requests": [], "lock": threading.Lock()}
    bound = type("BoundHandler", (handler,), state)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(bound, directory=os.fspath(folder)))
    server.daemon_threads = True
    server.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    server.sent, server.requests = state["sent"], state["requests"]  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _folder_bytes(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):  # a temporary file may vanish between listing and stat
                total += os.path.getsize(os.path.join(root, name))
    return total


@contextlib.contextmanager
def peak_bytes(folder: Path, every_s: float = 0.01) -> Iterator[dict[str, int]]:
    """Sample the bytes under ``folder`` every ``every_s`` seconds; ``result["peak"]`` is the largest seen."""
    result = {"peak": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            result["peak"] = max(result["peak"], _folder_bytes(folder))
            stop.wait(every_s)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        result["peak"] = max(result["peak"], _folder_bytes(folder))


@contextlib.contextmanager
def temporary_dir_env(folder: Path) -> Iterator[None]:
    """Point TMPDIR (this process and the workers it starts) at ``folder``."""
    before_env, before_dir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"] = str(folder)
    tempfile.tempdir = None  # recomputed from TMPDIR
    try:
        yield
    finally:
        if before_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = before_env
        tempfile.tempdir = before_dir


def run_preprocess(argv: list[str]) -> float:
    """Run ``rad3d-hf preprocess`` with ``argv``; its wall time in seconds (an error exit raises)."""
    from rad3d_hf.cli import main as cli

    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = cli(["preprocess", "--quiet", *argv])
    if code != 0:
        raise RuntimeError(f"rad3d-hf preprocess {' '.join(argv)} exited with {code}")
    return time.perf_counter() - start


def checksums(out: Path) -> dict[str, str]:
    return {name: entry["sha256"] for name, entry in json.loads((out / "manifest.json").read_text())["volumes"].items()}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="test", help="split whose volumes (default: test)")
    parser.add_argument("--config", default="all", help="config whose questions name the volumes (default: all)")
    parser.add_argument("--size", nargs=3, default=["32", "256", "256"], metavar=("D", "H", "W"))
    parser.add_argument("--workers", type=int, default=min(os.cpu_count() or 1, 4))
    parser.add_argument("--repeats", type=int, default=1, help="runs of each; the best time is reported")
    args = parser.parse_args(argv)

    from rad3d_hf.cli.preprocess import volume_names
    from rad3d_hf.demo import ensure_demo_data

    root = ensure_demo_data()
    names = volume_names(str(root), args.split, args.config, prior_volumes=False)
    file_bytes = sum((root / "volumes" / f"{name}.nii.gz").stat().st_size for name in names)
    common = ["--split", args.split, "--config", args.config, "--data-dir", str(root), "--size", *args.size,
              "--workers", str(args.workers)]  # fmt: skip
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as scratch, serve(root) as server:
        for label, volumes_dir in (("local", str(root / "volumes")), ("http", f"{server.url}/volumes/")):
            times, peaks = [], []
            for repeat in range(args.repeats):
                out, tmp = Path(scratch, f"{label}-{repeat}"), Path(scratch, f"tmp-{label}-{repeat}")
                tmp.mkdir()
                server.sent.clear()
                server.requests.clear()
                with temporary_dir_env(tmp), peak_bytes(tmp) as peak:
                    times.append(run_preprocess([*common, "--volumes-dir", volumes_dir, "--out", str(out)]))
                peaks.append(peak["peak"])
                listing = sum(sent for path, sent in server.sent.items() if path.endswith("/"))
                sent, requests = sum(server.sent.values()) - listing, len(server.requests)
            rows[label] = {"seconds": min(times), "rate": len(names) / min(times), "peak_tmp": max(peaks),
                           "sent": sent, "listing": listing, "requests": requests, "sha": checksums(out)}  # fmt: skip
            shutil.rmtree(out)
    identical = rows["local"]["sha"] == rows["http"]["sha"] and len(rows["local"]["sha"]) == len(names)
    print(f"{len(names)} volumes ({args.config}/{args.split}, {file_bytes / 1e6:.1f} MB of .nii.gz), --size "
          f"{' '.join(args.size)}, --workers {args.workers}, best of {args.repeats}")  # fmt: skip
    print(f"{'source':<8}{'seconds':>9}{'volumes/s':>11}{'sent/file bytes':>17}{'requests/volume':>17}"
          f"{'peak tmp bytes':>16}")  # fmt: skip
    for label, row in rows.items():
        ratio = f"{row['sent'] / file_bytes:.3f}" if label == "http" else "-"
        per_volume = f"{row['requests'] / len(names):.1f}" if label == "http" else "-"
        print(f"{label:<8}{row['seconds']:>9.2f}{row['rate']:>11.1f}{ratio:>17}{per_volume:>17}{row['peak_tmp']:>16}")
    speed = rows["http"]["rate"] / rows["local"]["rate"]
    print(f"http / local volumes/s: {speed:.2f}; identical outputs: {'yes' if identical else 'NO'}; listing the "
          f"folder sent {rows['http']['listing']} bytes more (not in sent/file bytes)")  # fmt: skip
    return {"volumes": len(names), "file_bytes": file_bytes, "identical": identical, "speed_ratio": speed,
            **{f"{label}_{key}": value for label, row in rows.items() for key, value in row.items() if key != "sha"}}  # fmt: skip


if __name__ == "__main__":
    main()
