"""``rad3d-hf score PREDICTIONS``: score a predictions file against a 3D-RAD split.

Prints the paper-layout table and writes into ``--out``: ``report.json`` (the flat report), ``questions.jsonl`` (one
line per question: id, prediction, parsed answer, score: ROUGE-1 F for open questions, 1 or 0 for closed ones,
and how the answer was read), ``scores.png`` (scores with intervals and baselines,
confusion matrices of Tasks 5/6) and ``table.txt`` (the printed table).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPORT_FILE = "report.json"
QUESTIONS_FILE = "questions.jsonl"
FIGURE_FILE = "scores.png"
TABLE_FILE = "table.txt"


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from rad3d_hf.scoring.statistics import CLUSTER_BY, DEFAULT_RESAMPLES, DEFAULT_SEED

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
    parser.add_argument(
        "--data-dir",
        default=None,
        help="folder or fsspec URL holding the QA tables (default: the Hub dataset Tang-xiaoxiao/3D-RAD)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="score against the built-in demo source (generated locally; overrides --data-dir)",
    )
    parser.add_argument(
        "--config",
        default="all",
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
        "--seed", type=_non_negative_int, default=DEFAULT_SEED, help=f"bootstrap seed (default: {DEFAULT_SEED})"
    )
    parser.add_argument(
        "--resamples",
        type=_non_negative_int,
        default=DEFAULT_RESAMPLES,
        help=f"bootstrap resamples (default: {DEFAULT_RESAMPLES})",
    )
    parser.add_argument(
        "--cluster-by",
        choices=CLUSTER_BY,
        default="volume",
        help="what the bootstrap resamples: each CT volume's questions together (default), or each patient's",
    )
    parser.add_argument(
        "--rouge-bootstrap-mid", action="store_true", help="also report evaluate rouge's default bootstrap 'mid'"
    )
    parser.add_argument("--meteor", action="store_true", help="also report METEOR (needs NLTK wordnet data locally)")
    parser.add_argument("--bertscore-model", default=None, help="local model folder: also report BERTScore F1")
    parser.add_argument("--no-figure", action="store_true", help="do not draw scores.png")
    parser.add_argument("--quiet", action="store_true", help="do not print the table")
    parser.set_defaults(func=run)


def _expected_rows(data_dir: str | None, split: str, configs: str) -> list[dict]:
    from rad3d_hf.qa_tables import read_rows

    rows: dict[str, dict] = {}
    for config in (c.strip() for c in configs.split(",") if c.strip()):
        for row in read_rows(data_dir, split, config):
            rows.setdefault(row["id"], row)
    return list(rows.values())


def run(args: argparse.Namespace) -> int:
    from rad3d_hf.scoring import score_details
    from rad3d_hf.scoring.predictions import PredictionsError, join_predictions, read_predictions
    from rad3d_hf.scoring.report import format_table, write_question_log, write_report

    if args.demo:
        from rad3d_hf.demo import ensure_demo_data

        args.data_dir = str(ensure_demo_data())
    try:
        predictions = read_predictions(args.predictions)
    except PredictionsError as error:
        print(f"rad3d-hf score: {error}", file=sys.stderr)
        return 2
    try:
        rows = _expected_rows(args.data_dir, args.split, args.config)
    except (OSError, ValueError, KeyError) as error:
        where = args.data_dir or "the default source (the Hub dataset Tang-xiaoxiao/3D-RAD)"
        print(f"rad3d-hf score: cannot read the {args.split} QA tables from {where}: {error}", file=sys.stderr)
        return 2
    try:
        joined = join_predictions(predictions, rows, allow_subset=args.allow_subset, source=str(args.predictions))
    except PredictionsError as error:
        print(f"rad3d-hf score: {error}", file=sys.stderr)
        return 2
    if not joined.rows:
        print(f"rad3d-hf score: {args.predictions} holds no predictions", file=sys.stderr)
        return 2
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
    out = args.out or args.predictions.with_name(f"{args.predictions.stem}_scores")
    out.mkdir(parents=True, exist_ok=True)
    table = format_table(result.metrics, title=f"3D-RAD {args.split} ({args.predictions.name})")
    write_report(out / REPORT_FILE, result.metrics)
    write_question_log(out / QUESTIONS_FILE, result.questions)
    (out / TABLE_FILE).write_text(table + "\n", encoding="utf-8")
    written = [REPORT_FILE, QUESTIONS_FILE, TABLE_FILE]
    if not args.no_figure:
        from rad3d_hf.scoring.figure import plot_report

        plot_report(result.metrics, out / FIGURE_FILE)
        written.append(FIGURE_FILE)
    if not args.quiet:
        print(table)
    print(f"wrote {', '.join(written)} to {out}")
    return 0
