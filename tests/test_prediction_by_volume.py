"""Answering by volume: grouping and sharding, part files, and predict.py on the demo, in one process and in two."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rad3d_hf.prediction.parts import merge_parts, part_path, read_predictions_file
from rad3d_hf.prediction.processes import process_place
from rad3d_hf.prediction.volume_work import VolumeGroup, group_by_volume, shard_groups
from tests.test_m3d_rad_examples import EXAMPLES, load_example

ROOT = EXAMPLES.parent


def test_groups_follow_first_appearance_and_keep_every_question():
    groups = group_by_volume(["b", "a", "b", "c", "a", "b"])
    assert groups == [VolumeGroup("b", (0, 2, 5)), VolumeGroup("a", (1, 4)), VolumeGroup("c", (3,))]
    with pytest.raises(ValueError, match="question 1 has no volume_name"):
        group_by_volume(["a", ""])


def test_shards_are_whole_volumes_balanced_and_cover_everything_once():
    sizes = [41, 1, 12, 13, 12, 7, 30, 2, 2, 9, 14, 12]
    groups = [VolumeGroup(f"v{i}", tuple(range(100 * i, 100 * i + n))) for i, n in enumerate(sizes)]
    shards = [shard_groups(groups, rank, 3) for rank in range(3)]
    names = [g.volume_name for shard in shards for g in shard]
    assert sorted(names) == sorted(g.volume_name for g in groups) and len(names) == len(groups)
    loads = [sum(len(g) for g in shard) for shard in shards]
    assert max(loads) - min(loads) <= max(sizes)
    for shard in shards:  # each share keeps the split's order
        assert shard == sorted(shard, key=groups.index)
    assert shard_groups(groups, 0, 1) == groups and shard_groups(groups, 2, 3) == shards[2]
    with pytest.raises(ValueError, match="rank 3 is not in a world of 3"):
        shard_groups(groups, 3, 3)


def test_process_place_from_the_launchers_environment():
    assert process_place({}) == process_place({"WORLD_SIZE": "1"})
    place = process_place({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert (place.rank, place.world_size, place.local_rank, place.is_main) == (3, 4, 1, False)
    with pytest.raises(ValueError, match="RANK=4, WORLD_SIZE=4"):
        process_place({"RANK": "4", "WORLD_SIZE": "4"})
    with pytest.raises(ValueError, match="WORLD_SIZE='two'"):
        process_place({"WORLD_SIZE": "two"})


def _write_lines(path: Path, pairs, tail: str = "") -> None:
    path.write_text("".join(json.dumps({"id": i, "prediction": p}) + "\n" for i, p in pairs) + tail)


def test_merge_puts_each_id_once_in_the_splits_order_and_removes_the_parts(tmp_path):
    output = tmp_path / "preds.jsonl"
    _write_lines(part_path(output, 1, 2), [("q3", "c"), ("q1", "a")])
    _write_lines(part_path(output, 0, 2), [("q2", "b")], tail='{"id": "q4", "pre')  # cut off: not an answer
    with pytest.raises(ValueError, match=r"1 of 4 questions have no answer .* q4"):
        merge_parts(output, ["q1", "q2", "q3", "q4"])
    _write_lines(part_path(output, 0, 3), [("q4", "d"), ("q0", "old")])  # a resumed run with 3 processes
    assert merge_parts(output, ["q1", "q2", "q3", "q4"]) == 5
    assert list(read_predictions_file(output).items()) == [
        ("q1", "a"),
        ("q2", "b"),
        ("q3", "c"),
        ("q4", "d"),
        ("q0", "old"),
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preds.jsonl"]
    _write_lines(part_path(output, 0, 1), [("q2", "B")])
    with pytest.raises(ValueError, match=r"id q2 has two different predictions, in .*preds.jsonl and .*part-0-of-1"):
        merge_parts(output, ["q1", "q2", "q3", "q4"])


# --- the tiny model on the demo data --------------------------------------------------------------------------------


def build_tiny_model(folder: Path) -> Path:
    """An untrained tiny M3D-RAD model saved in ``folder``, its vocabulary from the demo's train questions."""
    pytest.importorskip("torch")
    pytest.importorskip("monai")
    from datasets import load_dataset

    import rad3d_hf  # noqa: F401
    from rad3d_hf.models.m3d_rad.presets import build_tiny, tokenizer_corpus

    train = load_dataset("3d-rad", "all", split="train", demo=True).remove_columns("volume")  # texts: no decoding
    model, processor = build_tiny(tokenizer_corpus(train), seed=0, max_length=512)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


def _one_question_at_a_time(model_dir: Path, n: int, max_new_tokens: int) -> dict[str, str]:
    """The reference: every question on its own, its volume decoded for it, the model run on one image."""
    import torch
    from datasets import load_dataset

    import rad3d_hf
    from rad3d_hf.models.m3d_rad.inference import PredictionCollator, generate_answers
    from rad3d_hf.models.m3d_rad.pretrained import load_model_and_processor

    model, processor = load_model_and_processor(model_dir, dtype=torch.float32)
    model.eval()
    collate = PredictionCollator(
        processor, image_transform=rad3d_hf.M3DTransform(size=model.config.vision_config.image_size)
    )
    rows = load_dataset("3d-rad", "all", split="test", demo=True).select(range(n))
    return {
        row["id"]: generate_answers(model, processor, collate([row]), max_new_tokens=max_new_tokens)[0] for row in rows
    }


