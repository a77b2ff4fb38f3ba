"""``rad3d-hf compare A B``: paired comparison of two prediction files on the same questions of a 3D-RAD split.

Both files must answer the same questions. For every task and subtask it prints A, B, A - B, the 95% interval of
A - B and its p-value, from a paired bootstrap that resamples patients (or CT volumes, --cluster-by volume) and
recomputes both models' metrics on the same draws; seeded (--seed), and the seed is recorded. Writes into --out:
comparison.json (the flat result), comparison.txt (the printed table) and comparison.png (a forest plot of A - B).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from rad3d_hf.cli.scored_questions import (
    add_bootstrap_options,
    add_question_options,
    check_predictions_file,
    expected_rows,
)
from rad3d_hf.cli.sources import table_source
from rad3d_hf.cli.usage import UsageError, help_text, writable_folder

RESULT_FILE = "comparison.json"
TABLE_FILE = "comparison.txt"
FIGURE_FILE = "comparison.png"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="paired comparison of two predictions files on the same questions (difference, 95% CI, p-value)",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("a", type=Path, help="predictions file of model A (.jsonl or .csv)")
    parser.add_argument("b", type=Path, help="predictions file of model B, answering the same questions")
    add_question_options(parser, config_help="dataset config(s) the questions come from, comma-separated")
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default: <A stem>_vs_<B stem> next to A)"
    )
    add_bootstrap_options(parser, what="paired bootstrap", cluster_help="what the bootstrap resamples together")
    parser.add_argument("--no-figure", action="store_true", help="do not draw comparison.png")
    parser.add_argument("--quiet", action="store_true", help="do not print the table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rad3d_hf.scoring.paired_comparison import compare
    from rad3d_hf.scoring.paired_comparison_report import format_comparison, plot_comparison
    from rad3d_hf.scoring.predictions import join_predictions, read_predictions

    for path in (args.a, args.b):
        check_predictions_file(path)
    out = args.out or args.a.with_name(f"{args.a.stem}_vs_{args.b.stem}")
    writable_folder(out, "--out")
    data_dir = table_source(args)
    predictions_a, predictions_b = read_predictions(args.a), read_predictions(args.b)
    rows = expected_rows(data_dir, args.split, args.config)
    joined_a = join_predictions(predictions_a, rows, allow_subset=True, source=str(args.a))
    joined_b = join_predictions(predictions_b, rows, allow_subset=True, source=str(args.b))
    ids_a = [row["id"] for row in joined_a.rows]
    ids_b = {row["id"] for row in joined_b.rows}
    if not ids_a:
        raise UsageError(f"{args.a} holds no predictions")
    only = sorted(set(ids_a) ^ ids_b)
    if only:
        shown = ", ".join(only[:5]) + (f" and {len(only) - 5} more" if len(only) > 5 else "")
        raise UsageError(f"{args.a} and {args.b} must answer the same questions; {len(only)} differ: {shown}")
    by_id_b = dict(zip((row["id"] for row in joined_b.rows), joined_b.predictions))
    result = compare(
        joined_a.predictions,
        [by_id_b[i] for i in ids_a],
        joined_a.rows,
        seed=args.seed,
        n_resamples=args.resamples,
        cluster_by=args.cluster_by,
    )
    out.mkdir(parents=True, exist_ok=True)
    table = format_comparison(result, args.a.name, args.b.name)
    record = {key: None if isinstance(v, float) and math.isnan(v) else v for key, v in result.items()}
    record.update(a=str(args.a), b=str(args.b), split=args.split)
    (out / RESULT_FILE).write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / TABLE_FILE).write_text(table + "\n", encoding="utf-8")
    written = [RESULT_FILE, TABLE_FILE]
    if not args.no_figure:
        plot_comparison(result, out / FIGURE_FILE, args.a.name, args.b.name)
        written.append(FIGURE_FILE)
    if not args.quiet:
        print(table)
    print(f"wrote {', '.join(written)} to {out}")
    return 0
