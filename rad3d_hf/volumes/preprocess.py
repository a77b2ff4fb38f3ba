"""Preprocess every CT volume once into a folder of ``.npy`` model inputs, in worker processes, resumably.

``<out>/<volume name>.npy`` holds ``transform(source)`` (e.g. ``M3DTransform``'s ``(1, 32, 256, 256)`` array in
[0, 1]) as float32, or as float16 to halve the disk (values in [0, 1] round to float16 with an absolute error of at
most 2**-12 = 0.000244; float32 is exact). ``<out>/manifest.json`` records the transform's parameters, the dtype,
the package version and, per volume, its source path, size and mtime, the output shape, dtype and SHA-256, plus the
volumes that failed (with ``on_error="skip"``) and why.

- Each volume is read and transformed exactly once, in ``workers`` processes; outputs are written to a temporary
  file and renamed into place (atomic), so a crash never leaves a partial ``.npy`` under its real name.
- A rerun resumes: a volume whose manifest entry matches its source (path, size, mtime) and whose file still has
  the recorded checksum is kept; anything else is done again. The manifest is saved every few seconds and when the
  run ends or fails, so finished work survives an interruption.
- A manifest written with other parameters or another dtype is an error (:class:`ManifestMismatchError`), never a
  silent mix of two recipes in one folder.
- A source may be an fsspec URL (``http://``, ``hf://``, ...): a ``.nii.gz`` streams through the inflater, a ``.nii``
  or ``.npy`` is read whole into memory (one volume per worker), so no raw volume is written to the local disk. Its
  manifest entry records the URL, its size and its version (ETag, Last-Modified or hf:// blob id) instead of an
  mtime; workers reading URLs are spawned, not forked (fsspec's event loop does not survive a fork).

The folder then serves as ``volumes_dir=<out>, volume_format="npy"``. This module knows no transform: the caller
passes a picklable ``transform(path) -> array`` (importable by name where workers are spawned) and its ``params``
(``rad3d-hf preprocess`` passes ``M3DTransform``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from rad3d_hf import __version__
from rad3d_hf.atomic_files import write_bytes_atomically

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
DTYPES = ("float32", "float16")
FLOAT16_MAX_ERROR = 2.0**-12  # half the float16 spacing just below 1.0 (2**-11)
OnError = Literal["error", "skip"]
_SAVE_EVERY_S = 5.0


class ManifestMismatchError(ValueError):
    """The output folder was made with other transform parameters or another dtype."""


@dataclass
class PreprocessReport:
    """What a run did: volumes written now, kept from an earlier run (verified), and failed (skipped)."""

    out_dir: Path
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


# Info fields naming a remote file's version (HTTP, S3: ETag or Last-Modified; hf://: the git blob id), so a resumed
# run redoes a volume replaced on the server by one of the same size.
_VERSION_FIELDS = ("ETag", "etag", "Last-Modified", "blob_id", "generation")


def source_identity(source: str) -> dict[str, Any]:
    """``{"source", "size", "mtime_ns"}`` of a local path, plus ``"version"`` for an fsspec URL (``mtime_ns`` None).

    A URL's version is the first string among its fsspec ``info`` fields ``ETag``, ``Last-Modified``, ``blob_id``
    and ``generation``, or None. An unreachable URL raises ``FileNotFoundError`` naming it and the cause.
    """
    if "://" in source:
        import fsspec

        try:
            fs, path = fsspec.core.url_to_fs(source)
            info = fs.info(path)
        except FileNotFoundError as error:
            cause = f": {error.__cause__}" if error.__cause__ is not None else ""
            raise FileNotFoundError(f"{source}: not found or unreachable{cause}") from error
        version = next((info[k] for k in _VERSION_FIELDS if isinstance(info.get(k), str)), None)
        return {"source": source, "size": int(info.get("size") or 0), "mtime_ns": None, "version": version}
    stat = os.stat(source)
    return {"source": os.path.abspath(source), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(out_dir: Path) -> dict[str, Any] | None:
    """The folder's manifest, or None when there is none; an unreadable one is an error naming it."""
    path = out_dir / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a readable preprocessing manifest ({error}); delete it to start over") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("volumes"), dict):
        raise ValueError(f"{path}: not a preprocessing manifest (no 'volumes'); delete it to start over")
    return manifest


def check_manifest(manifest: Mapping[str, Any], params: Mapping[str, Any], dtype: str, path: Path) -> None:
    """Raise :class:`ManifestMismatchError` naming what differs between the manifest and the run asked for."""
    wanted = json.loads(json.dumps(dict(params)))
    found = manifest.get("params") or {}
    differ = [f"{k}: {found.get(k)!r} there, {wanted.get(k)!r} asked" for k in sorted(set(found) | set(wanted))
              if found.get(k) != wanted.get(k)]  # fmt: skip
    if manifest.get("dtype") != dtype:
        differ.append(f"dtype: {manifest.get('dtype')!r} there, {dtype!r} asked")
    if differ:
        raise ManifestMismatchError(
            f"{path} was made with other settings ({'; '.join(differ)}): use another --out folder, or the same settings"
        )


