"""Predictions files of a run that may be interrupted and may span processes.

Process ``r`` of ``n`` appends one JSON line (``{"id", "prediction"}``) per answered question to its part,
``<stem>.part-<r>-of-<n><suffix>`` beside the output, and flushes after every volume. A rerun (with any number of
processes) skips every id found in the output or in any part; a last line cut off by an interruption is dropped
from the process's own part and answered again. When all processes are done, :func:`merge_parts` writes the output
(atomically) with each id once, in the split's order, and deletes the parts, so the result is the same file whether
one process or many wrote it, in one go or resumed.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from rad3d_hf.atomic_files import write_text_atomically

logger = logging.getLogger(__name__)


def part_path(output: Path, rank: int, world_size: int) -> Path:
    """The part file of process ``rank`` of ``world_size``."""
    return output.with_name(f"{output.stem}.part-{rank}-of-{world_size}{output.suffix}")


def existing_parts(output: Path) -> list[Path]:
    """Part files beside ``output`` from any run (any number of processes), sorted."""
    if not output.parent.is_dir():
        return []
    return sorted(output.parent.glob(f"{output.stem}.part-*-of-*{output.suffix}"))


def read_predictions_file(path: Path, *, repair: bool = False) -> dict[str, str]:
    """``{id: prediction}`` of a JSON-lines predictions file, in file order (empty when it does not exist).

    A last line that is not JSON and has no newline was cut off by an interruption: it is ignored, and with ``repair``
    removed from the file (atomically) so appending stays safe. Any other line that is not ``{"id", "prediction"}`` JSON is an
    error naming the file and line.
    """
    if not path.exists():
        return {}
    if not path.is_file():
        raise ValueError(f"{path}: not a file")
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    answers: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        if number == len(lines) and not line.endswith("\n"):
            try:
                json.loads(line)
            except json.JSONDecodeError:
                if repair:
                    logger.warning("%s: dropping the incomplete last line (it will be answered again)", path)
                    write_text_atomically(path, "".join(lines[:-1]))
                break
            if repair:  # a whole last line without its newline: add it, so the next append starts a new line
                write_text_atomically(path, text + "\n")
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise ValueError(f"{path}:{number}: not a JSON line: {line[:80]!r}") from None
        if not isinstance(record, dict) or "id" not in record or not isinstance(record.get("prediction"), str):
            raise ValueError(f'{path}:{number}: expected {{"id", "prediction"}}, got {line[:80]!r}')
        question_id = str(record["id"])
        if question_id in answers and answers[question_id] != record["prediction"]:
            raise ValueError(f"{path}:{number}: id {question_id} appears twice with different predictions")
        answers[question_id] = record["prediction"]
    return answers


def answered_ids(output: Path, *, own_part: Path | None = None) -> set[str]:
    """Ids answered in ``output`` or any of its parts; ``own_part`` (this process's) is repaired if cut off."""
    done = set(read_predictions_file(output))
    for part in existing_parts(output):
        done.update(read_predictions_file(part, repair=part == own_part))
    return done


def prediction_line(question_id: str, prediction: str) -> str:
    """One line of a predictions file: ``{"id": ..., "prediction": ...}`` and a newline."""
    return json.dumps({"id": question_id, "prediction": prediction}, ensure_ascii=False) + "\n"


def append_answers(handle, pairs: Iterable[tuple[str, str]]) -> None:
    """Write ``(id, prediction)`` lines to an open part file and flush them to the disk."""
    for question_id, prediction in pairs:
        handle.write(prediction_line(question_id, prediction))
    handle.flush()
    os.fsync(handle.fileno())


def merge_parts(output: Path, order: Sequence[str]) -> int:
    """Write ``output`` with each id of ``order`` once, in that order, from the output and its parts; delete the parts.

    Every id of ``order`` must have been answered (an error lists the first missing ones). Ids answered by an earlier
    run but not in ``order`` (a smaller ``--max-samples`` this time) are kept after them, so no answer is lost. An id
    answered twice with different predictions is an error naming both files. Returns the number of lines written.
    """
    found: dict[str, tuple[str, Path]] = {}
    for source in [output, *existing_parts(output)]:
        for question_id, prediction in read_predictions_file(source).items():
            earlier = found.get(question_id)
            if earlier is not None and earlier[0] != prediction:
                raise ValueError(
                    f"id {question_id} has two different predictions, in {earlier[1]} and {source}: "
                    "delete the one that is wrong and run again"
                )
            found.setdefault(question_id, (prediction, source))
    missing = [i for i in order if i not in found]
    if missing:
        raise ValueError(
            f"{len(missing)} of {len(order)} questions have no answer in {output} or its parts, e.g. "
            f"{', '.join(missing[:5])}: run again to answer them"
        )
    wanted = set(order)
    extra = [i for i in found if i not in wanted]
    if extra:
        logger.info("%s keeps %d answers of an earlier run that this run did not ask for", output, len(extra))
    lines = [prediction_line(i, found[i][0]) for i in [*order, *extra]]
    write_text_atomically(output, "".join(lines))
    for part in existing_parts(output):
        part.unlink()
    return len(lines)


__all__ = [
    "answered_ids",
    "append_answers",
    "existing_parts",
    "merge_parts",
    "part_path",
    "prediction_line",
    "read_predictions_file",
]