def test_volume_once_answers_equal_one_question_at_a_time_with_one_decode_per_volume(tiny_model_dir):
    import torch
    from datasets import load_dataset

    import rad3d_hf
    from rad3d_hf.models.m3d_rad.inference import M3DRadAnswerer
    from rad3d_hf.models.m3d_rad.pretrained import load_model_and_processor
    from rad3d_hf.prediction.volume_work import answer_by_volume

    model, processor = load_model_and_processor(tiny_model_dir, dtype=torch.float32)
    model.eval()
    transform = rad3d_hf.M3DTransform(size=model.config.vision_config.image_size)
    answerer = M3DRadAnswerer(model, processor, image_transform=transform, batch_size=4, max_new_tokens=6)
    decoded: list[str] = []

    class Counting:  # the same answerer, counting the volumes it prepares
        def __init__(self):
            self.prepare = answerer.prepare_volume

        def prepare_volume(self, row):
            decoded.append(row["volume_name"])
            return self.prepare(row)

        def answer_volume(self, prepared, rows):
            return answerer.answer_volume(prepared, rows)

    rows = load_dataset("3d-rad", "all", split="test", demo=True).select(range(30))
    groups = group_by_volume(rows["volume_name"])
    work = answer_by_volume(Counting(), rows, rows, groups)
    answers = {rows[i]["id"]: a for g, out in work for i, a in zip(g.indices, out)}
    assert sorted(decoded) == sorted({r for r in rows["volume_name"]}) and len(decoded) < len(rows) / 2
    assert answers == _one_question_at_a_time(tiny_model_dir, 30, 6)
    assert len(set(answers.values())) > 1  # the random model does not answer everything alike


@pytest.mark.slow
def test_predict_in_two_processes_equals_one_process_and_resumes(tiny_model_dir, tmp_path):
    """predict.py: one process, then torchrun with two (gloo on CPU), then a resumed run: the same file each time."""
    predict = load_example("predict")
    common = [
        "--model",
        str(tiny_model_dir),
        "--demo",
        "--num-workers",
        "0",
        "--max-new-tokens",
        "4",
        "--batch-size",
        "3",
    ]
    n = 24
    one = tmp_path / "one.jsonl"
    assert predict.main([*common, "--output", str(one), "--max-samples", str(n)]) == 0
    lines = one.read_text().splitlines()
    expected_ids = [r["id"] for r in _demo_rows(n)]
    assert [json.loads(line)["id"] for line in lines] == expected_ids
    assert read_predictions_file(one) == _one_question_at_a_time(tiny_model_dir, n, 4)

    two = tmp_path / "two.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    run = subprocess.run(
        [*command, str(EXAMPLES / "predict.py"), *common, "--output", str(two), "--max-samples", str(n)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "answering (1/2)" in run.stderr and "answering (2/2)" in run.stderr  # both processes had work
    assert two.read_text() == one.read_text()
    # the parts are merged and removed; the settings file stays beside the answers
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("two")) == [
        "two.jsonl",
        "two.jsonl.params.json",
    ]

    # An interrupted two-process run left half of its answers and a cut-off line; one process finishes the job.
    resumed = tmp_path / "resumed.jsonl"
    answered = list(read_predictions_file(one).items())
    _write_lines(part_path(resumed, 0, 2), answered[: n // 3], tail='{"id": "test/x", "predic')
    _write_lines(part_path(resumed, 1, 2), answered[n // 2 :])
    assert predict.main([*common, "--output", str(resumed), "--max-samples", str(n)]) == 0
    assert resumed.read_text() == one.read_text()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("resumed")) == [
        "resumed.jsonl",
        "resumed.jsonl.params.json",
    ]


def _demo_rows(n: int) -> list[dict]:
    from rad3d_hf.data.rows import read_rows
    from rad3d_hf.demo import ensure_demo_data

    return list(read_rows(str(ensure_demo_data()), "test", "all"))[:n]


def test_temporal_model_answers_by_volume_as_one_question_at_a_time():
    """Questions about one volume that do and do not read its earlier scans, answered from features made once."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("monai")
    from rad3d_hf.models.m3d_rad.inference import M3DRadAnswerer, PredictionCollator, generate_answers
    from rad3d_hf.models.m3d_rad.presets import build_tiny, temporal_kwargs, tokenizer_corpus
    from tests.test_m3d_rad_temporal import SHAPE, row

    gen = torch.Generator().manual_seed(7)
    image, priors = torch.rand(SHAPE, generator=gen), [torch.rand(SHAPE, generator=gen) for _ in range(2)]
    rows = [row(i, task, 2) for i, task in enumerate([4, 5, 6, 5, 6, 4, 6])]
    for r in rows:
        r.update(task=r["task"], volume_name="test_9_c_1", pixel_values=image, prior_pixel_values=priors)
    model, processor = build_tiny(
        tokenizer_corpus(rows) * 3, seed=0, history="both", **temporal_kwargs("tiny-temporal")
    )
    model.eval()
    answerer = M3DRadAnswerer(model, processor, batch_size=3, max_new_tokens=5)
    got = answerer.answer_volume(answerer.prepare_volume(rows[0]), rows)
    collate = PredictionCollator(processor)
    with torch.no_grad():
        alone = [generate_answers(model, processor, collate([r]), max_new_tokens=5)[0] for r in rows]
    assert got == alone
