"""``rad3d-hf leaderboard RESULTS... --out DIR``: results records side by side, as one HTML page and a Markdown table.

Each RESULTS is a results.json or the folder holding it (written by rad3d_hf.scoring.results_record.write_results,
with details.parquet beside it). Writes into --out:

  leaderboard.html  one self-contained page (no network): every record, the blind baselines and the 3D-RAD paper's
                    reported numbers (official scoring, no interval), each value with its 95% interval; sortable by
                    any column (?sort=task4&dir=desc&view=official in the URL does the same); how each model saw the
                    CT; a figure per task; paired differences of records scored on the same questions
  leaderboard.md    the table for a model card (the headline metrics)
  leaderboard.json  the data the page shows

Records scored on different questions or by different rad3d-hf versions are flagged, never mixed: each row shows its
question set, and two records are compared pairwise only on the tasks whose questions they share.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rad3d_hf.cli.usage import UsageError, help_text, writable_folder

PAGE_FILE = "leaderboard.html"
MARKDOWN_FILE = "leaderboard.md"
DATA_FILE = "leaderboard.json"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from rad3d_hf.cli.sources import non_negative_int
    from rad3d_hf.scoring.statistics import DEFAULT_RESAMPLES, DEFAULT_SEED

    parser = subparsers.add_parser(
        "leaderboard",
        help="results records side by side: one HTML page (sortable, intervals, paired differences) and a Markdown table",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("results", nargs="+", type=Path, help="results.json files or the folders holding them")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the page and the table into")
    parser.add_argument("--title", default="3D-RAD leaderboard", help="the page's title")
    parser.add_argument("--no-published", action="store_true", help="leave out the paper's reported numbers")
    parser.add_argument(
        "--resamples",
        type=non_negative_int,
        default=DEFAULT_RESAMPLES,
        help=f"paired bootstrap resamples (default: {DEFAULT_RESAMPLES}; 0 leaves the differences' intervals out)",
    )
    parser.add_argument("--seed", type=non_negative_int, default=DEFAULT_SEED, help="paired bootstrap seed")
    parser.set_defaults(func=run)


def load_entries(paths: list[Path]) -> list:
    """Each path's record (checked) and, when beside it, its details rows."""
    from rad3d_hf.scoring.leaderboard import Entry
    from rad3d_hf.scoring.results_record import (
        DETAILS_FILE,
        questions_digest,
        read_details,
        read_results,
        results_path,
    )

    entries = []
    seen: dict[Path, Path] = {}
    for path in paths:
        file = results_path(path)
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder (pass a results.json or its folder)")
        if not file.is_file():
            raise UsageError(f"{path} holds no results.json; pass the folder `write_results` wrote")
        if file.resolve() in seen:
            raise UsageError(f"{path} is given twice (also as {seen[file.resolve()]})")
        seen[file.resolve()] = path
        record = read_results(file)
        details = read_details(file) if (file.parent / DETAILS_FILE).is_file() else None
        if details is not None and questions_digest(details) != record["questions_digest"]:
            raise UsageError(f"{file.parent / DETAILS_FILE} does not hold the questions {file} was scored on")
        entries.append(Entry(str(path), record, details))
    return entries


def run(args: argparse.Namespace) -> int:
    from rad3d_hf.scoring.leaderboard import leaderboard_data, leaderboard_markdown, render_page

    out = writable_folder(args.out, "--out")
    entries = load_entries(args.results)
    data = leaderboard_data(
        entries,
        include_published=not args.no_published,
        seed=args.seed,
        n_resamples=args.resamples,
        title=args.title,
    )
    (out / PAGE_FILE).write_text(render_page(data), encoding="utf-8")
    (out / MARKDOWN_FILE).write_text(leaderboard_markdown(data), encoding="utf-8")
    (out / DATA_FILE).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {PAGE_FILE}, {MARKDOWN_FILE}, {DATA_FILE} to {out} ({len(entries)} records)")
    return 0


__all__ = ["DATA_FILE", "MARKDOWN_FILE", "PAGE_FILE", "add_parser", "load_entries", "run"]