def _work(task: tuple[str, str, str, dict[str, Any] | None, Callable[[str], np.ndarray], str]) -> dict[str, Any]:
    """Keep (verified) or make one output; runs in a worker. Returns a status record, never raises for bad input."""
    name, source, out_path, entry, transform, dtype = task
    target = Path(out_path)
    try:
        identity = source_identity(source)
        unchanged = entry is not None and all(entry.get(k) == v for k, v in identity.items())
        if entry is not None and unchanged and target.is_file() and file_sha256(target) == entry.get("sha256"):
            return {"name": name, "status": "kept", "entry": entry}
        array = np.asarray(transform(source))
        if dtype == "float16":
            array = array.astype(np.float16)
        elif array.dtype != np.float32:
            array = array.astype(np.float32)
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
        data = buffer.getbuffer()
        # No fsync per volume (it costs more than the write): a file torn by a power cut fails its checksum on resume.
        write_bytes_atomically(target, data, sync=False)
        record = {**identity, "shape": list(array.shape), "dtype": str(array.dtype),
                  "sha256": hashlib.sha256(data).hexdigest()}  # fmt: skip
        return {"name": name, "status": "written", "entry": record}
    except Exception as error:  # reported by name; the caller decides to stop or skip
        return {"name": name, "status": "failed", "source": source, "error": f"{type(error).__name__}: {error}"}


def _save_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    write_bytes_atomically(out_dir / MANIFEST, text.encode("utf-8"))


def _pool_context(tasks: list[tuple]) -> BaseContext | None:
    # The listing left fsspec's event-loop thread and HTTP sessions in this process; neither survives a fork (a
    # forked child shares their sockets and epoll set). Workers reading URLs start clean; local files keep fork.
    if any("://" in task[1] for task in tasks):
        import multiprocessing

        return multiprocessing.get_context("spawn")
    return None


def _results(tasks: list[tuple], workers: int) -> Iterator[dict[str, Any]]:
    if workers <= 1 or len(tasks) <= 1:
        yield from map(_work, tasks)
        return
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=_pool_context(tasks))
    try:
        futures = [pool.submit(_work, task) for task in tasks]
        for future in futures:
            yield future.result()
    finally:  # a failure stops the run: volumes not started yet are cancelled
        pool.shutdown(wait=True, cancel_futures=True)


def preprocess_volumes(
    sources: Mapping[str, str],
    out_dir: str | os.PathLike[str],
    *,
    transform: Callable[[str], np.ndarray],
    params: Mapping[str, Any],
    dtype: str = "float32",
    workers: int | None = None,
    on_error: OnError = "error",
    missing: Mapping[str, str] | None = None,
    progress: bool = True,
    source_format: str | None = None,
) -> PreprocessReport:
    """Write ``<out_dir>/<name>.npy = transform(source)`` for every ``name: source``, each once (see the module doc).

    ``missing`` names volumes that have no source (with the reason), recorded as failed. With ``on_error="error"``
    the first failure raises a ``ValueError`` naming the volume and its file (after saving what was done); with
    ``"skip"`` failures are recorded in the manifest and the report. ``source_format`` (the format the sources were
    read in, e.g. ``"nifti"``) is recorded in the manifest.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
    if on_error not in ("error", "skip"):
        raise ValueError(f"on_error {on_error!r}; expected 'error' or 'skip'")
    for name in sources:
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise ValueError(f"volume name {name!r} cannot be a file name in {out_dir}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    manifest = read_manifest(out)
    if manifest is not None:
        check_manifest(manifest, params, dtype, out / MANIFEST)
    else:
        manifest = {"format": MANIFEST_FORMAT, "params": json.loads(json.dumps(dict(params))), "dtype": dtype,
                    "volumes": {}, "failed": {}}  # fmt: skip
    manifest["rad3d_hf"] = __version__
    if source_format is not None:
        manifest["source_format"] = source_format
    manifest.setdefault("failed", {})
    report = PreprocessReport(out_dir=out)
    for name, reason in (missing or {}).items():
        if on_error == "error":
            raise ValueError(f"volume {name}: {reason}")
        manifest["failed"][name] = {"source": None, "error": reason}
        report.failed[name] = reason
    entries = manifest["volumes"]
    tasks = [(name, source, str(out / f"{name}.npy"), entries.get(name), transform, dtype)
             for name, source in sources.items()]  # fmt: skip
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tasks), unit="volume", desc="preprocess", smoothing=0.1)
    last_save = time.monotonic()
    try:
        for result in _results(tasks, (os.cpu_count() or 1) if workers is None else workers):
            name = result["name"]
            if result["status"] == "failed":
                entries.pop(name, None)
                if on_error == "error":
                    raise ValueError(f"volume {name} ({result['source']}): {result['error']}")
                manifest["failed"][name] = {"source": result["source"], "error": result["error"]}
                report.failed[name] = result["error"]
            else:
                entries[name] = result["entry"]
                manifest["failed"].pop(name, None)
                (report.written if result["status"] == "written" else report.kept).append(name)
            if bar is not None:
                bar.update(1)
            if time.monotonic() - last_save > _SAVE_EVERY_S:
                _save_manifest(out, manifest)
                last_save = time.monotonic()
    finally:
        if bar is not None:
            bar.close()
        _save_manifest(out, manifest)
    report.seconds = time.perf_counter() - started
    return report


__all__ = [
    "DTYPES",
    "FLOAT16_MAX_ERROR",
    "MANIFEST",
    "ManifestMismatchError",
    "PreprocessReport",
    "check_manifest",
    "preprocess_volumes",
    "read_manifest",
    "source_identity",
]
