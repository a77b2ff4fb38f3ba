"""How fast the `3d-rad` builder loads the QA tables (QA-only), against datasets' generic CSV builder on the same files.

    python examples/benchmarks/bench_dataset_loading.py --data-dir ../shared/3drad

Measures, in one process on the same CSVs: the first build of `all` (170,105 rows, both splits) into an empty cache,
a cached reload by a fresh builder, the first row of every streaming config (in this process, then cold in a fresh
one), and the generic `csv` builder building the same files (no validation, no ids, no parsed fields) as the baseline.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data-dir", default="../shared/3drad", help="folder holding the published train/ and test/ tables"
    )
    args = parser.parse_args()
    data_dir = str(Path(args.data_dir).resolve())

    import datasets

    import rad3d_hf
    from rad3d_hf.data.catalogue import CONFIGS

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    with tempfile.TemporaryDirectory() as cache:
        csvs = {s: sorted(str(p) for p in Path(data_dir, s).glob("*/*.csv")) for s in ("train", "test")}
        t_csv, _ = _timed(lambda: datasets.load_dataset("csv", data_files=csvs, cache_dir=f"{cache}/csv"))

        t_build, ds = _timed(
            lambda: datasets.load_dataset("3d-rad", "all", data_dir=data_dir, cache_dir=f"{cache}/ours")
        )
        rows = sum(ds.num_rows.values())
        t_reload, _ = _timed(
            lambda: datasets.load_dataset("3d-rad", "all", data_dir=data_dir, cache_dir=f"{cache}/ours")
        )
        reload_code = f"""
            import time, rad3d_hf, datasets
            datasets.disable_progress_bars()
            start = time.perf_counter()
            datasets.load_dataset("3d-rad", "all", data_dir={data_dir!r}, cache_dir={cache + "/ours"!r})
            print(time.perf_counter() - start)
        """
        out = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(reload_code)], capture_output=True, text=True, check=True
        )
        t_reload_fresh = float(out.stdout)

        first_rows = {}
        for name, spec in CONFIGS.items():
            for split in spec.splits:
                stream = datasets.load_dataset("3d-rad", name, split=split, data_dir=data_dir, streaming=True)
                first_rows[f"{name}/{split}"], _ = _timed(lambda stream=stream: next(iter(stream)))
        code = f"""
            import time, rad3d_hf, datasets
            datasets.disable_progress_bars()
            start = time.perf_counter()
            try:
                import torch  # datasets imports it when an IterableDataset is made; a training script has it already
            except ImportError:
                pass
            torch_import = time.perf_counter() - start
            start = time.perf_counter()
            stream = datasets.load_dataset("3d-rad", "all", split="train", data_dir={data_dir!r}, streaming=True)
            next(iter(stream))
            print(time.perf_counter() - start, torch_import)
        """
        out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True)
        cold, torch_import = map(float, out.stdout.split())

    worst = max(first_rows, key=first_rows.get)
    print(f"rad3d-hf {rad3d_hf.__version__}, datasets {datasets.__version__}; {rows:,} rows from {data_dir}")
    print(f"first build, all configs' rows (3d-rad 'all'):   {t_build:6.2f} s  ({rows / t_build:,.0f} rows/s)")
    print(
        f"generic csv builder, same files (baseline):     {t_csv:6.2f} s  -> 3d-rad / csv = {t_build / t_csv:.2f}x the time"
    )
    print(
        f"cached reload by a fresh builder:               {t_reload:6.2f} s in this process, "
        f"{t_reload_fresh:.2f} s in a fresh one (after imports)"
    )
    print(
        f"first streaming row, worst of {len(first_rows)} config/splits: {first_rows[worst]:6.2f} s ({worst}); "
        f"median {sorted(first_rows.values())[len(first_rows) // 2]:.2f} s"
    )
    print(
        f"first streaming row, 'all'/train, fresh process: {cold:6.2f} s "
        f"(after imports; importing torch, which datasets' IterableDataset does, took another {torch_import:.2f} s)"
    )


if __name__ == "__main__":
    main()
