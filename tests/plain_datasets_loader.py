"""Load an exported folder with plain ``datasets`` in a fresh process that cannot import rad3d_hf, for tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

# Runs with `python -I` (no PYTHONPATH, no user site, no script folder on sys.path) and an import hook that refuses
# rad3d_hf, so a passing load proves the folder needs nothing of ours.
_SCRIPT = r"""
import hashlib, importlib.abc, json, sys

class _Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "rad3d_hf" or name.startswith("rad3d_hf."):
            raise ImportError("the exported folder must load without rad3d_hf")
        return None

sys.meta_path.insert(0, _Refuse())
import datasets, numpy as np, nibabel as nib

request = json.loads(sys.argv[1])
out = {"configs": sorted(datasets.get_dataset_config_names(request["dir"]))}
for config, split, streaming in request["loads"]:
    ds = datasets.load_dataset(request["dir"], config, split=split, streaming=streaming)
    rows = []
    for row in ds:
        volume = row.pop("volume", None)
        if volume is not None:
            row["volume"] = {
                "nifti": isinstance(volume, nib.Nifti1Image),
                "lazy": isinstance(volume.dataobj, nib.arrayproxy.ArrayProxy),
                "file": volume.get_filename().rsplit("/", 1)[-1],
                "voxels_sha256": hashlib.sha256(np.ascontiguousarray(volume.dataobj).tobytes()).hexdigest(),
                "shape": list(volume.shape),
            }
        rows.append(row)
    features = {k: repr(v) for k, v in ds.features.items()} if ds.features is not None else None
    out[f"{config}/{split}/{streaming}"] = {"rows": rows, "features": features}
out["rad3d_hf_imported"] = any(m == "rad3d_hf" or m.startswith("rad3d_hf.") for m in sys.modules)
print("<<<JSON>>>" + json.dumps(out))
"""


def load_in_fresh_process(
    folder: Path, loads: list[tuple[str, str, bool]], cwd: Path, hf_home: Path, timeout: int = 240
) -> dict[str, Any]:
    """Rows of each (config, split, streaming) load, the config names, and whether rad3d_hf was imported.

    A ``volume`` becomes a dict: whether it is a lazy nibabel image, its file name, shape and the SHA-256 of its voxels.

    ``cwd`` must not be the export folder: relative paths inside a folder dataset must not depend on it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HF_", "RAD3D"))}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(hf_home), HF_DATASETS_DISABLE_PROGRESS_BARS="1")
    env["USE_TORCH"] = "0"  # streaming would import torch (seconds) to share state with DataLoader workers
    request = json.dumps({"dir": str(folder), "loads": loads})
    command = [sys.executable, "-I", "-c", _SCRIPT, request]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 or "<<<JSON>>>" not in done.stdout:
        raise AssertionError(f"plain datasets failed to load {folder}:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.split("<<<JSON>>>", 1)[1])


def voxels_sha256(image: Any) -> str:
    """The digest the fresh process reports for a volume, computed here for the builder's image."""
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(np.asanyarray(image.dataobj)).tobytes()).hexdigest()
