"""Answering a split at real scale: decode each CT once (by volume) against once per question, in one run.

    python examples/benchmarks/bench_evaluation.py [--volumes 5] [--workers 2] [--shape 512 512 200]

Writes (once, then reuses) full-size CT phantoms in CT-RATE's nested layout with the test split's questions-per-volume
ratio (12.6: 5 volumes carry 13, 12, 13, 12 and 13 questions), and a tiny random M3D-RAD model, then prints:

- questions/s answering by volume (``rad3d_hf.prediction``, the path of ``examples/predict.py``) from the
  ``.nii.gz`` files, from the ``rad3d-hf preprocess`` folder and from a zip of the files, against the same model
  answering batches of questions each decoding its own volume (the baseline: how the scripts worked before);
- decodes per question of each path (counted in the DataLoader workers);
- ``rad3d-hf preprocess`` volumes/s with N workers against the decode-only rate with N DataLoader workers (what
  ``rad3d-hf bench`` calls "decode only");
- whether every path, and the two shares of a 2-process run answered one after the other and merged, gives the same
  answers as the baseline.
"""

from __future__ import annotations

import argparse
import os
import time
import zipfile
from pathlib import Path

QUESTIONS = (13, 12, 13, 12, 13)
TEMPLATES = (
    ("Is there a lung nodule in this image?", "closed", ["Yes", "No"], "No", "B"),
    ("Where is the largest nodule located?", "open", [], "In the right upper lobe.", ""),
    ("Is there emphysema?", "closed", ["Yes", "No"], "Yes", "A"),
    ("What abnormality is seen in the lungs?", "open", [], "Bilateral ground-glass opacities.", ""),
)


class CountingDecode:
    """A transform that appends one byte to ``log`` per volume it reads (so workers' decodes can be counted)."""

    def __init__(self, transform, log: Path) -> None:
        self.transform, self.log = transform, log

    def __call__(self, value):
        with open(self.log, "ab") as f:
            f.write(b".")
        return self.transform(value)


def decode_only(path: str) -> int:
    from rad3d_hf.volumes.decode import read_volume

    return int(read_volume(path).shape[-1])


def write_inputs(folder: Path, n: int, shape: tuple[int, int, int]) -> list[str]:
    from rad3d_hf.volumes.phantom import write_ct_phantom

    paths = []
    for i in range(n):
        stem = f"test_{9000 + i}_a_1"
        path = folder / "valid" / f"valid_{9000 + i}" / f"valid_{9000 + i}_a" / f"valid_{9000 + i}_a_1.nii.gz"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.{os.getpid()}.nii.gz")
            write_ct_phantom(partial, shape, seed=i)
            os.replace(partial, path)
        paths.append((stem, str(path)))
    return paths


