"""The built-in demo source: a small synthetic 3D-RAD, generated on the spot with no download.

``ensure_demo_data()`` writes (once, then reuses) a folder laid out like the published data plus its volumes::

    <root>/test/<TaskFolder>/<Subtask>.csv      every source file of the catalogue, official CSV format
    <root>/train/<TaskFolder>/<Subtask>.csv
    <root>/volumes/<stem>.nii.gz                 e.g. test_1000_a_1.nii.gz, train_1_b_1.nii.gz (flat)
    <root>/manifest.json                         seed, versions, and every volume's ground truth

The cohort: 3 test patients (``test_1000`` .. ``test_1002``) and 4 train patients (``train_1`` .. ``train_4``) with
2-3 scans each (letters ``a``, ``b``, ``c``), reconstruction 1, and reconstruction 2 for a few scans. Each volume is a
64x64x40 int16 chest-CT phantom in Hounsfield units (air -1000, fat -100, soft tissue 40, lungs -850, blood 45, bone
700) with about 5.7 mm in-plane and 7.5 mm slice spacing, so anatomy has realistic millimetre sizes; headers follow
CT-RATE's corrected release (axis codes ``L, P, S``, axial slices along the third axis, gzip).

The phantoms draw nine of the 18 CT-RATE findings in the voxels: lung nodules (solid 45 HU ellipsoids that appear,
persist and grow, resolve or recur across a patient's scans; in each split one nodule of each of the first three
kinds falls on a scan the temporal tasks ask about), pleural and pericardial effusion, cardiomegaly, emphysema,
consolidation, a pacemaker (medical material), and aortic and coronary calcification. The other nine are
ground-truth labels only (``manifest.json`` lists which are drawn). A temporal cohort (``train_101`` ..,
``test_2001`` ..; ``temporal_cohort`` in the manifest) is asked Tasks 5/6 and one Task 2 anatomy question per scan,
with every drawn finding on an even mix of courses, so that the temporal tasks have rows to learn from and earlier
scans decide their categories as they do in reality (:mod:`rad3d_hf.demo.cohort`). The QA tables are written from the same ground
truth: Task 4 asks all 18 findings of every volume; Tasks 5 and 6 classify each finding from its Task 4 labels over
time (Task 6 prints the earlier labels in the question, ``[0, 1]``, as the published tables do); Task 3 gives the drawn
nodule diameters and sizes (``12 mm``, ``14x10 mm``), heart size, aortic diameter, and effusion and fat thicknesses;
the open questions of Tasks 1 and 2 name the lobe or side the phantom put each finding in. Like the published train
split, the train tables have no Task 5/6 ``b`` file, and like the published tables Tasks 5/6 leave out
"Medical material". The question wording is the package's own.

Everything follows from ``seed``: the same seed gives byte-identical CSVs and volumes (on one installation: the gzip
streams come from ISA-L). Generation takes about 8 s on a 2-core machine. The folder is built beside its destination and renamed
into place, so concurrent callers are safe and a folder that exists is complete.

Use it through the builder (``load_dataset("3d-rad", "task6", demo=True)``), from a shell (``rad3d-hf demo
[--out DIR] [--seed N]`` prints the folder), or directly::

    from rad3d_hf import ensure_demo_data
    root = ensure_demo_data()            # ~/.cache/huggingface/rad3d_hf/demo/v3-seed0-<generator digest>
    load_dataset("3d-rad", "all", data_dir=str(root), volumes_dir=str(root / "volumes"))
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from rad3d_hf.demo.cohort import demo_cohort
from rad3d_hf.demo.findings import RENDERED_FINDINGS, PatientTruth, ScanTruth
from rad3d_hf.demo.phantoms import render_scan, write_volume
from rad3d_hf.demo.tables import build_tables, write_tables

__all__ = [
    "DEMO_FORMAT_VERSION",
    "MANIFEST_NAME",
    "VOLUMES_DIR",
    "default_demo_root",
    "ensure_demo_data",
    "generator_digest",
]

# Bump when the layout of the folder changes. Content changes need no bump: the folder name and the manifest also
# carry a digest of the generator's source (generator_digest), so data made by other code is never reused.
DEMO_FORMAT_VERSION = 3
MANIFEST_NAME = "manifest.json"
VOLUMES_DIR = "volumes"


@functools.cache
def generator_digest() -> str:
    """12 hex digits of SHA-256 over the source of everything that decides the demo's content.

    That is this package's modules and the catalogue (tasks, findings, file names). Any edit to them gives new data
    a new digest, so a cached folder made by other code is never served as this code's demo.
    """
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for path in [*sorted(here.glob("*.py")), here.parent / "data" / "catalogue.py"]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def default_demo_root(seed: int = 0) -> Path:
    """The default demo folder: ``$HF_HOME/rad3d_hf/demo/v<format version>-seed<seed>-<generator digest>``.

    HF_HOME is read at call time; unset, it is ``$XDG_CACHE_HOME/huggingface`` or ``~/.cache/huggingface``.
    """
    hf_home = os.environ.get("HF_HOME")
    if not hf_home:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
        hf_home = os.path.join(cache, "huggingface")
    return (
        Path(hf_home).expanduser()
        / "rad3d_hf"
        / "demo"
        / f"v{DEMO_FORMAT_VERSION}-seed{int(seed)}-{generator_digest()}"
    )


def ensure_demo_data(root: str | os.PathLike[str] | None = None, *, seed: int = 0) -> Path:
    """The demo data folder for ``seed``: generated into ``root`` if absent, reused if already complete.

    ``root`` defaults to :func:`default_demo_root`. An existing ``root`` is reused only if its manifest says it holds
    this format version and seed, made by this generator (:func:`generator_digest`); a folder made otherwise, or a
    non-empty folder without a manifest, is an error naming it (never overwritten, never served).
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    target = Path(root).expanduser() if root is not None else default_demo_root(seed)
    if _is_complete(target, seed):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # a sibling of the target (same file system, so the rename below is atomic); mkdir honours the umask
    staging = target.parent / f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        _generate(staging, seed)
        try:
            # rename(2) is atomic and replaces only a missing or empty folder: one concurrent builder wins
            os.rename(staging, target)
        except OSError:
            if not _is_complete(target, seed):
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _is_complete(target: Path, seed: int) -> bool:
    manifest_path = target / MANIFEST_NAME
    if not manifest_path.is_file():
        if target.is_dir() and any(target.iterdir()):
            raise FileExistsError(
                f"{target} exists and is not a rad3d_hf demo folder (no {MANIFEST_NAME}); choose another folder"
            )
        return False
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"{manifest_path} is not a readable demo manifest: {err}") from err
    found = (manifest.get("format_version"), manifest.get("seed"))
    if found != (DEMO_FORMAT_VERSION, seed):
        raise FileExistsError(
            f"{target} holds demo data of format version {found[0]} and seed {found[1]}, not version "
            f"{DEMO_FORMAT_VERSION} and seed {seed}; choose another folder or delete it"
        )
    made_by = manifest.get("generator_digest")
    if made_by != generator_digest():
        raise FileExistsError(
            f"{target} holds demo data made by another version of the generator (digest {made_by}, this one "
            f"{generator_digest()}); choose another folder or delete it"
        )
    return True


