"""Where the commands read the QA tables and volumes from: the same options, spellings and checks everywhere.

``--data-dir DIR`` (a local folder or an fsspec URL), ``--demo`` (the built-in demo data, seeded by ``--demo-seed``;
``--seed`` in ``rad3d-hf demo`` stays as an alias) or, with neither, the Hub dataset. Mistakes are found before any
work starts: a local folder that does not exist or holds no ``train/``/``test/`` tables, a Hub that cannot be used
offline, an unknown config.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rad3d_hf.cli.usage import HUB_HINT, UsageError, close_matches, hub_offline
from rad3d_hf.data.catalogue import CONFIGS
from rad3d_hf.volumes.locator import FORMAT_CHOICES


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An argparse ``type``: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def add_demo_seed(parser: argparse.ArgumentParser, *aliases: str) -> None:
    """``--demo-seed N`` (plus hidden ``aliases``), the seed of the demo cohort."""
    parser.add_argument("--demo-seed", type=non_negative_int, default=0, help="seed of the demo data (default: 0)")
    for alias in aliases:
        parser.add_argument(alias, dest="demo_seed", type=non_negative_int, help=argparse.SUPPRESS)


def add_table_source(parser: argparse.ArgumentParser, *, exclusive: bool = False) -> None:
    """``--data-dir``, ``--demo`` and ``--demo-seed``."""
    group = parser.add_mutually_exclusive_group() if exclusive else parser
    group.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="folder or fsspec URL holding the train/ and test/ QA tables (default: the Hub dataset "
        "Tang-xiaoxiao/3D-RAD)",
    )
    group.add_argument("--demo", action="store_true", help="use the built-in demo data (generated locally)")
    add_demo_seed(parser)


def add_volumes_dir(parser: argparse.ArgumentParser) -> None:
    """``--volumes-dir`` (a folder, a ``.zip`` such as the published ``Images/test.zip``, or a URL) and
    ``--volume-format`` (``auto`` by default: what the folder holds)."""
    parser.add_argument(
        "--volumes-dir",
        default=None,
        metavar="DIR",
        help="the CT volumes, found by name at any depth: a folder, a .zip (the published Images/test.zip) or a URL",
    )
    parser.add_argument("--volumes_dir", dest="volumes_dir", help=argparse.SUPPRESS)
    parser.add_argument(
        "--volume-format",
        default="auto",
        choices=FORMAT_CHOICES,
        help="nifti (.nii.gz/.nii), npy (preprocessed arrays) or auto (default: the format --volumes-dir holds)",
    )


def checked_volumes_dir(path: str, option: str = "--volumes-dir") -> str:
    """A local folder or ``.zip`` archive that exists (URLs pass unchecked: their reader reports them)."""
    if not _is_url(path) and path.lower().endswith(".zip") and Path(path).expanduser().is_file():
        return os.fspath(Path(path).expanduser())
    return checked_folder(path, option, what="the CT volumes (or pass the .zip archive itself)")


def _is_url(path: str) -> bool:
    return "://" in path


def checked_folder(path: str, option: str, *, what: str) -> str:
    """A local ``path`` that must be an existing folder; URLs pass unchecked (their reader reports them)."""
    if _is_url(path):
        return path
    folder = Path(path).expanduser()
    if not folder.exists():
        raise UsageError(f"{option} {path}: no such folder; pass the folder that holds {what}")
    if not folder.is_dir():
        raise UsageError(f"{option} {path} is a file; pass the folder that holds {what}")
    return os.fspath(folder)


def table_source(args: argparse.Namespace, *, need_tables: bool = True) -> str | None:
    """The data_dir to read: the demo folder, a checked ``--data-dir``, or None for the Hub (checked reachable)."""
    if getattr(args, "demo", False):
        from rad3d_hf.demo import ensure_demo_data

        return str(ensure_demo_data(seed=getattr(args, "demo_seed", 0)))
    data_dir = getattr(args, "data_dir", None)
    if data_dir is not None:
        checked = checked_folder(data_dir, "--data-dir", what="the 3D-RAD train/ and test/ QA tables")
        if not _is_url(checked) and not any((Path(checked) / split).is_dir() for split in ("train", "test")):
            raise UsageError(
                f"--data-dir {data_dir} holds no train/ or test/ folder of QA tables; pass the folder of the "
                f"published 3D-RAD tables, or --demo"
            )
        return checked
    if need_tables and hub_offline():
        raise UsageError(f"no --data-dir given and the Hub is offline (HF_HUB_OFFLINE is set): {HUB_HINT}")
    return None


def config_names(text: str) -> list[str]:
    """Comma-separated config names, each one checked against the catalogue (argparse ``type``)."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("no config named; e.g. all, task4 or task4_lung_nodule")
    for name in names:
        if name not in CONFIGS:
            raise argparse.ArgumentTypeError(f"unknown config {name!r}{close_matches(name, CONFIGS)}; {CONFIG_HINT}")
    return names


CONFIG_HINT = "configs are all, task1..task6 and task<N>_<subtask> such as task4_lung_nodule (`rad3d-hf tasks --configs` lists all)"


__all__ = [
    "CONFIG_HINT",
    "add_demo_seed",
    "add_table_source",
    "add_volumes_dir",
    "checked_folder",
    "checked_volumes_dir",
    "config_names",
    "non_negative_int",
    "positive_int",
    "table_source",
]
