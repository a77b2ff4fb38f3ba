"""``rad3d-hf preprocess --volumes-dir URL``: the same outputs as from the local folder, each volume read once.

Served by a plain ``python -m http.server`` subprocess (the parity check) and by the benchmark's in-process server,
which honours Range requests and counts the bytes it sends per path (bytes, requests, resume, failures).
"""

from __future__ import annotations

import importlib.util
import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rad3d_hf.cli import main as cli
from rad3d_hf.cli.preprocess import volume_names
from rad3d_hf.demo import ensure_demo_data
from rad3d_hf.transforms import M3DTransform
from rad3d_hf.volumes.decode import read_volume
from rad3d_hf.volumes.preprocess import MANIFEST, _pool_context, preprocess_volumes

SIZE = ("8", "32", "32")
CONFIG = ("--split", "test", "--config", "task3")  # 10 small demo volumes
BENCH = Path(__file__).resolve().parents[1] / "examples" / "benchmarks" / "bench_remote_preprocess.py"


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_remote_preprocess", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _bench()


@pytest.fixture(scope="module")
def root() -> Path:
    return ensure_demo_data()


@pytest.fixture(scope="module")
def names(root: Path) -> list[str]:
    return volume_names(str(root), "test", "task3", prior_volumes=False)


@pytest.fixture(scope="module")
def local_sums(root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("local") / "pre"
    assert _run(root, str(root / "volumes"), out) == 0
    return _sums(out)


@pytest.fixture(scope="module")
def plain_server(root: Path) -> Iterator[str]:
    """``python -m http.server`` on a free port of 127.0.0.1, serving the demo folder; stopped at the end."""
    server = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", str(root)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        first = server.stdout.readline()
        port = re.search(r"port (\d+)", first)
        assert port, f"http.server said {first!r}"
        yield f"http://127.0.0.1:{port[1]}"
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()


def _run(root: Path, volumes_dir: str, out: Path, *argv: str) -> int:
    return cli(["preprocess", "--quiet", "--size", *SIZE, *CONFIG, "--data-dir", str(root), "--volumes-dir",
                volumes_dir, "--out", str(out), *argv])  # fmt: skip


def _sums(out: Path) -> dict[str, str]:
    return {name: entry["sha256"] for name, entry in json.loads((out / MANIFEST).read_text())["volumes"].items()}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(("path", "workers"), [("/volumes/", "2"), ("/", "1")])
def test_plain_http_server_gives_the_bytes_of_the_local_folder(root, names, local_sums, plain_server, tmp_path,
                                                                path, workers):  # fmt: skip
    import fsspec

    listed = fsspec.filesystem("http").find(f"{plain_server}/volumes/")
    assert len(listed) == len(list((root / "volumes").glob("*.nii.gz")))
    assert f"{plain_server}/volumes/{names[0]}.nii.gz" in listed
    out = tmp_path / "pre"
    assert _run(root, plain_server + path, out, "--workers", workers) == 0
    assert _sums(out) == local_sums and sorted(local_sums) == sorted(names)
    entry = json.loads((out / MANIFEST).read_text())["volumes"][names[0]]
    assert entry["source"] == f"{plain_server}/volumes/{names[0]}.nii.gz" and entry["version"]
    assert entry["size"] == (root / "volumes" / f"{names[0]}.nii.gz").stat().st_size


@pytest.mark.parametrize("workers", ["1", "2"])
def test_each_volume_is_read_once_nothing_lands_on_disk_and_a_rerun_downloads_nothing(root, names, local_sums,
                                                                                       tmp_path, workers):  # fmt: skip
    out, scratch = tmp_path / "pre", tmp_path / "tmp"
    scratch.mkdir()
    with bench.serve(root) as server, bench.temporary_dir_env(scratch):
        assert _run(root, f"{server.url}/volumes/", out, "--workers", workers) == 0
        assert _sums(out) == local_sums
        assert not list(scratch.iterdir())  # no raw volume, no temporary file
        assert sorted(p.name for p in out.iterdir()) == sorted([MANIFEST, *(f"{n}.npy" for n in names)])
        wanted = {f"/volumes/{name}.nii.gz" for name in names}
        listing = [r for r in server.requests if r[1].endswith("/")]
        assert {r[1] for r in listing} == {"/volumes/"} and len(listing) <= 2  # one folder, no per-file listing
        assert {r[1] for r in server.requests} - {"/volumes/"} == wanted  # only the volumes the questions name
        for path in wanted:
            size = (root / path.lstrip("/")).stat().st_size
            # At most 1.1x the file (+1 KiB of slack): in fact the file once plus the 17 KiB header block.
            assert size <= server.sent[path] <= min(1.1 * size, size + 20 * 1024) + 1024, path
            gets = [r[2] for r in server.requests if r[:2] == ("GET", path)]
            assert sorted(gets, key=str) == [None, "bytes=0-17407"], path  # one streamed GET, one header block

        server.requests.clear()
        server.sent.clear()
        assert _run(root, f"{server.url}/volumes/", out, "--workers", workers) == 0
        assert _sums(out) == local_sums
        assert not [r for r in server.requests if r[0] == "GET" and r[1] != "/volumes/"]  # checked by HEAD only
        assert not any(server.sent[path] for path in wanted)


def test_a_missing_volume_is_skipped_or_stops_the_run_naming_its_url(root, names, tmp_path, capsys):
    victim = f"/volumes/{names[1]}.nii.gz"

    class Missing(bench.CountingHandler):
        def send_head(self) -> Any:
            if self.path == victim:
                self.send_error(404, "File not found")
                return None
            return super().send_head()

    with bench.serve(root, Missing) as server:
        url = f"{server.url}{victim}"
        assert _run(root, f"{server.url}/volumes/", tmp_path / "a", "--workers", "2") == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and url in err and names[1] in err
        assert _run(root, f"{server.url}/volumes/", tmp_path / "b", "--on-error", "skip", "--workers", "2") == 0
    assert "1 failed" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "b" / MANIFEST).read_text())
    assert list(manifest["failed"]) == [names[1]] and len(manifest["volumes"]) == len(names) - 1
    assert manifest["failed"][names[1]]["source"] == url and url in manifest["failed"][names[1]]["error"]


