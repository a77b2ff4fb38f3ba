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

from rad3d_hf.cli.scored_questions import add_scored_parser, read_scored_inputs
from rad3d_hf.cli.usage import UsageError

RESULT_FILE = "comparison.json"
TABLE_FILE = "comparison.txt"
FIGURE_FILE = "comparison.png"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``rad3d-hf compare``."""
    add_scored_parser(
        subparsers,
        "compare",
        doc=__doc__,
        summary="paired comparison of two predictions files on the same questions (difference, 95%% CI, p-value)",
        inputs={
            "a": "predictions file of model A (.jsonl or .csv)",
            "b": "predictions file of model B, answering the same questions",
        },
        config_help="dataset config(s) the questions come from, comma-separated",
        out_help="<A stem>_vs_<B stem> next to A",
        bootstrap="paired bootstrap",
        cluster_help="what the bootstrap resamples together",
        figure_file=FIGURE_FILE,
        run=run,
    )


def run(args: argparse.Namespace) -> int:
    """Compare ``args.a`` with ``args.b`` and write the comparison folder; 0 on success."""
    from rad3d_hf.scoring.paired_comparison import compare
    from rad3d_hf.scoring.paired_comparison_report import format_comparison, plot_comparison

    default_out = args.a.with_name(f"{args.a.stem}_vs_{args.b.stem}")
    out, (joined_a, joined_b) = read_scored_inputs(args, [args.a, args.b], default_out, allow_subset=True)
    ids_a = [row["id"] for row in joined_a.rows]
    ids_b = {row["id"] for row in joined_b.rows}
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
