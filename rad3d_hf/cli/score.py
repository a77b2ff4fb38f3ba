"""``rad3d-hf score PREDICTIONS``: score a predictions file against a 3D-RAD split.

Prints the paper-layout table and writes into --out: report.json (the flat report), questions.jsonl (one line per
question: id, prediction, parsed answer, score: ROUGE-1 F for open questions, 1 or 0 for closed ones, and how the
answer was read), scores.png (scores with intervals and blind baselines, confusion matrices of Tasks 5/6) and
table.txt (the printed table). With --model-name, also results.json and details.parquet: the results record
(rad3d_hf.scoring.results_record) that rad3d-hf leaderboard reads, filled from the options and from
<predictions>.params.json where examples/predict.py wrote one.
"""

from __future__ import annotations

import argparse

from rad3d_hf.cli.judge_options import JUDGE_FILE, add_judge_options, judge_errors, judge_from_args, judge_table
from rad3d_hf.cli.results_files import add_record_options, write_record
from rad3d_hf.cli.scored_questions import add_scored_parser, read_scored_inputs
from rad3d_hf.scoring.report import FIGURE_FILE, QUESTIONS_FILE, REPORT_FILE, TABLE_FILE

__all__ = ["FIGURE_FILE", "QUESTIONS_FILE", "REPORT_FILE", "TABLE_FILE", "add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``rad3d-hf score``."""
    parser = add_scored_parser(
        subparsers,
        "score",
        doc=__doc__,
        summary="score a predictions file (JSONL or CSV, id + prediction) against a split",
        inputs={"predictions": 'predictions file: .jsonl ({"id", "prediction"} per line) or .csv'},
        config_help="dataset config(s) whose questions are expected, comma-separated",
        out_help="<predictions stem>_scores next to the file",
        bootstrap="bootstrap",
        cluster_help="what the bootstrap resamples: each patient's questions together (reconstructions and scans of "
        "one patient share reports and labels), or each CT volume's",
        figure_file=FIGURE_FILE,
        run=run,
        selection_options=_add_subset_option,
        metric_options=_add_metric_options,
    )
    add_record_options(parser)


def _add_subset_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-subset",
        action="store_true",
        help="score only the questions that have a prediction and report the coverage (default: missing ids are an error)",
    )


def _add_metric_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rouge-bootstrap-mid", action="store_true", help="also report evaluate rouge's default bootstrap 'mid'"
    )
    parser.add_argument("--meteor", action="store_true", help="also report METEOR (needs NLTK wordnet data locally)")
    parser.add_argument("--bertscore-model", default=None, help="local model folder: also report BERTScore F1")
    add_judge_options(parser)


def run(args: argparse.Namespace) -> int:
    """Score ``args.predictions`` and write the score folder; 0 on success."""
    from rad3d_hf.scoring import score_details
    from rad3d_hf.scoring.report import write_score_folder

    default_out = args.predictions.with_name(f"{args.predictions.stem}_scores")
    judge = judge_from_args(args)
    out, (joined,) = read_scored_inputs(args, [args.predictions], default_out, allow_subset=args.allow_subset)
    with judge_errors():
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
            judge=judge,
        )
    title = f"3D-RAD {args.split} ({args.predictions.name})"
    written = write_score_folder(result, out, title=title, figure=not args.no_figure)
    written += write_record(args, result, out, predictions=args.predictions)
    if judge is not None:
        (out / JUDGE_FILE).write_text(judge_table(result.metrics), encoding="utf-8")
        written.append(JUDGE_FILE)
    if not args.quiet:
        print((out / TABLE_FILE).read_text(encoding="utf-8"), end="")
        if judge is not None:
            print((out / JUDGE_FILE).read_text(encoding="utf-8"), end="")
    print(f"wrote {', '.join(written)} to {out}")
    return 0
