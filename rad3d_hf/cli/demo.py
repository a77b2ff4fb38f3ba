"""``rad3d-hf demo``: write the built-in demo data (synthetic phantoms and QA tables) and print where it is."""

from __future__ import annotations

import argparse
from typing import Any


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
    parser.add_argument("--seed", type=int, default=0, help="seed of the cohort (default: 0)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from rad3d_hf.demo import ensure_demo_data

    print(ensure_demo_data(args.out, seed=args.seed))
    return 0
