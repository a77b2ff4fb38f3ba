"""``rad3d-hf preprocess``: every CT volume a split asks about, preprocessed once into a folder of ``.npy`` inputs.

    rad3d-hf preprocess --split test --data-dir path/to/3D-RAD --volumes-dir path/to/CT-RATE --out ct-m3d/
    rad3d-hf preprocess --split train --data-dir path/to/3D-RAD \
        --volumes-dir hf://datasets/ibrahimhamamci/CT-RATE/dataset/train_fixed --out ct-m3d/
    python examples/predict.py ... --volumes-dir ct-m3d/

The folder holds ``<volume name>.npy`` (M3D's ``1x32x256x256`` input by default) and ``manifest.json`` (see
:mod:`rad3d_hf.volumes.preprocess`); rerun the same command to resume or to add another split.

``--volumes-dir`` may be any fsspec URL (``hf://``, ``http://``, ...): the folder is listed once and only the volumes
the split's questions name are read, each once, streamed (``.nii.gz``) or read whole into memory (``.nii``, ``.npy``),
so no raw volume is stored locally. CT-RATE is gated: ``hf://`` needs ``hf auth login`` with access to it.
"""

from __future__ import annotations

import argparse
import os

from rad3d_hf.cli.sources import add_table_source, add_volumes_dir, checked_volumes_dir, positive_int, table_source
from rad3d_hf.cli.usage import UsageError, writable_folder
from rad3d_hf.data.catalogue import SPLITS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from rad3d_hf.volumes.preprocess import DTYPES, FLOAT16_MAX_ERROR

    parser = subparsers.add_parser(
        "preprocess",
        help="preprocess every volume of a split once into .npy model inputs (volume_format='npy')",
        description=(
            "Decode and preprocess (M3DTransform) every CT volume the chosen config and split ask about, each once, in "
            "--workers processes, into OUT/<volume name>.npy with OUT/manifest.json (parameters, package version, "
            "per-volume source, size, mtime, shape, dtype, SHA-256). A rerun skips finished volumes after checking "
            "them; a manifest made with other settings is an error. Then use --volumes-dir OUT. --volumes-dir may be "
            "a URL (e.g. hf://datasets/ibrahimhamamci/CT-RATE/dataset/train_fixed, after hf auth login): only "
            "the volumes named are read, each once, streamed; nothing raw is stored locally."
        ),
    )
    parser.add_argument("--split", default="test", choices=list(SPLITS), help="split whose volumes (default: test)")
    parser.add_argument(
        "--config", default="all", help="dataset config whose questions name the volumes (default: all)"
    )
    add_table_source(parser)
    add_volumes_dir(parser)
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created; an earlier run resumes)")
    parser.add_argument(
        "--size", type=positive_int, nargs=3, default=(32, 256, 256), metavar=("D", "H", "W"),
        help="output size (default: M3D's 32 256 256)",
    )  # fmt: skip
    parser.add_argument(
        "--window", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
        help="HU window clipped before normalising, e.g. -1000 1000 (default: none, M3D's recipe)",
    )  # fmt: skip
    parser.add_argument(
        "--dtype", choices=DTYPES, default="float32",
        help=f"stored dtype: float32 (exact) or float16 (half the disk; absolute error <= {FLOAT16_MAX_ERROR:.6f})",
    )  # fmt: skip
    parser.add_argument("--workers", type=positive_int, default=None, help="worker processes (default: the CPU count)")
    parser.add_argument(
        "--on-error", choices=("error", "skip"), default="error",
        help="a missing or unreadable volume stops the run (error, default) or is recorded in the manifest (skip)",
    )  # fmt: skip
    parser.add_argument("--prior-volumes", action="store_true", help="also the patients' earlier scans")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def volume_names(data_dir: str | None, split: str, config: str, *, prior_volumes: bool) -> list[str]:
    """The volumes the split's questions name (and their earlier scans), each once, in first-question order."""
    from rad3d_hf.data.rows import read_rows

    names: dict[str, None] = {}
    for row in read_rows(data_dir, split, config):
        if prior_volumes:
            names.update(dict.fromkeys(row.get("prior_volume_names") or []))
        names[row["volume_name"]] = None
    return list(names)


def run(args: argparse.Namespace) -> int:
    from rad3d_hf.cli.usage import close_matches
    from rad3d_hf.data.catalogue import CONFIGS
    from rad3d_hf.transforms import M3DTransform
    from rad3d_hf.volumes.locator import VolumeLocator
    from rad3d_hf.volumes.preprocess import preprocess_volumes

    if args.config not in CONFIGS:
        raise UsageError(f"--config {args.config!r} is not a 3D-RAD config{close_matches(args.config, CONFIGS)}")
    data_dir = table_source(args)
    if args.volumes_dir is None and not args.demo:
        raise UsageError("--volumes-dir DIR is required (the folder holding the CT volumes), or --demo")
    if args.volumes_dir is None:
        volumes_dir = os.path.join(str(data_dir), "volumes")
    else:
        volumes_dir = checked_volumes_dir(args.volumes_dir)
    writable_folder(args.out, "--out")
    try:
        transform = M3DTransform(size=args.size, window=tuple(args.window) if args.window else None)
    except ValueError as error:
        raise UsageError(str(error)) from None
    names = volume_names(data_dir, args.split, args.config, prior_volumes=args.prior_volumes)
    locator = VolumeLocator(volumes_dir, args.volume_format)
    try:
        volume_format = locator.volume_format
    except (FileNotFoundError, ValueError) as error:
        raise UsageError(str(error)) from None
    except OSError as error:  # a URL whose server cannot be reached: name it, not the Hub
        raise UsageError(f"--volumes-dir {volumes_dir}: cannot list it ({error})") from None
    sources: dict[str, str] = {}
    missing: dict[str, str] = {}
    for name in names:
        path = locator.locate(name)
        if path is None:
            missing[name] = f"not found; looked for {locator.describe_search(name)}"
        else:
            sources[name] = path
    report = preprocess_volumes(
        sources,
        args.out,
        transform=transform,
        params=transform.params(),
        dtype=args.dtype,
        workers=args.workers,
        on_error=args.on_error,
        missing=missing,
        progress=not args.quiet,
        source_format=volume_format,
    )
    rate = len(report.written) / report.seconds if report.seconds and report.written else 0.0
    print(
        f"{args.out}: {len(report.written)} volumes written ({rate:.2f} volumes/s), {len(report.kept)} kept from an "
        f"earlier run (checked), {len(report.failed)} failed; {report.seconds:.1f} s"
    )
    if report.failed:
        first = next(iter(report.failed.items()))
        print(f"skipped {len(report.failed)} volumes (listed in manifest.json), e.g. {first[0]}: {first[1]}")
    return 0