def _generate(root: Path, seed: int) -> None:
    from rad3d_hf import __version__

    cohort = demo_cohort(seed)
    tables = build_tables(cohort, seed)
    table_paths = write_tables(root, tables)
    (root / VOLUMES_DIR).mkdir()
    volumes: dict[str, Any] = {}
    for patients in cohort.values():
        for patient in patients:
            for scan, reconstruction, stem in patient.volumes():
                volume = render_scan(patient, scan, reconstruction, seed)
                write_volume(root / VOLUMES_DIR / f"{stem}.nii.gz", volume, patient.grid)
                volumes[stem] = _volume_truth(patient, scan, reconstruction)
    manifest = {
        "name": "rad3d_hf demo data (synthetic chest-CT phantoms)",
        "format_version": DEMO_FORMAT_VERSION,
        "generator_digest": generator_digest(),
        "seed": seed,
        "package_version": __version__,
        "rendered_findings": list(RENDERED_FINDINGS),
        "tables": {p: len(tables[_key(p)]) for p in table_paths},
        "volumes": volumes,
    }
    # written last: its presence marks the folder complete
    (root / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _key(relative_path: str) -> tuple[str, str, str]:
    split, folder, file_name = relative_path.split("/")
    return split, folder, file_name[: -len(".csv")]


def _volume_truth(patient: PatientTruth, scan: ScanTruth, reconstruction: int) -> dict[str, Any]:
    effusion = scan.pleural_effusion
    return {
        "split": patient.split,
        "patient_id": patient.patient_id,
        "temporal_cohort": patient.temporal_cohort,
        "scan": scan.letter,
        "reconstruction": reconstruction,
        "shape": list(patient.grid.shape),
        "spacing_mm": list(patient.grid.spacing),
        "affine": patient.grid.affine.round(6).tolist(),
        "findings": {name: int(value) for name, value in scan.labels.items()},
        "nodules": [n.to_json() for n in scan.nodules],
        "pleural_effusion": (
            None
            if effusion is None
            else {
                "side": effusion.side,
                "thickness_mm": effusion.thickness_mm,
                "thickness_voxels": effusion.thickness_voxels,
                "top_z_mm": round(patient.anatomy.basal_z(effusion.side), 4),
            }
        ),
        "pericardial_effusion_mm": scan.pericardial_effusion_mm,
        "consolidation": (
            None
            if scan.consolidation is None
            else {
                "lobe": scan.consolidation.lobe.phrase,
                "centre_mm": [round(v, 4) for v in scan.consolidation.centre_mm],
                "radius_mm": round(scan.consolidation.radius_mm, 4),
            }
        ),
        "aorta_diameter_mm": patient.aorta_diameter_mm,
        "heart_axial_mm": list(scan.heart_axial_mm(patient.anatomy)),
        "subcutaneous_fat_mm": round(patient.anatomy.fat_mm, 4),
    }
