"""``rad3d-hf demo``: write the built-in demo data (synthetic phantoms and QA tables) and print where it is."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rad3d_hf.cli.sources import add_demo_seed
from rad3d_hf.cli.usage import UsageError, writable_folder


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "demo",
        help="write the built-in synthetic demo data and print its folder",
        description=(
            "Generate the demo source (synthetic chest-CT phantoms as .nii.gz plus QA tables in the official "
            "3D-RAD CSV layout) or reuse a complete copy, then print its folder. No download."
        ),
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="folder to write (default: $HF_HOME/rad3d_hf/demo/v<version>-seed<N>)",
    )
    add_demo_seed(parser, "--seed")  # --seed: the spelling of earlier releases
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from rad3d_hf.demo import ensure_demo_data

    if args.out is not None:
        writable_folder(Path(args.out).expanduser().parent, "--out", of_file=Path(args.out))
        if Path(args.out).exists() and not Path(args.out).is_dir():
            raise UsageError(f"--out {args.out} is a file; --out names the folder to write the demo data into")
    print(ensure_demo_data(args.out, seed=args.demo_seed))
    return 0
