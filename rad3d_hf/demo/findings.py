"""Ground truth of the demo cohort: patients, scans, anatomy, and which findings each scan shows.

Everything here is drawn from ``numpy`` generators keyed by ``(seed, split, patient)``, so one seed always gives the
same cohort. Geometry is in world millimetres, RAS+ (``+x`` towards the patient's right, ``+y`` anterior, ``+z``
superior), the frame nibabel affines map into. The voxel grid (``L, P, S`` axis codes) is defined here too, because
nodule centres are snapped to voxel centres so that a nodule always covers the voxel at its centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rad3d_hf.data.catalogue import FINDINGS

SHAPE: tuple[int, int, int] = (64, 64, 40)
Z_SPACING_MM = 7.5
# Exact binary fractions, so spacings and derived sizes print without rounding noise.
XY_SPACINGS_MM: tuple[float, ...] = (5.625, 5.75, 5.875)

# (patient id, number of scans, scan letters that also have reconstruction 2), per split.
COHORT: dict[str, tuple[tuple[int, int, tuple[str, ...]], ...]] = {
    "test": ((1000, 3, ("a",)), (1001, 2, ()), (1002, 3, ("b",))),
    "train": ((1, 3, ("a",)), (2, 3, ()), (3, 2, ()), (4, 3, ())),
}
_SPLIT_KEY = {"train": 1, "test": 2}

# Every finding is drawn in the voxels: nine by phantoms.render_scan, nine by more_findings.
RENDERED_FINDINGS: tuple[str, ...] = tuple(FINDINGS)
# Findings the temporal tasks ask about: the published Task 5/6 tables leave out "Medical material".
TEMPORAL_FINDINGS: tuple[str, ...] = tuple(f for f in FINDINGS if f != "Medical material")

_PREVALENCE = 0.2
_STAY_PRESENT = 0.75
_BECOME_PRESENT = 0.12
NODULE_HU = 45


def rng_for(seed: int, *key: int) -> np.random.Generator:
    """A generator for one part of the cohort; the same (seed, key) always gives the same stream."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in key)))


@dataclass(frozen=True)
class Lobe:
    """A lung lobe: side ``right``/``left`` and name ``upper``/``middle``/``lower``."""

    side: str
    name: str

    @property
    def phrase(self) -> str:
        """``right lung upper lobe`` (how the questions name it)."""
        return f"{self.side} lung {self.name} lobe"

    @property
    def answer(self) -> str:
        """``Right lung upper lobe.`` (how the answers name it)."""
        return f"{self.phrase.capitalize()}."


@dataclass(frozen=True)
class Ellipsoid:
    centre: tuple[float, float, float]
    semi: tuple[float, float, float]

    def normalised(self, x: Any, y: Any, z: Any, margin: float = 0.0) -> Any:
        """Squared normalised radius; <= 1 inside the ellipsoid shrunk by ``margin`` mm."""
        cx, cy, cz = self.centre
        ax, ay, az = (max(s - margin, 1e-3) for s in self.semi)
        return ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 + ((z - cz) / az) ** 2

    def scaled(self, fx: float, fy: float, fz: float) -> Ellipsoid:
        return Ellipsoid(self.centre, (self.semi[0] * fx, self.semi[1] * fy, self.semi[2] * fz))

    def grown(self, mm: float) -> Ellipsoid:
        return Ellipsoid(self.centre, tuple(s + mm for s in self.semi))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Anatomy:
    """One patient's fixed anatomy (the same in all their scans)."""

    body_semi: tuple[float, float]
    fat_mm: float
    lungs: dict[str, Ellipsoid]
    heart: Ellipsoid
    aorta_centre: tuple[float, float]
    aorta_radius: float
    spine_centre: tuple[float, float]
    spine_radius: float
    trachea_centre: tuple[float, float]
    trachea_radius: float
    trachea_bottom_z: float

    def heart_for(self, cardiomegaly: bool) -> Ellipsoid:
        return self.heart.scaled(1.3, 1.25, 1.1) if cardiomegaly else self.heart

    def lobe_of(self, side: str, x: float, y: float, z: float) -> Lobe:
        """The lobe holding a point of the ``side`` lung (oblique and horizontal fissures as planes)."""
        lung = self.lungs[side]
        uy = (y - lung.centre[1]) / lung.semi[1]
        uz = (z - lung.centre[2]) / lung.semi[2]
        if uz < 0.2 - 0.8 * uy:
            return Lobe(side, "lower")
        if side == "right" and uz < 0.15:
            return Lobe(side, "middle")
        return Lobe(side, "upper")

    def basal_z(self, side: str) -> float:
        """Below this height the dependent lung may hold a pleural effusion."""
        lung = self.lungs[side]
        return lung.centre[2] - 0.35 * lung.semi[2]


