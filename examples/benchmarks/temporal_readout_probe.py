"""Do the earlier scans carry what Task 5 asks? Linear readouts of the current scan alone and with the earlier ones.

    python examples/benchmarks/temporal_readout_probe.py                      # model-free: pooled voxels, ~10 s
    python examples/benchmarks/temporal_readout_probe.py --model runs/m3d-rad-tiny-temporal/temporal/final

A Task 5 category combines two facts about the finding a question names: is it on the current scan (refractory,
new) and was it on an earlier one (refractory, resolved). This fits, on the train split, one logistic readout per
finding and fact, and answers the test split with the two readouts combined into an option letter:

- ``current only``: both facts read from the current scan (what any single-scan model can see);
- ``with earlier``: the first from the current scan, the second from the mean of the earlier scans.

Features per scan are the preprocessed volume (``M3DTransform``) average-pooled to ``--grid`` (model-free), or, with
``--model``, the image tokens of a saved M3D-RAD model (its vision tower and projector, every scan pooled as a
current one, flattened). The answers are scored by :func:`rad3d_hf.scoring.score` and printed as the fine-tune
script's comparison table, so the rows set a linear reading of the same images beside the language models: the gap
between the two rows is what comparing time points can add, on these images, to a reader that only needs a linear
map per finding. The fits are full-batch L-BFGS from zero, with no random draw, so the same data give the same
table. Questions whose finding the question text does not name are answered with the train split's most common
option and counted (``unnamed``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rad3d_hf.data.catalogue import TEMPORAL_PRESENT_BEFORE, TEMPORAL_PRESENT_NOW, named_finding
from rad3d_hf.data.catalogue import temporal_letter as letter_of


def fit_readout(x: Any, y: Any, *, l2: float, steps: int) -> Any:
    """A logistic readout ``(w, b)`` of binary ``y`` from standardised ``x``: full-batch L-BFGS, deterministic."""
    import torch

    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    if bool(y.all()) or not bool(y.any()):  # one class only: the bias alone, at that class
        with torch.no_grad():
            b.fill_(10.0 if bool(y.all()) else -10.0)
        return w.detach(), b.detach()
    optimiser = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> Any:
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ w + b, y.double()) + l2 * (w @ w)
        loss.backward()
        return loss

    optimiser.step(closure)
    return w.detach(), b.detach()


def feature_function(args: argparse.Namespace) -> Callable[[Any], Any]:
    """A function from a lazy volume to its feature vector, memoised by file."""
    import torch

    from rad3d_hf import M3DTransform

    if args.model is None:
        transform = M3DTransform(size=(16, 64, 64))

        def compute(volume: Any) -> Any:
            image = torch.as_tensor(transform(volume), dtype=torch.float32)[None]
            return torch.nn.functional.adaptive_avg_pool3d(image, args.grid).flatten()
    else:
        from rad3d_hf.models.m3d_rad.pretrained import load_model_and_processor

        model, _ = load_model_and_processor(args.model)
        model.eval()
        transform = M3DTransform(size=tuple(model.config.vision_config.image_size))

        def compute(volume: Any) -> Any:
            image = torch.as_tensor(transform(volume), dtype=torch.float32)[None]
            with torch.no_grad():
                return model.get_image_features(image)[0].flatten()

    memo: dict[str, Any] = {}

    def features(volume: Any) -> Any:
        key = volume.get_filename()
        if key not in memo:
            memo[key] = compute(volume).double()
        return memo[key]

    return features


def examples(dataset: Any, features: Callable[[Any], Any], findings: Sequence[str]) -> list[dict[str, Any]]:
    """Per question: id, letter, finding, current-scan and earlier-scan features (None without earlier scans)."""
    import torch

    out = []
    for row in dataset:
        priors = list(row["prior_volumes"] or [])
        earlier = torch.stack([features(v) for v in priors]).mean(0) if priors else None
        out.append(
            {
                "row": {k: v for k, v in row.items() if k not in ("volume", "prior_volumes")},
                "finding": named_finding(row["question"], findings),
                "current": features(row["volume"]),
                "earlier": earlier,
            }
        )
    return out


def readout_answers(train: list[dict], test: list[dict], *, with_earlier: bool, l2: float, steps: int) -> list[str]:
    """Option letters for ``test`` from per-finding readouts fitted on ``train``."""
    import torch

    majority = Counter(e["row"]["answer_choice"] for e in train).most_common(1)[0][0]
    answers = {}
    for finding in sorted({e["finding"] for e in test if e["finding"] is not None}):
        fitted = [e for e in train if e["finding"] == finding and e["earlier"] is not None]
        asked = [e for e in test if e["finding"] == finding]
        if not fitted:
            continue
        letters = [e["row"]["answer_choice"] for e in fitted]
        readouts = {}
        for fact, present in (("now", TEMPORAL_PRESENT_NOW), ("before", TEMPORAL_PRESENT_BEFORE)):
            source = "earlier" if with_earlier and fact == "before" else "current"
            x = torch.stack([e[source] for e in fitted])
            mean, std = x.mean(0), x.std(0) + 1e-6
            w, b = fit_readout((x - mean) / std, torch.tensor([c in present for c in letters]), l2=l2, steps=steps)
            readouts[fact] = (source, mean, std, w, b)
        for e in asked:
            facts = {}
            for fact, (source, mean, std, w, b) in readouts.items():
                # a question without earlier scans has nothing before: its finding was never seen earlier
                vector = e[source]
                facts[fact] = vector is not None and bool(((vector - mean) / std) @ w + b > 0)
            answers[e["row"]["id"]] = letter_of(facts["now"], facts["before"])
    return [answers.get(e["row"]["id"], majority) for e in test]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="a saved M3D-RAD folder: its image tokens as features")
    parser.add_argument("--grid", type=int, nargs=3, default=(4, 8, 8), help="model-free pooling grid (D H W)")
    parser.add_argument("--data-dir", default=None, help="QA tables (default: the demo data)")
    parser.add_argument("--volumes-dir", default=None, help="CT volumes of --data-dir")
    parser.add_argument("--l2", type=float, default=1e-2, help="L2 penalty of each readout")
    parser.add_argument("--steps", type=int, default=50, help="L-BFGS iterations per readout")
    parser.add_argument("--output", type=Path, default=None, help="also write both reports here (JSON)")
    args = parser.parse_args(argv)
    if (args.data_dir is None) != (args.volumes_dir is None):
        parser.error("pass --data-dir and --volumes-dir together (or neither, for the demo data)")

    from datasets import load_dataset

    import rad3d_hf  # noqa: F401  (makes "3d-rad" resolve)
    from rad3d_hf.data.catalogue import FINDINGS
    from rad3d_hf.scoring import score
    from rad3d_hf.scoring.temporal_comparison import temporal_table

    source = {"demo": True} if args.data_dir is None else {"data_dir": args.data_dir, "volumes_dir": args.volumes_dir}
    start = time.perf_counter()
    features = feature_function(args)
    split = {
        s: examples(load_dataset("3d-rad", "task5", split=s, prior_volumes=True, **source), features, FINDINGS)
        for s in ("train", "test")
    }
    rows = [e["row"] for e in split["test"]]
    reports = {}
    for name, with_earlier in (("current only", False), ("with earlier", True)):
        answers = readout_answers(
            split["train"], split["test"], with_earlier=with_earlier, l2=args.l2, steps=args.steps
        )
        reports[name] = score(answers, rows, n_resamples=0)
    unnamed = sum(e["finding"] is None for e in split["test"])
    features_used = f"image tokens of {args.model}" if args.model else f"voxels pooled to {tuple(args.grid)}"
    print(
        f"Task 5 test split, linear readouts per finding ({features_used}; unnamed {unnamed}; "
        f"{time.perf_counter() - start:.0f} s):"
    )
    print(temporal_table({"current": reports["current only"], "earlier": reports["with earlier"]}, tasks=(5,)))
    if args.output is not None:
        args.output.write_text(json.dumps(reports, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
