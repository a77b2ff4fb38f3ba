"""``rad3d-hf score PREDICTIONS``: score a predictions file against a 3D-RAD split.

Prints the paper-layout table and writes into --out: report.json (the flat report), questions.jsonl (one line per
question: id, prediction, parsed answer, score: ROUGE-1 F for open questions, 1 or 0 for closed ones, and how the
answer was read), scores.png (scores with intervals and blind baselines, confusion matrices of Tasks 5/6) and
table.txt (the printed table).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rad3d_hf.cli.scored_questions import (
    add_bootstrap_options,
    add_question_options,
    check_predictions_file,
    expected_rows,
)
from rad3d_hf.cli.sources import table_source
from rad3d_hf.cli.usage import UsageError, help_text, writable_folder
from rad3d_hf.scoring.report import FIGURE_FILE, QUESTIONS_FILE, REPORT_FILE, TABLE_FILE

__all__ = ["FIGURE_FILE", "QUESTIONS_FILE", "REPORT_FILE", "TABLE_FILE", "add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score a predictions file (JSONL or CSV, id + prediction) against a split",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "predictions", type=Path, help='predictions file: .jsonl ({"id", "prediction"} per line) or .csv'
    )
    add_question_options(parser, config_help="dataset config(s) whose questions are expected, comma-separated")
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default: <predictions stem>_scores next to the file)"
    )
    parser.add_argument(
        "--allow-subset",
        action="store_true",
        help="score only the questions that have a prediction and report the coverage (default: missing ids are an error)",
    )
    add_bootstrap_options(
        parser,
        what="bootstrap",
        cluster_help="what the bootstrap resamples: each patient's questions together (reconstructions and scans of "
        "one patient share reports and labels), or each CT volume's",
    )
    parser.add_argument(
        "--rouge-bootstrap-mid", action="store_true", help="also report evaluate rouge's default bootstrap 'mid'"
    )
    parser.add_argument("--meteor", action="store_true", help="also report METEOR (needs NLTK wordnet data locally)")
    parser.add_argument("--bertscore-model", default=None, help="local model folder: also report BERTScore F1")
    parser.add_argument("--no-figure", action="store_true", help="do not draw scores.png")
    parser.add_argument("--quiet", action="store_true", help="do not print the table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rad3d_hf.scoring import score_details
    from rad3d_hf.scoring.predictions import join_predictions, read_predictions
    from rad3d_hf.scoring.report import write_score_folder

    check_predictions_file(args.predictions)
    out = args.out or args.predictions.with_name(f"{args.predictions.stem}_scores")
    writable_folder(out, "--out")  # before any work: a wrong --out should not cost the scoring
    data_dir = table_source(args)
    predictions = read_predictions(args.predictions)
    rows = expected_rows(data_dir, args.split, args.config)
    joined = join_predictions(predictions, rows, allow_subset=args.allow_subset, source=str(args.predictions))
    if not joined.rows:
        raise UsageError(f"{args.predictions} holds no predictions")
    result = score_details(
        joined.predictions,
        joined.rows,
        seed=args.seed,
        n_resamples=args.resamples,
        cluster_by=args.cluster_by,
        rouge_bootstrap_mid=args.rouge_bootstrap_mid,
        meteor=args.meteor,
        bertscore_model=args.bertscore_model,
        n_expected=joined.n_expected if joined.missing_ids else None,
    )
    title = f"3D-RAD {args.split} ({args.predictions.name})"
    written = write_score_folder(result, out, title=title, figure=not args.no_figure)
    if not args.quiet:
        print((out / TABLE_FILE).read_text(encoding="utf-8"), end="")
    print(f"wrote {', '.join(written)} to {out}")
    return 0
