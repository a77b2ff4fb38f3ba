"""``rad3d-hf score PREDICTIONS``: score a predictions file against a 3D-RAD split.

Prints the paper-layout table and writes into --out: report.json (the flat report), questions.jsonl (one line per
question: id, prediction, parsed answer, score: ROUGE-1 F for open questions, 1 or 0 for closed ones, and how the
answer was read), scores.png (scores with intervals and blind baselines, confusion matrices of Tasks 5/6) and
table.txt (the printed table).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rad3d_hf.cli.sources import add_table_source, config_names, non_negative_int, table_source
from rad3d_hf.cli.usage import UsageError, one_line, writable_folder
from rad3d_hf.scoring.report import FIGURE_FILE, QUESTIONS_FILE, REPORT_FILE, TABLE_FILE

__all__ = ["FIGURE_FILE", "QUESTIONS_FILE", "REPORT_FILE", "TABLE_FILE", "add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from rad3d_hf.scoring.statistics import CLUSTER_BY, DEFAULT_CLUSTER_BY, DEFAULT_RESAMPLES, DEFAULT_SEED

    parser = subparsers.add_parser(
        "score",
        help="score a predictions file (JSONL or CSV, id + prediction) against a split",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "predictions", type=Path, help='predictions file: .jsonl ({"id", "prediction"} per line) or .csv'
    )
    parser.add_argument(
        "--split", default="test", choices=("train", "test"), help="split the ids belong to (default: test)"
    )
    add_table_source(parser)
    parser.add_argument(
        "--config",
        default=["all"],
        type=config_names,
        help="dataset config(s) whose questions are expected, comma-separated (default: all)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default: <predictions stem>_scores next to the file)"
    )
    parser.add_argument(
        "--allow-subset",
        action="store_true",
        help="score only the questions that have a prediction and report the coverage (default: missing ids are an error)",
    )
    parser.add_argument(
        "--seed", type=non_negative_int, default=DEFAULT_SEED, help=f"bootstrap seed (default: {DEFAULT_SEED})"
    )
    parser.add_argument(
        "--resamples",
        type=non_negative_int,
        default=DEFAULT_RESAMPLES,
        help=f"bootstrap resamples (default: {DEFAULT_RESAMPLES})",
    )
    parser.add_argument(
        "--cluster-by",
        choices=CLUSTER_BY,
        default=DEFAULT_CLUSTER_BY,
        help="what the bootstrap resamples: each patient's questions together (default: reconstructions and scans of "
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


def _expected_rows(data_dir: str | None, split: str, configs: list[str]) -> list[dict]:
    from rad3d_hf.qa_tables import read_rows

    rows: dict[str, dict] = {}
    for config in configs:
        for row in read_rows(data_dir, split, config):
            rows.setdefault(row["id"], row)
    return list(rows.values())


def run(args: argparse.Namespace) -> int:
    from rad3d_hf.scoring import score_details
    from rad3d_hf.scoring.predictions import PredictionsError, join_predictions, read_predictions
    from rad3d_hf.scoring.report import write_score_folder

    if args.predictions.is_dir():
        raise UsageError(f"{args.predictions} is a folder; pass the predictions file (.jsonl or .csv) inside it")
    if not args.predictions.is_file():
        raise UsageError(f"predictions file {args.predictions} not found")
    out = args.out or args.predictions.with_name(f"{args.predictions.stem}_scores")
    writable_folder(out, "--out")  # before any work: a wrong --out should not cost the scoring
    data_dir = table_source(args)
    predictions = read_predictions(args.predictions)
    try:
        rows = _expected_rows(data_dir, args.split, args.config)
    except (FileNotFoundError, ValueError) as error:
        if isinstance(error, PredictionsError):
            raise
        where = data_dir or "the Hub dataset Tang-xiaoxiao/3D-RAD"
        raise UsageError(f"cannot read the {args.split} QA tables from {where}: {one_line(error)}") from error
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
