"""``rad3d-hf tasks``: the task catalogue, with question counts per split read from the tables."""

from __future__ import annotations

import argparse

from rad3d_hf.cli.sources import add_table_source, table_source
from rad3d_hf.cli.usage import UsageError
from rad3d_hf.data.catalogue import CONFIGS, SPLITS, TASKS
from rad3d_hf.data.tables import read_table_columns, source_files, table_exists


def count_questions(data_dir: str) -> dict[tuple[int, str], int]:
    """(paper task, split) -> number of questions in the tables present under ``data_dir``."""
    counts: dict[tuple[int, str], int] = {}
    for split in SPLITS:
        for source in source_files(data_dir, split, "all"):
            if table_exists(source.path):
                n = len(read_table_columns(source)["id"])
                counts[source.task.number, split] = counts.get((source.task.number, split), 0) + n
    return counts


def format_catalogue(counts: dict[tuple[int, str], int] | None = None) -> str:
    """The catalogue as a Markdown table, with counts when given."""
    head = "| task | name | source folder (`Task` column) | answers | subtasks (train / test) |"
    lines = [head, "|---|---|---|---|---|" + ("---|---|" if counts else "")]
    if counts:
        lines[0] += " train | test |"
    for task in TASKS.values():
        subs = f"{len(task.subtasks_in('train'))} / {len(task.subtasks_in('test'))}"
        kind = "open" if task.is_open else f"closed ({len(task.options)} options)"
        line = f"| {task.number} | {task.name} | {task.folder} ({task.source_task}) | {kind} | {subs} |"
        if counts:
            line += "".join(f" {counts.get((task.number, s), 0):,} |" for s in ("train", "test"))
        lines.append(line)
    if counts:
        total = "".join(
            f" **{sum(v for (t, s), v in counts.items() if s == split):,}** |" for split in ("train", "test")
        )
        lines.append("| | **all** | | | |" + total)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.configs:
        print("\n".join(CONFIGS))
        return 0
    # Without --data-dir or --demo the catalogue alone is printed: counting the Hub's tables would need the network.
    data_dir = table_source(args) if (args.demo or args.data_dir is not None) else None
    counts = None
    if data_dir:
        counts = count_questions(data_dir)
        if not counts:
            raise UsageError(
                f"--data-dir {data_dir} holds none of the 3D-RAD QA tables (e.g. {_first_table(data_dir)})"
            )
    print(format_catalogue(counts))
    return 0


def _first_table(data_dir: str) -> str:
    return source_files(data_dir, "test", "all")[0].path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tasks",
        help="print the task catalogue (with question counts from the tables)",
        description="Print the six tasks; with --data-dir or --demo, also count the questions of each split.",
    )
    add_table_source(parser, exclusive=True)
    parser.add_argument("--configs", action="store_true", help="list the dataset config names instead")
    parser.set_defaults(func=run)
