"""``rad3d-hf verify``: check a downloaded copy of the published 3D-RAD release against what was published.

The tables: the 41 test and 51 train files (none absent, none with a header but no rows), the questions per paper
task and split, the distinct volumes they name. With ``--volumes-dir`` (the published ``Images/test.zip`` or a
folder): every volume the tables name is there exactly once, and each one (or a ``--sample`` of them) has the
published shape, dtype and value range and holds only finite values. Prints a table; exit status 0 when everything
matches, 1 on any mismatch (listed), 2 on a usage mistake.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rad3d_hf.cli.sources import (
    add_table_source,
    add_volumes_dir,
    checked_volumes_dir,
    non_negative_int,
    positive_int,
    table_source,
)
from rad3d_hf.cli.usage import UsageError, help_text, writable_file

if TYPE_CHECKING:  # imported when used: building the parser stays light
    from rad3d_hf.data.release_check import SheetVolume, Verification

SHEET_VOLUMES = 4  # volumes on the contact sheet: the first of the sample
PRINTED_MISMATCHES = 40  # the JSON keeps them all
HU_WINDOW = (-1000.0, 600.0)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "verify",
        help="check a downloaded copy of the 3D-RAD release (tables, and with --volumes-dir its arrays)",
        description=help_text(__doc__),
    )
    add_table_source(parser, exclusive=True)
    add_volumes_dir(parser)
    parser.add_argument("--sample", type=positive_int, default=None, metavar="N", help="read N volumes, not all")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed drawing the --sample (default: 0)")
    parser.add_argument(
        "--contact-sheet", default=None, metavar="PNG",
        help=f"draw the first, middle and last axial slice of up to {SHEET_VOLUMES} volumes of the sample",
    )  # fmt: skip
    parser.add_argument("--json", default=None, metavar="PATH", help="write the whole result as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
    return parser


def verify_tables(data_dir: str) -> tuple[Verification, dict[str, set[str]]]:
    """The table checks (files, questions, volumes named) and the volume stems each split's tables name."""
    from rad3d_hf.cli.tasks import count_questions
    from rad3d_hf.data.release_check import (
        Verification,
        check_questions,
        check_table_files,
        check_table_volumes,
        table_volumes,
    )
    from rad3d_hf.data.tables import QATableError

    result = Verification()
    check_table_files(data_dir, result)
    try:
        counts = count_questions(data_dir)
        stems = table_volumes(data_dir)
    except QATableError as error:  # a damaged table is a finding about the copy; the error names file and line
        result.add("tables readable", None, "no", problems=[str(error)])
        return result, {}
    check_questions(counts, result)
    check_table_volumes(stems, result)
    return result, stems


def _progress(quiet: bool) -> Callable[[list[str]], Iterable[str]] | None:
    """A tqdm bar (rate, ETA) on stderr over the volumes read, or None."""
    if quiet:
        return None
    from tqdm import tqdm

    def wrap(names: list[str]) -> Iterable[str]:
        return tqdm(names, desc="reading volumes", unit="vol", file=sys.stderr, dynamic_ncols=True)

    return wrap


def _cell(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else "-" if value is None else str(value)


def format_report(result: Verification, data_dir: str, volumes_dir: str | None) -> str:
    """The checks as a table, then either the all-clear or the mismatches."""
    lines = [f"3D-RAD release check: tables {data_dir}"]
    if volumes_dir is not None:
        lines.append(f"volumes {volumes_dir} ({result.volume_format or 'not listed'})")
    rows = [("check", "expected", "found", "status")]
    rows += [(c.name, _cell(c.expected), _cell(c.found), c.status) for c in result.checks]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines += [f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}" for r in rows]
    if result.ok:
        lines.append(f"all {len(result.checks)} checks match the published release")
        return "\n".join(lines)
    lines.append(f"{len(result.mismatches)} mismatch(es) with the published release:")
    lines += [f"  - {line}" for line in result.mismatches[:PRINTED_MISMATCHES]]
    if len(result.mismatches) > PRINTED_MISMATCHES:
        lines.append(f"  ... and {len(result.mismatches) - PRINTED_MISMATCHES} more (--json PATH writes them all)")
    return "\n".join(lines)


def draw_contact_sheet(sheet: list[SheetVolume], out: Path) -> None:
    """One row per volume: its first, middle and last axial slice in grey on a fixed scale, labelled."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from rad3d_hf.atomic_files import write_bytes_atomically
    from rad3d_hf.data.release_check import NIFTI_ORIENTATION, NPY_ORIENTATION

    nifti = sheet[0].format == "nifti"
    columns = max(len(volume.slices) for volume in sheet)
    figure = Figure(figsize=(3.0 * columns, 3.2 * len(sheet) + 0.9))
    FigureCanvasAgg(figure)
    # A fixed scale, not each image's own range: a badly scaled array must look wrong.
    low, high = HU_WINDOW if nifti else (0.0, 1.0)
    for row, volume in enumerate(sheet):
        for column, (index, image) in enumerate(volume.slices):
            axes = figure.add_subplot(len(sheet), columns, row * columns + column + 1)
            axes.imshow(image, cmap="gray", vmin=low, vmax=high, interpolation="nearest")
            axes.set_title(f"{volume.name}\nslice {index} (0..{volume.depth - 1})", fontsize=8)
            axes.set_axis_off()
    scale = f"slice 0 at the head; grey: HU window {low:g}..{high:g}" if nifti else "grey: fixed [0, 1] scale"
    figure.suptitle(f"{NIFTI_ORIENTATION if nifti else NPY_ORIENTATION}\n{scale}", fontsize=9)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    write_bytes_atomically(out, buffer.getvalue())


def run(args: argparse.Namespace) -> int:
    from rad3d_hf.atomic_files import write_text_atomically
    from rad3d_hf.data.release_check import check_volumes
    from rad3d_hf.volumes.locator import VolumeLocator

    if not args.demo and args.data_dir is None:
        raise UsageError("verify checks a copy of the tables: pass --data-dir DIR (holding train/ and test/) or --demo")
    if args.contact_sheet is not None and args.volumes_dir is None:
        raise UsageError("--contact-sheet draws volumes: pass --volumes-dir too")
    # Outputs are checked before any work, so a typo does not cost a pass over the archive.
    sheet_out = writable_file(args.contact_sheet, "--contact-sheet") if args.contact_sheet else None
    json_out = writable_file(args.json, "--json") if args.json else None
    volumes_dir = checked_volumes_dir(args.volumes_dir) if args.volumes_dir is not None else None
    data_dir = str(table_source(args))
    result, stems = verify_tables(data_dir)
    if volumes_dir is not None:
        check_volumes(
            VolumeLocator(volumes_dir, args.volume_format), stems, result, sample=args.sample, seed=args.seed,
            sheet=SHEET_VOLUMES if sheet_out else 0, progress=_progress(args.quiet),
        )  # fmt: skip
    print(format_report(result, data_dir, volumes_dir))
    if sheet_out is not None:
        if result.sheet:
            draw_contact_sheet(result.sheet, sheet_out)
            print(f"contact sheet: {sheet_out}")
        else:
            print("contact sheet: not written (no volume could be read)")
    if json_out is not None:
        document = {"data_dir": data_dir, "volumes_dir": volumes_dir, **result.as_dict()}
        write_text_atomically(json_out, json.dumps(document, indent=2) + "\n")
        print(f"JSON: {json_out}")
    return 0 if result.ok else 1
