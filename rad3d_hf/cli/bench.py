"""``rad3d-hf bench``: how fast this machine turns CT files into M3D input, against the usual ways, in one process.

It writes (once, then reuses) a CT-like synthetic volume (512x512x300 int16 HU with air, body, lungs, heart and
bone, gzip ratio about 0.5, like real CT) and measures on that one file:

- decode: ``rad3d_hf.read_volume`` against nibabel's default ``np.asanyarray(nib.load(p).dataobj)``, beside the raw
  ISA-L inflate rate of the same bytes (the ceiling); header-only reads against ``nib.load``;
- preprocess: ``M3DTransform`` on decoded voxels against the same recipe in torch (float copy + interpolate) and
  scipy (float copy + ``ndimage.zoom(order=1)``);
- end to end with N DataLoader workers: path in, 1x32x256x256 tensor out, for ours, nibabel + scipy zoom, and MONAI
  ``LoadImage`` + ``ScaleIntensity`` + ``CropForeground`` + ``Resize`` (when MONAI is installed), plus decode only;
- peak memory of one ``M3DTransform`` call from the path (numpy allocations, traced), as a multiple of the decoded
  int16 volume.

Rates are volumes per second; ratios compare runs made in this process on this file, so they carry across machines
better than the rates do.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np

from rad3d_hf.cli.usage import UsageError

M3D_SIZE = (32, 256, 256)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "bench",
        help="measure CT decoding and preprocessing speed against nibabel + scipy and MONAI",
        description=(
            "Measure, on one CT-like synthetic volume (or --file), decoding, preprocessing to M3D input and end-to-end "
            "rates with N DataLoader workers against nibabel + scipy zoom and MONAI, plus peak memory; ratios come "
            "from runs in this process on the same file."
        ),
    )
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers for the end-to-end runs (default 2)")
    parser.add_argument("--volumes", type=int, default=6, help="volumes per end-to-end run (default 6)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of each single-process measurement (default 3)")
    parser.add_argument(
        "--shape", type=int, nargs=3, default=(512, 512, 300), metavar=("X", "Y", "Z"), help="phantom shape"
    )
    parser.add_argument("--file", default=None, help="benchmark this .nii.gz instead of the synthetic phantom")
    parser.add_argument("--no-monai", action="store_true", help="leave the MONAI baseline out")
    parser.set_defaults(func=run)
    return parser


# --- what each contender does with one path (top level so DataLoader workers can unpickle them) -------------------


def ours_decode(path: str) -> int:
    from rad3d_hf.volumes.decode import read_volume

    return int(read_volume(path).shape[-1])


def ours_end_to_end(path: str) -> Any:
    import torch

    from rad3d_hf.transforms import M3DTransform

    return torch.from_numpy(M3DTransform()(path))


def nibabel_scipy_end_to_end(path: str) -> Any:
    import nibabel as nib
    import torch
    from scipy import ndimage

    volume = cast(Any, nib.load(path)).get_fdata(dtype=np.float32)  # float32, not the float64 default: a fair baseline
    volume = (volume - volume.min()) / (volume.max() - volume.min())
    foreground = volume > 0
    nonzero = [np.flatnonzero(foreground.any(axis=tuple(a for a in range(3) if a != axis))) for axis in range(3)]
    volume = volume[tuple(slice(n[0], n[-1] + 1) for n in nonzero)]
    zoomed = ndimage.zoom(volume, [t / s for t, s in zip(M3D_SIZE[::-1], volume.shape)], order=1)
    return torch.from_numpy(np.ascontiguousarray(zoomed.transpose(2, 1, 0))[None])


def monai_end_to_end(path: str) -> Any:
    import monai.transforms as mt

    pipeline = mt.Compose(
        [
            mt.LoadImage(image_only=True, ensure_channel_first=True),
            mt.ScaleIntensity(minv=0.0, maxv=1.0),
            mt.CropForeground(),
            mt.Resize(spatial_size=M3D_SIZE, mode="bilinear"),
        ]
    )
    return pipeline(path).as_tensor()


class _Paths:
    def __init__(self, path: str, n: int, work: Callable[[str], Any]) -> None:
        self.path, self.n, self.work = path, n, work

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> Any:
        return self.work(self.path)


def _loader_rate(path: str, work: Callable[[str], Any], *, volumes: int, workers: int) -> float:
    from torch.utils.data import DataLoader

    loader: DataLoader[Any] = DataLoader(cast(Any, _Paths(path, volumes, work)), batch_size=None, num_workers=workers)
    start = time.perf_counter()
    count = sum(1 for _ in loader)
    return count / (time.perf_counter() - start)


def _best_seconds(work: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


# --- the run ------------------------------------------------------------------------------------------------------


def phantom_path(shape: tuple[int, int, int]) -> Path:
    """The cached benchmark phantom of ``shape``, written on first use (atomically)."""
    from rad3d_hf.volumes.phantom import write_ct_phantom

    home = Path(os.environ.get("HF_HOME") or Path("~/.cache/huggingface").expanduser())
    path = home / "rad3d_hf" / "bench" / f"ct_phantom_{'x'.join(map(str, shape))}_seed0.nii.gz"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.nii.gz")
        write_ct_phantom(partial, (shape[0], shape[1], shape[2]))
        os.replace(partial, path)
    return path


def run(args: argparse.Namespace) -> int:
    import nibabel as nib

    from rad3d_hf.transforms import M3DTransform
    from rad3d_hf.volumes.decode import read_volume, read_volume_header
    from rad3d_hf.volumes.gzip_stream import INFLATE_BACKEND, inflate_lib

    # A core install has numpy, nibabel and isal: those parts always run; the others say what to install.
    has_torch, has_scipy = _importable("torch"), _importable("scipy.ndimage")
    missing_parts = {}
    if not has_torch:
        missing_parts["the torch recipe and the end-to-end runs"] = (
            "torch is not installed: pip install 'rad3d-hf[train]'"
        )
    if not has_scipy:
        missing_parts["the scipy baselines"] = "scipy is not installed: pip install scipy (or 'rad3d-hf[dev]')"
    if args.file is not None and not Path(args.file).is_file():
        raise UsageError(f"--file {args.file}: no such file; pass a .nii.gz volume, or leave --file out")
    path = Path(args.file) if args.file else phantom_path(tuple(args.shape))
    path_str = str(path)
    header = read_volume_header(path)
    compressed = path.stat().st_size
    report = Report()
    report.line(f"file: {path} ({compressed / 1e6:.1f} MB, shape {header.shape} {header.dtype}, "
                f"gzip ratio {compressed / header.nbytes:.2f})")  # fmt: skip
    load = os.getloadavg()
    report.line(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start; "
                f"inflate backend: {INFLATE_BACKEND}")  # fmt: skip

    report.section(f"single process (best of {args.repeats})")
    blob = path.read_bytes()
    inflate = _best_seconds(lambda: inflate_lib.decompress(blob, 31), args.repeats)
    ours = _best_seconds(lambda: read_volume(path), args.repeats)
    nibabel = _best_seconds(lambda: np.asanyarray(cast(Any, nib.load(path)).dataobj), args.repeats)
    report.rate("inflate only (in memory, the ceiling)", inflate, extra=f"{header.nbytes / inflate / 1e6:.0f} MB/s out")
    report.rate("decode: rad3d_hf.read_volume", ours, baseline=nibabel, baseline_name="nibabel")
    report.rate("decode: nibabel default", nibabel)
    header_ours = _best_seconds(lambda: read_volume_header(path), 10 * args.repeats)
    header_nib = _best_seconds(lambda: cast(Any, nib.load(path)).header.get_zooms(), 10 * args.repeats)
    report.line(f"  header only: {header_ours * 1e3:.2f} ms (nib.load: {header_nib * 1e3:.2f} ms)")

    voxels = read_volume(path)
    transform = M3DTransform()
    pre_ours = _best_seconds(lambda: transform.apply(voxels, affine=header.affine), args.repeats)
    pre_scipy = _best_seconds(lambda: _scipy_recipe(voxels), max(1, args.repeats - 1)) if has_scipy else None
    report.rate("preprocess: M3DTransform", pre_ours, baseline=pre_scipy, baseline_name="scipy")
    if has_torch:
        report.rate("preprocess: torch interpolate recipe", _best_seconds(lambda: _torch_recipe(voxels), args.repeats))
    if pre_scipy is not None:
        report.rate("preprocess: scipy zoom recipe", pre_scipy)
    for name, missing in missing_parts.items():
        report.line(f"  (skipped {name}: {missing})")
    del voxels
    if not has_torch:
        report.line(f"\nend to end: skipped ({missing_parts['the torch recipe and the end-to-end runs']})")
        _memory_section(report, transform, path_str, header)
        return 0

    report.section(
        f"end to end: path -> 1x32x256x256 tensor, {args.workers} DataLoader workers, {args.volumes} volumes"
    )
    _import_in_parent(with_monai=not args.no_monai)  # forked workers inherit modules: nobody pays imports in the timing
    rates = {"decode only (ours)": _loader_rate(path_str, ours_decode, volumes=args.volumes, workers=args.workers)}
    rates["rad3d_hf (read_volume + M3DTransform)"] = _loader_rate(
        path_str, ours_end_to_end, volumes=args.volumes, workers=args.workers
    )
    if has_scipy:
        rates["nibabel + scipy zoom"] = _loader_rate(
            path_str, nibabel_scipy_end_to_end, volumes=args.volumes, workers=args.workers
        )
    if not args.no_monai:
        try:
            import monai  # noqa: F401

            rates["MONAI LoadImage + Resize"] = _loader_rate(
                path_str, monai_end_to_end, volumes=args.volumes, workers=args.workers
            )
        except ImportError:
            report.line("  (MONAI not installed: its baseline is left out)")
    ours_rate = rates["rad3d_hf (read_volume + M3DTransform)"]
    for name, rate in rates.items():
        report.line(f"  {name:<42} {rate:6.2f} volumes/s")
    if "nibabel + scipy zoom" in rates:
        report.line(f"  rad3d_hf / nibabel + scipy: {ours_rate / rates['nibabel + scipy zoom']:.2f}x")
    if "MONAI LoadImage + Resize" in rates:
        report.line(f"  rad3d_hf / MONAI: {ours_rate / rates['MONAI LoadImage + Resize']:.2f}x")
    report.line(f"  rad3d_hf / decode only: {ours_rate / rates['decode only (ours)']:.0%}")

    _memory_section(report, transform, path_str, header)
    return 0


def _memory_section(report: Report, transform: Any, path_str: str, header: Any) -> None:
    report.section("memory")
    peak = _traced_peak(lambda: transform(path_str))
    volume_mb = header.nbytes / 1e6
    report.line(
        f"  peak numpy memory of one M3DTransform(path): {peak / 1e6:.0f} MB = "
        f"{peak / header.nbytes:.2f}x the decoded {header.dtype} volume ({volume_mb:.0f} MB)"
    )
    load = os.getloadavg()
    report.line(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def _import_in_parent(*, with_monai: bool) -> None:
    import torch.utils.data  # noqa: F401

    with contextlib.suppress(ImportError):
        import scipy.ndimage  # noqa: F401

    if with_monai:
        with contextlib.suppress(ImportError):
            import monai.transforms  # noqa: F401


def _torch_recipe(voxels: np.ndarray) -> Any:
    import torch

    volume = torch.from_numpy(np.ascontiguousarray(voxels.transpose(2, 1, 0)[::-1])).float()
    volume = (volume - volume.min()) / (volume.max() - volume.min())
    return torch.nn.functional.interpolate(volume[None, None], size=M3D_SIZE, mode="trilinear", align_corners=False)


def _scipy_recipe(voxels: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    volume = voxels.astype(np.float32)
    volume = (volume - volume.min()) / (volume.max() - volume.min())
    return ndimage.zoom(volume, [t / s for t, s in zip(M3D_SIZE[::-1], volume.shape)], order=1)


def _traced_peak(work: Callable[[], Any]) -> int:
    import tracemalloc

    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


class Report:
    """Prints as it goes (a slow machine shows progress) in a layout that pastes into Markdown."""

    def line(self, text: str) -> None:
        print(text, flush=True)

    def section(self, title: str) -> None:
        self.line(f"\n{title}")

    def rate(
        self, name: str, seconds: float, *, baseline: float | None = None, baseline_name: str = "", extra: str = ""
    ) -> None:
        ratio = f"  {baseline / seconds:.2f}x {baseline_name}" if baseline else ""
        extra = f"  {extra}" if extra else ""
        self.line(f"  {name:<42} {seconds:7.3f} s  {1 / seconds:6.2f} volumes/s{ratio}{extra}")
