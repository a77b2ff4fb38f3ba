"""``rad3d-hf score``'s ``--judge-*`` options: judge the open answers (Tasks 1-3) with a model behind an
OpenAI-compatible endpoint, cached on disk, and print the judged scores beside ROUGE-1."""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rad3d_hf.cli.sources import non_negative_int
from rad3d_hf.cli.usage import UsageError

if TYPE_CHECKING:
    from rad3d_hf.scoring.judge import Judge

__all__ = ["JUDGE_FILE", "add_judge_options", "judge_errors", "judge_from_args", "judge_table"]

JUDGE_FILE = "judge.txt"


def add_judge_options(parser: argparse.ArgumentParser) -> None:
    """``--judge-url``, ``--judge-model``, ``--judge-prompt``, ``--judge-cache``, ``--judge-concurrency``."""
    from rad3d_hf.scoring.judge import DEFAULT_CACHE, PROMPTS

    group = parser.add_argument_group("model judge (open answers, Tasks 1-3)")
    group.add_argument("--judge-url", default=None, help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")
    group.add_argument("--judge-model", default=None, help="the judge's model name at that endpoint")
    group.add_argument(
        "--judge-prompt", choices=tuple(PROMPTS), default="m3d-aspects", help="judge prompt (default: m3d-aspects)"
    )
    group.add_argument("--judge-cache", type=Path, default=None, help=f"SQLite cache (default: {DEFAULT_CACHE})")
    group.add_argument("--judge-concurrency", type=non_negative_int, default=8, help="requests in flight (default: 8)")
    group.add_argument("--judge-timeout", type=float, default=60.0, help="seconds per request (default: 60)")


def judge_from_args(args: argparse.Namespace) -> Judge | None:
    """The judge the options name, or None without ``--judge-url``; a bad combination is a usage mistake."""
    if args.judge_url is None:
        if args.judge_model is not None:
            raise UsageError("--judge-model needs --judge-url")
        return None
    if not args.judge_model:
        raise UsageError("--judge-url needs --judge-model (the model name the endpoint serves)")
    from rad3d_hf.scoring.judge import Judge

    try:
        return Judge(
            args.judge_url,
            args.judge_model,
            args.judge_prompt,
            concurrency=max(1, args.judge_concurrency),
            timeout=args.judge_timeout,
            cache_path=args.judge_cache,
            progress=not args.quiet,
        )
    except ValueError as error:
        raise UsageError(str(error)) from error


@contextmanager
def judge_errors() -> Iterator[None]:
    """An unusable judge endpoint (bad address, refused connection, wrong path, key or model) is a usage mistake."""
    from rad3d_hf.scoring.judge import JudgeUnavailable

    try:
        yield
    except JudgeUnavailable as error:
        raise UsageError(f"{error} (--judge-url/--judge-model)") from error


def _cell(report: Mapping[str, Any], key: str) -> str:
    value = report.get(key, math.nan)
    if not isinstance(value, float) or math.isnan(value):
        return "-"
    low, high = report.get(f"{key}_ci95_low"), report.get(f"{key}_ci95_high")
    interval = f" [{low:.3f}, {high:.3f}]" if isinstance(low, float) and isinstance(high, float) else ""
    return f"{value:.3f}{interval}"


def judge_table(report: Mapping[str, Any]) -> str:
    """The judged scores (0-1, 95% patient-clustered intervals) beside ROUGE-1, per open task."""
    lines = [
        f"Model judge {report['judge_model']} ({report['judge_prompt']}, {report['judge_endpoint']}), scale 0-1",
        f"{'task':<7}{'judge score [95% CI]':<26}{'rouge1 [95% CI]':<26}{'baseline':>9}{'spearman':>10}"
        f"{'n':>7}{'unread':>8}{'failed':>8}",
    ]
    for number in (1, 2, 3):
        prefix = f"task{number}/"
        if f"{prefix}judge_n" not in report:
            continue
        baseline = report.get(f"{prefix}judge_score_baseline_majority", math.nan)
        rho = report.get(f"{prefix}judge_rouge1_spearman", math.nan)
        lines.append(
            f"{'Task ' + str(number):<7}{_cell(report, prefix + 'judge_score'):<26}{_cell(report, prefix + 'rouge1'):<26}"
            f"{baseline:>9.3f}{rho:>10.3f}{report[prefix + 'judge_n']:>7}{report[prefix + 'judge_n_unreadable']:>8}"
            f"{report[prefix + 'judge_failed']:>8}"
        )
    return "\n".join(lines) + "\n"