def make_rows(volumes: list[tuple[str, str]]) -> list[dict]:
    rows = []
    for v, (stem, path) in enumerate(volumes):
        for q in range(QUESTIONS[v % len(QUESTIONS)]):
            question, kind, choices, answer, letter = TEMPLATES[(v + q) % len(TEMPLATES)]
            rows.append({
                "id": f"test/bench/{v:03d}/{q:03d}", "task": 4 if kind == "closed" else 1,
                "question": f"{question} ({q})", "question_type": kind, "choices": choices, "answer": answer,
                "answer_choice": letter, "volume_name": stem, "volume": path,
            })  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--volumes", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shape", type=int, nargs=3, default=(512, 512, 200), metavar=("X", "Y", "Z"))
    parser.add_argument("--max-new-tokens", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--work-dir", type=Path, default=None, help="default: $HF_HOME/rad3d_hf/bench/evaluation")
    args = parser.parse_args()

    import torch
    from torch.utils.data import DataLoader

    from rad3d_hf.models.m3d_rad.inference import M3DRadAnswerer, PredictionCollator, generate_answers
    from rad3d_hf.models.m3d_rad.presets import build_tiny, tokenizer_corpus
    from rad3d_hf.prediction.volume_work import answer_by_volume, group_by_volume, shard_groups
    from rad3d_hf.transforms import M3DTransform
    from rad3d_hf.volumes.locator import VolumeLocator
    from rad3d_hf.volumes.preprocess import preprocess_volumes

    home = Path(os.environ.get("HF_HOME") or Path("~/.cache/huggingface").expanduser())
    work = args.work_dir or home / "rad3d_hf" / "bench" / "evaluation"
    shape = tuple(args.shape)
    volumes = write_inputs(work / f"ct_{'x'.join(map(str, shape))}", args.volumes, shape)
    rows = make_rows(volumes)
    names = [r["volume_name"] for r in rows]
    print(f"{len(volumes)} phantoms {shape} int16 .nii.gz ({sum(os.path.getsize(p) for _, p in volumes) / 1e6:.0f} MB), "
          f"{len(rows)} questions ({len(rows) / len(volumes):.1f} per volume); {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}; {args.workers} DataLoader workers")  # fmt: skip

    torch.manual_seed(0)
    model, processor = build_tiny(tokenizer_corpus(rows) * 2, seed=0, max_length=512)
    model.eval()
    size = tuple(model.config.vision_config.image_size)
    transform = M3DTransform(size=size)
    log = work / "decodes.log"

    def decodes() -> int:
        count = log.stat().st_size if log.exists() else 0
        log.unlink(missing_ok=True)
        return count

    def by_volume(source_rows: list[dict]) -> tuple[dict[str, str], float, int]:
        decodes()
        collator = PredictionCollator(processor, image_transform=CountingDecode(transform, log))
        answerer = M3DRadAnswerer(
            model, processor, collator=collator, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens
        )
        start = time.perf_counter()
        groups = group_by_volume(names)
        out = {}
        for group, answers in answer_by_volume(answerer, source_rows, source_rows, groups, num_workers=args.workers):
            out.update({source_rows[i]["id"]: a for i, a in zip(group.indices, answers)})
        return out, len(rows) / (time.perf_counter() - start), decodes()

    def per_question() -> tuple[dict[str, str], float, int]:
        decodes()
        collate = PredictionCollator(processor, image_transform=CountingDecode(transform, log))
        loader = DataLoader(rows, batch_size=args.batch_size, collate_fn=collate, num_workers=args.workers)
        start = time.perf_counter()
        out = {}
        for batch in loader:  # how examples/predict.py answered before: batches of questions, each its own decode
            answers = generate_answers(model, processor, batch, max_new_tokens=args.max_new_tokens)
            out.update(zip(batch["ids"], answers))
        return out, len(rows) / (time.perf_counter() - start), decodes()

    baseline, base_rate, base_decodes = per_question()
    nifti, nifti_rate, nifti_decodes = by_volume(rows)

    pre_dir = work / f"preprocessed_{'x'.join(map(str, size))}"
    import shutil

    shutil.rmtree(pre_dir, ignore_errors=True)
    start = time.perf_counter()
    preprocess_volumes(dict(volumes), pre_dir, transform=transform, params=transform.params(), workers=args.workers,
                       progress=False)  # fmt: skip
    pre_rate = len(volumes) / (time.perf_counter() - start)
    paths = [p for _, p in volumes]
    decode_rate = _paths_rate(paths, args.workers)
    npy_rows = [{**r, "volume": str(pre_dir / f"{r['volume_name']}.npy")} for r in rows]
    npy, npy_rate, npy_decodes = by_volume(npy_rows)

    archive = work / "test.zip"
    if not archive.is_file():
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as z:
            for _, path in volumes:
                z.write(path, os.path.relpath(path, Path(path).parents[3]))
    locator = VolumeLocator(str(archive))
    zip_rows = [{**r, "volume": locator.locate(r["volume_name"])} for r in rows]
    zipped, zip_rate, _ = by_volume(zip_rows)

    shared = {}
    collator = PredictionCollator(processor, image_transform=transform)
    answerer = M3DRadAnswerer(model, processor, collator=collator, batch_size=args.batch_size,
                              max_new_tokens=args.max_new_tokens)  # fmt: skip
    for rank in range(2):
        mine = shard_groups(group_by_volume(names), rank, 2)
        for group, answers in answer_by_volume(answerer, rows, rows, mine, num_workers=args.workers):
            shared.update({rows[i]["id"]: a for i, a in zip(group.indices, answers)})

    n = len(rows)
    print("\npredict (questions/s; decodes per question)")
    print(f"  per-question decoding (baseline)        {base_rate:7.2f} q/s  {base_decodes / n:.3f} decodes/question")
    print(f"  by volume from .nii.gz                  {nifti_rate:7.2f} q/s  {nifti_decodes / n:.3f} decodes/question"
          f"  {nifti_rate / base_rate:.2f}x baseline")  # fmt: skip
    print(f"  by volume from the preprocessed folder  {npy_rate:7.2f} q/s  {npy_decodes / n:.3f} reads/question"
          f"  {npy_rate / base_rate:.2f}x baseline")  # fmt: skip
    print(f"  by volume from a zip of the .nii.gz     {zip_rate:7.2f} q/s")
    extra = (nifti_decodes - 0) / len(volumes)  # the preprocessed path decodes no CT at all
    print(f"  decodes of each volume, .nii.gz path beyond the preprocessed path: {extra:.2f} (baseline: "
          f"{base_decodes / len(volumes):.1f})")  # fmt: skip
    print(f"\npreprocess ({args.workers} workers)  {pre_rate:.2f} volumes/s; decode only ({args.workers} DataLoader "
          f"workers) {decode_rate:.2f} volumes/s; ratio {pre_rate / decode_rate:.0%}")  # fmt: skip
    same = {name: answers == baseline for name, answers in
            (("nii.gz", nifti), ("preprocessed float32", npy), ("zip", zipped), ("2 shards merged", shared))}  # fmt: skip
    print("\nidentical answers to the baseline: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in same.items()))
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return 0 if all(same.values()) else 1


def _paths_rate(paths: list[str], workers: int) -> float:
    from torch.utils.data import DataLoader

    class Paths:
        def __len__(self) -> int:
            return len(paths)

        def __getitem__(self, i: int) -> int:
            return decode_only(paths[i])

    start = time.perf_counter()
    count = sum(1 for _ in DataLoader(Paths(), batch_size=None, num_workers=workers))
    return count / (time.perf_counter() - start)


if __name__ == "__main__":
    raise SystemExit(main())
