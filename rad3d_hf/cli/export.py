"""``rad3d-hf export``: write the Hub-ready 3D-RAD folder (Parquet shards, dataset card, ``.gitattributes``)."""

from __future__ import annotations

import argparse
import logging

from rad3d_hf.cli.sources import add_table_source, add_volumes_dir, checked_volumes_dir, config_names, table_source
from rad3d_hf.cli.usage import UsageError, writable_folder
from rad3d_hf.data.catalogue import SPLITS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write a Hub-ready dataset folder that plain `datasets` loads",
        description=(
            "Write Parquet shards for every config and split, the dataset card (README.md with the YAML configs "
            "block) and .gitattributes. With --volumes-dir the folder also holds each CT volume once, as a lazy "
            "NIfTI column. An interrupted export resumes when run again with the same arguments."
        ),
    )
    parser.add_argument("--out", required=True, help="folder to write (created; an unfinished export there resumes)")
    add_table_source(parser)
    add_volumes_dir(parser)
    parser.add_argument(
        "--embed-volumes", action="store_true", help="copy each volume into the folder once (else link to it)"
    )
    parser.add_argument("--qa-only", action="store_true", help="leave the volumes out (also those of --demo)")
    parser.add_argument(
        "--configs", nargs="+", metavar="CONFIG", type=config_names, help="configs to export (default: all)"
    )
    parser.add_argument("--splits", nargs="+", choices=list(SPLITS), help="splits to export (default: those present)")
    parser.add_argument(
        "--missing-volumes",
        choices=("error", "skip"),
        default="error",
        help="a question whose volume is absent stops the export (error, default) or is left out and counted (skip)",
    )
    parser.add_argument("--overwrite", action="store_true", help="delete a previous export in --out first")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rad3d_hf.hub.export import ExportConflictError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.qa_only and args.embed_volumes:
        raise UsageError("--qa-only and --embed-volumes exclude each other: drop one")
    if args.embed_volumes and not (args.volumes_dir or args.demo):
        raise UsageError("--embed-volumes needs the volumes: pass --volumes-dir DIR (or --demo)")
    writable_folder(args.out, "--out")
    volumes_dir = checked_volumes_dir(args.volumes_dir) if args.volumes_dir else None
    if volumes_dir is not None:
        _check_nifti(volumes_dir, args.volume_format)
    # The demo's folder is resolved inside export_dataset (it also brings the volumes); a --data-dir is checked here.
    data_dir = None if args.demo else table_source(args)
    configs = [name for names in args.configs for name in names] if args.configs else None
    try:
        report = _export(args, data_dir, volumes_dir, configs)
    except ExportConflictError as error:
        raise UsageError(f"{error}; rerun the same command to resume, or pass --overwrite") from None

    counts = ", ".join(f"{split} {n:,} questions" for split, n in report.questions.items())
    print(f"wrote {report.out_dir}: {len(report.configs)} configs, {counts}")
    print(f"shards: {report.shards_written} written, {report.shards_kept} kept from an earlier run")
    print(f"QA tables: {report.qa_bytes / 1e6:,.2f} MB", end="")
    if report.layout == "volumes":
        volumes = ", ".join(f"{split} {n:,}" for split, n in report.volumes.items())
        how = "embedded" if args.embed_volumes else "linked"
        print(f"; volumes ({how}, each once): {volumes} files, {report.volume_bytes / 1e6:,.2f} MB", end="")
        print(f" (once per question: {report.volume_bytes_per_question / 1e6:,.2f} MB)", end="")
    if report.skipped_questions:
        print(f"; {report.skipped_questions:,} questions left out (volume not found)", end="")
    print(f"; {report.seconds:.1f} s")
    return 0


def _check_nifti(volumes_dir: str, volume_format: str) -> None:
    """An export links or copies NIfTI files (datasets' niftifolder): a folder of .npy arrays is a usage mistake."""
    from rad3d_hf.volumes.locator import VolumeLocator

    if volume_format == "npy":
        raise UsageError("--volume-format npy: an export holds NIfTI volumes (datasets' niftifolder); use --qa-only")
    if volume_format == "auto":
        try:
            found = VolumeLocator(volumes_dir).volume_format
        except (FileNotFoundError, ValueError) as error:
            raise UsageError(str(error)) from None
        if found == "npy":
            raise UsageError(
                f"--volumes-dir {volumes_dir} holds .npy arrays; an export holds NIfTI volumes (datasets' "
                "niftifolder): pass the NIfTI volumes, or --qa-only"
            )


def _export(args: argparse.Namespace, data_dir: str | None, volumes_dir: str | None, configs: list[str] | None):
    from rad3d_hf.hub.export import export_dataset

    return export_dataset(
        args.out,
        data_dir=data_dir,
        volumes_dir=volumes_dir,
        embed_volumes=args.embed_volumes,
        configs=configs,
        splits=args.splits,
        missing_volumes=args.missing_volumes,
        demo=args.demo,
        demo_seed=args.demo_seed,
        qa_only=args.qa_only,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
