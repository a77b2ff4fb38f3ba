"""The demo cohort: the patients of each split, and a temporal cohort that gives Tasks 5 and 6 enough rows.

The patients of :data:`~rad3d_hf.demo.findings.COHORT` appear in every task. Their findings follow the drawn labels,
so most never change, as in CT-RATE, and the temporal tasks (5, 6) would have a few dozen rows to learn from. The
temporal cohort (:data:`TEMPORAL_COHORT`, 3 scans each) is asked Tasks 5 and 6, and one Task 2 anatomy question per
scan (which names every scan in the split's tables, where the builder finds a question's earlier scans), so those
tasks get enough rows without growing Tasks 1, 3 and 4. In it each finding the phantom draws (except the medical
material, which the temporal tasks leave out) follows a course drawn evenly from persist, appear, resolve and none,
stated for the last scan. The images then decide the category exactly as in reality: on the current scan alone a
resolved lesion looks like no lesion and a new one like a persistent one; only the earlier scans tell them apart.
"""

from __future__ import annotations

from rad3d_hf.data.catalogue import TASKS
from rad3d_hf.demo.findings import _SPLIT_KEY, COHORT, RENDERED_FINDINGS, PatientTruth, _patient, rng_for
from rad3d_hf.demo.screening import screening_patients

# (first patient id, number of patients) of the temporal-cohort patients, per split; 3 scans each.
TEMPORAL_COHORT: dict[str, tuple[int, int]] = {"train": (101, 24), "test": (2001, 4)}
TEMPORAL_COHORT_SCANS = 3
COURSES: tuple[str, ...] = ("persist", "appear", "resolve", "none")
# Drawn findings the temporal tasks ask about.
DRAWN_TEMPORAL_FINDINGS: tuple[str, ...] = tuple(f for f in RENDERED_FINDINGS if f != "Medical material")


def temporal_cohort_patients(seed: int, split: str) -> list[PatientTruth]:
    """The temporal cohort of ``split``, each drawn finding on a course of :data:`COURSES`."""
    first, count = TEMPORAL_COHORT[split]
    patients = []
    for pid in range(first, first + count):
        rng = rng_for(seed, 4, _SPLIT_KEY[split], pid)
        courses = {f: str(rng.choice(COURSES)) for f in DRAWN_TEMPORAL_FINDINGS}
        nodule = courses.pop("Lung nodule")  # nodules follow their course through the nodule scenario
        patients.append(_patient(seed, split, pid, TEMPORAL_COHORT_SCANS, (), nodule, courses))
    return patients


def demo_cohort(seed: int = 0) -> dict[str, list[PatientTruth]]:
    """The demo patients of each split, with every scan's ground truth, for ``seed``.

    In every split, a nodule persists, one appears and one resolves at a scan the temporal tasks ask about: those
    three scenarios go, in a seeded order, to patients whose last scan has a Task 5/6 file in the split; the other
    patients draw theirs (persist, recur or none). The temporal cohort follows (:func:`temporal_cohort_patients`),
    then the screening patients (:func:`rad3d_hf.demo.screening.screening_patients`).
    """
    cohort: dict[str, list[PatientTruth]] = {}
    for split, patients in COHORT.items():
        rng = rng_for(seed, _SPLIT_KEY[split])
        asked = {s.name for s in TASKS[5].subtasks_in(split)}
        eligible = [k for k, (_, n, _) in enumerate(patients) if n >= 2 and chr(ord("a") + n - 1) in asked]
        scenario = {k: str(rng.choice(["persist", "recur", "none"])) for k in range(len(patients))}
        for k, name in zip(rng.permutation(eligible), ("persist", "appear", "resolve")):
            scenario[int(k)] = name
        cohort[split] = [
            _patient(seed, split, pid, n, recon2, scenario[k]) for k, (pid, n, recon2) in enumerate(patients)
        ]
        cohort[split] += temporal_cohort_patients(seed, split)
        cohort[split] += screening_patients(seed, split)
    return cohort


__all__ = ["COURSES", "DRAWN_TEMPORAL_FINDINGS", "TEMPORAL_COHORT", "demo_cohort", "temporal_cohort_patients"]