def test_a_refused_connection_names_the_url(root, names, tmp_path, capsys):
    base = f"http://127.0.0.1:{_free_port()}/volumes/"
    sources = {names[0]: f"{base}{names[0]}.nii.gz"}
    transform = M3DTransform(size=tuple(int(n) for n in SIZE))
    options: dict[str, Any] = {"transform": transform, "params": transform.params(), "progress": False, "workers": 1}
    report = preprocess_volumes(sources, tmp_path / "a", on_error="skip", **options)
    message = report.failed[names[0]]
    assert sources[names[0]] in message and "connect" in message.lower()
    with pytest.raises(ValueError, match=re.escape(sources[names[0]])):
        preprocess_volumes(sources, tmp_path / "b", **options)
    assert _run(root, base, tmp_path / "c") == 2
    err = capsys.readouterr().err
    assert base.rstrip("/") in err and err.strip().count("\n") == 0


def test_any_fsspec_filesystem_serves_the_same_volumes(root, names, local_sums, tmp_path):
    import fsspec

    memory = fsspec.filesystem("memory")
    try:
        for name in names:
            memory.pipe(f"/rad3d-volumes/{name}.nii.gz", (root / "volumes" / f"{name}.nii.gz").read_bytes())
        out = tmp_path / "pre"
        assert _run(root, "memory://rad3d-volumes", out, "--workers", "1") == 0
        assert _sums(out) == local_sums
    finally:
        memory.rm("/rad3d-volumes", recursive=True)


def test_nii_and_npy_urls_are_read_whole_into_memory_once(root, names, tmp_path):
    import nibabel as nib

    source = nib.load(root / "volumes" / f"{names[0]}.nii.gz")
    nib.save(source, tmp_path / f"{names[0]}.nii")
    np.save(tmp_path / f"{names[1]}.npy", np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    with bench.serve(tmp_path) as server:
        for name in (f"{names[0]}.nii", f"{names[1]}.npy"):
            expected = read_volume(tmp_path / name)
            assert np.array_equal(read_volume(f"{server.url}/{name}"), expected)
            assert server.sent[f"/{name}"] == (tmp_path / name).stat().st_size  # one whole read, no read-ahead


def test_benchmark_runs_and_reports_both_sources(capsys):
    result = bench.main(["--config", "task3", "--size", "4", "16", "16", "--workers", "1"])
    out = capsys.readouterr().out
    assert result["identical"] and result["volumes"] == 10 and result["http_peak_tmp"] == 0
    assert 1.0 <= result["http_sent"] / result["file_bytes"] < 1.5
    for label in ("volumes/s", "sent/file bytes", "peak tmp bytes", "http / local volumes/s", "identical outputs: yes"):
        assert label in out


def test_workers_reading_urls_are_spawned_and_local_ones_forked():
    # fsspec's event-loop thread and sessions, left by the listing, must not be inherited by a fork.
    assert _pool_context([("a", "http://127.0.0.1:1/a.nii.gz")]).get_start_method() == "spawn"
    assert _pool_context([("a", "hf://datasets/x/y/a.nii.gz")]).get_start_method() == "spawn"
    assert _pool_context([("a", "/data/a.nii.gz")]) is None


def test_the_readme_command_runs_against_a_served_copy(root, plain_server, tmp_path, capsys):
    """The README's CT-RATE command, with the demo served on 127.0.0.1 for the gated Hub folder (and Task 3's
    volumes of the train split, to stay small)."""
    import shlex

    text = (Path(__file__).resolve().parents[1] / "examples" / "README.md").read_text()
    start = text.index("**CT-RATE's training volumes without downloading CT-RATE.**")
    block = re.search(r"```bash\n(.*?)```", text[start:], flags=re.S)[1]
    login, command = [line for line in block.replace("\\\n", " ").splitlines() if line.strip()]
    assert login.startswith("hf auth login")  # the Hub: nothing to log in to here
    argv = shlex.split(command.replace("hf://datasets/ibrahimhamamci/CT-RATE/dataset/train_fixed",
                                       f"{plain_server}/volumes/"))  # fmt: skip
    argv = [str(root) if a == "path/to/3D-RAD" else str(tmp_path / a) if a.startswith("ct-m3d") else a for a in argv]
    assert argv[:2] == ["rad3d-hf", "preprocess"] and "--split" in argv
    assert cli([*argv[1:], "--config", "task3", "--size", *SIZE, "--quiet"]) == 0, capsys.readouterr().err
    out = tmp_path / "ct-m3d-train"
    expected = set(volume_names(str(root), "train", "task3", prior_volumes=False))
    assert {p.stem for p in out.glob("*.npy")} == expected