@dataclass(frozen=True)
class Grid:
    """The voxel grid: shape, spacing and the ``L, P, S`` affine, centred on the world origin."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]

    @property
    def affine(self) -> np.ndarray:
        sx, sy, sz = self.spacing
        nx, ny, nz = self.shape
        aff = np.diag([-sx, -sy, sz, 1.0])
        aff[:3, 3] = [sx * (nx - 1) / 2, sy * (ny - 1) / 2, -sz * (nz - 1) / 2]
        return aff

    def to_world(self, ijk: tuple[float, float, float]) -> tuple[float, float, float]:
        point = self.affine @ np.array([*ijk, 1.0])
        return (float(point[0]), float(point[1]), float(point[2]))

    def to_voxel(self, xyz: tuple[float, float, float]) -> tuple[float, float, float]:
        point = np.linalg.solve(self.affine, np.array([*xyz, 1.0]))
        return (float(point[0]), float(point[1]), float(point[2]))

    def snap(self, xyz: tuple[float, float, float]) -> tuple[tuple[int, int, int], tuple[float, float, float]]:
        """The nearest voxel centre: its index and world position."""
        i, j, k = (round(v) for v in self.to_voxel(xyz))
        return (i, j, k), self.to_world((i, j, k))


@dataclass(frozen=True)
class Nodule:
    """A solid lung nodule: an axis-aligned ellipsoid, ``long_mm`` along ``long_axis`` in the axial plane."""

    track: int
    lobe: Lobe
    centre_voxel: tuple[int, int, int]
    centre_mm: tuple[float, float, float]
    long_mm: int
    short_mm: int
    long_axis: str

    @property
    def is_round(self) -> bool:
        return self.long_mm == self.short_mm

    @property
    def semi_axes_mm(self) -> tuple[float, float, float]:
        long, short = self.long_mm / 2, self.short_mm / 2
        return (long, short, short) if self.long_axis == "x" else (short, long, short)

    def to_json(self) -> dict[str, Any]:
        return {
            "track": self.track,
            "lobe": self.lobe.phrase,
            "side": self.lobe.side,
            "centre_voxel": list(self.centre_voxel),
            "centre_mm": [round(v, 4) for v in self.centre_mm],
            "diameter_mm": self.long_mm,
            "size_mm": [self.long_mm, self.short_mm],
            "long_axis": self.long_axis,
            "hu": NODULE_HU,
        }


@dataclass(frozen=True)
class Effusion:
    side: str
    thickness_voxels: int
    thickness_mm: float


@dataclass(frozen=True)
class Consolidation:
    lobe: Lobe
    centre_mm: tuple[float, float, float]
    radius_mm: float


@dataclass
class ScanTruth:
    """What one scan of a patient shows; shared by its reconstructions."""

    letter: str
    labels: dict[str, bool]
    nodules: tuple[Nodule, ...] = ()
    pleural_effusion: Effusion | None = None
    pericardial_effusion_mm: int | None = None
    consolidation: Consolidation | None = None

    def has(self, finding: str) -> bool:
        return self.labels[finding]

    def heart_axial_mm(self, anatomy: Anatomy) -> tuple[int, int]:
        """Transverse and antero-posterior heart size, as drawn (larger with cardiomegaly)."""
        heart = anatomy.heart_for(self.has("Cardiomegaly"))
        return round(2 * heart.semi[0]), round(2 * heart.semi[1])


@dataclass
class PatientTruth:
    """One demo patient: anatomy, grid and the ground truth of each scan (oldest first)."""

    split: str
    patient_id: int
    grid: Grid
    anatomy: Anatomy
    scans: list[ScanTruth]
    reconstructions: dict[str, tuple[int, ...]] = field(default_factory=dict)
    aorta_diameter_mm: int = 0
    temporal_cohort: bool = False  # asked Tasks 5/6 and one anatomy question per scan (rad3d_hf.demo.cohort)
    screening: bool = False  # asked the Task 4 questions only (rad3d_hf.demo.screening)

    def volume_stem(self, letter: str, reconstruction: int) -> str:
        return f"{self.split}_{self.patient_id}_{letter}_{reconstruction}"

    def volumes(self) -> list[tuple[ScanTruth, int, str]]:
        """(scan, reconstruction, stem) for every volume of the patient, oldest scan first."""
        return [(s, r, self.volume_stem(s.letter, r)) for s in self.scans for r in self.reconstructions[s.letter]]


def _anatomy(rng: np.random.Generator) -> Anatomy:
    s = float(rng.uniform(0.92, 1.04))
    lungs = {
        "right": Ellipsoid((80.0 * s, -5.0 * s, 10.0), (55.0 * s, 80.0 * s, 125.0)),
        "left": Ellipsoid((-80.0 * s, -5.0 * s, 10.0), (52.0 * s, 78.0 * s, 120.0)),
    }
    return Anatomy(
        body_semi=(160.0 * s, 118.0 * s),
        fat_mm=float(rng.uniform(10.0, 18.0)),
        lungs=lungs,
        heart=Ellipsoid((-20.0 * s, 35.0 * s, -40.0), (50.0 * s, 40.0 * s, 52.0)),
        aorta_centre=(-22.0 * s, -45.0 * s),
        aorta_radius=float(rng.uniform(10.5, 14.0)),
        spine_centre=(0.0, -88.0 * s),
        spine_radius=18.0 * s,
        trachea_centre=(0.0, 12.0 * s),
        trachea_radius=8.0,
        trachea_bottom_z=45.0,
    )


def _markov_labels(rng: np.random.Generator, n: int) -> list[bool]:
    labels = [bool(rng.random() < _PREVALENCE)]
    for _ in range(n - 1):
        p = _STAY_PRESENT if labels[-1] else _BECOME_PRESENT
        labels.append(bool(rng.random() < p))
    return labels


def _nodule_spans(rng: np.random.Generator, scenario: str, n: int) -> list[tuple[int, int]]:
    """Scan index ranges ``[start, stop)`` in which each nodule track is present.

    Scenarios are stated for the patient's last scan: ``appear`` is new there, ``resolve`` gone there after being
    present, ``persist`` present throughout, ``recur`` present, absent, present again.
    """
    if scenario == "appear":
        return [(n - 1, n)]
    if scenario == "resolve":
        return [(0, n - 1)]
    if scenario == "recur" and n >= 3:
        return [(0, 1), (2, n)]
    if scenario == "none":
        return []
    return [(0, n)]


def _sample_lung_point(
    rng: np.random.Generator, anatomy: Anatomy, side: str, radius: float, avoid: list[tuple[tuple[float, ...], float]]
) -> tuple[float, float, float]:
    """A point of the ``side`` lung at least ``radius`` + 8 mm from its edge, the heart, aorta and effusion zone."""
    lung = anatomy.lungs[side]
    heart = anatomy.heart_for(True).grown(16.0 + radius)
    for _ in range(10_000):
        u = rng.uniform(-1.0, 1.0, 3)
        p = tuple(float(c + v * a) for c, v, a in zip(lung.centre, u, lung.semi))
        x, y, z = p
        if lung.normalised(x, y, z, margin=radius + 8.0) > 1.0 or heart.normalised(x, y, z) <= 1.0:
            continue
        ax, ay = anatomy.aorta_centre
        if np.hypot(x - ax, y - ay) < anatomy.aorta_radius + radius + 8.0 or z - radius < anatomy.basal_z(side):
            continue
        if any(math.dist(p, q) < r + radius + 10.0 for q, r in avoid):
            continue
        return p  # type: ignore[return-value]
    raise RuntimeError(f"could not place a {radius} mm object in the {side} lung")  # pragma: no cover


def _patient(
    seed: int,
    split: str,
    patient_id: int,
    n_scans: int,
    recon2: tuple[str, ...],
    scenario: str,
    courses: dict[str, str] | None = None,
    given_labels: dict[str, list[bool]] | None = None,
) -> PatientTruth:
    """One patient; ``courses`` (finding -> scenario, as for nodules) or ``given_labels`` replace drawn labels."""
    rng = rng_for(seed, _SPLIT_KEY[split], patient_id)
    anatomy = _anatomy(rng)
    sx = float(rng.choice(XY_SPACINGS_MM))
    grid = Grid(SHAPE, (sx, sx, Z_SPACING_MM))
    letters = [chr(ord("a") + i) for i in range(n_scans)]
    labels = dict(given_labels) if given_labels else {f: _markov_labels(rng, n_scans) for f in FINDINGS}
    for finding, course in (courses or {}).items():
        labels[finding] = [any(a <= i < b for a, b in _nodule_spans(rng, course, n_scans)) for i in range(n_scans)]

    spans = _nodule_spans(rng, scenario, n_scans)
    if scenario in ("persist", "none") and rng.random() < 0.5:
        # a second, stable nodule; kept out of the other scenarios so it cannot mask their course
        spans.append((0, n_scans))
    placed: list[tuple[tuple[float, ...], float]] = []
    tracks: list[tuple[tuple[int, int], list[Nodule]]] = []
    for track, span in enumerate(spans):
        side = "right" if rng.random() < 0.55 else "left"
        # 10 mm or more on every axis, so the voxel at the centre (up to 7.5 mm deep) lies inside the nodule
        long = int(rng.integers(10, 18))
        short = long if rng.random() < 0.5 else max(10, long - int(rng.integers(2, 6)))
        growth = [0, *np.cumsum(rng.integers(0, 3, n_scans - 1)).tolist()]
        max_radius = (long + max(growth)) / 2
        point = _sample_lung_point(rng, anatomy, side, max_radius, placed)
        ijk, centre = grid.snap(point)
        placed.append((centre, max_radius))
        axis = "x" if rng.random() < 0.5 else "y"
        lobe = anatomy.lobe_of(side, *centre)
        tracks.append((span, [Nodule(track, lobe, ijk, centre, long + int(g), short + int(g), axis) for g in growth]))
    labels["Lung nodule"] = [any(a <= i < b for (a, b), _ in tracks) for i in range(n_scans)]

    effusion_side = "right" if rng.random() < 0.5 else "left"
    effusion_voxels = rng.integers(2, 6, n_scans)
    pericardial_mm = rng.integers(8, 15, n_scans)
    consolidation_side = "right" if rng.random() < 0.5 else "left"
    radius = float(rng.uniform(16.0, 24.0))
    point = _sample_lung_point(rng, anatomy, consolidation_side, radius, placed)
    consolidation = Consolidation(anatomy.lobe_of(consolidation_side, *point), point, radius)

    scans = []
    for i, letter in enumerate(letters):
        scan_labels = {f: labels[f][i] for f in FINDINGS}
        scans.append(
            ScanTruth(
                letter=letter,
                labels=scan_labels,
                nodules=tuple(nods[i] for (a, b), nods in tracks if a <= i < b),
                pleural_effusion=(
                    Effusion(effusion_side, int(effusion_voxels[i]), float(effusion_voxels[i] * sx))
                    if scan_labels["Pleural effusion"]
                    else None
                ),
                pericardial_effusion_mm=int(pericardial_mm[i]) if scan_labels["Pericardial effusion"] else None,
                consolidation=consolidation if scan_labels["Consolidation"] else None,
            )
        )
    return PatientTruth(
        split=split,
        patient_id=patient_id,
        grid=grid,
        anatomy=anatomy,
        scans=scans,
        reconstructions={s: ((1, 2) if s in recon2 else (1,)) for s in letters},
        aorta_diameter_mm=round(2 * anatomy.aorta_radius),
        temporal_cohort=courses is not None,
        screening=given_labels is not None,
    )
