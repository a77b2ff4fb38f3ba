"""The screening patients: single-scan volumes asked only the Task 4 questions, so that the image can be learnt.

The longitudinal patients of ``findings.COHORT`` hold too few volumes (12 train, 10 test) for any model to learn a
finding from the pixels, and a finding that none of them shows leaves its Task 4 file with one answer only. The
screening patients fix both: ``SCREENING_PATIENTS[split]`` single-scan patients (ids from ``FIRST_ID[split]``), each
finding present in exactly half of them in a seeded order, independently of the other findings, so that the answer
prior is 50/50 in every Task 4 file and no finding predicts another. Like the published tables, where Task 4 covers
far more volumes than Tasks 1-3, they are asked no open questions; and with one scan they have no temporal question.

There are four times as many in train as in test: with 96 train volumes a small model fitted them (train balanced
accuracy near 1) and stayed far lower on test; with 384 it learns the findings rather than the volumes.
"""

from __future__ import annotations

from rad3d_hf.data.catalogue import FINDINGS
from rad3d_hf.demo.findings import PatientTruth, _patient, rng_for

SCREENING_PATIENTS: dict[str, int] = {"train": 384, "test": 24}
FIRST_ID: dict[str, int] = {"train": 301, "test": 3001}  # after the temporal cohort's ids
_SCREENING_KEY = {"train": 11, "test": 12}


def screening_patients(seed: int, split: str) -> list[PatientTruth]:
    """The screening patients of ``split`` for ``seed``: each finding present in exactly half of them."""
    n = SCREENING_PATIENTS.get(split, 0)
    rng = rng_for(seed, _SCREENING_KEY[split])
    present = {finding: set(rng.permutation(n)[: n // 2].tolist()) for finding in FINDINGS}
    patients = []
    for k in range(n):
        labels = {finding: [k in chosen] for finding, chosen in present.items()}
        # "persist" draws a nodule on the one scan, "resolve" leaves that scan without one
        scenario = "persist" if labels["Lung nodule"][0] else "resolve"
        patients.append(_patient(seed, split, FIRST_ID[split] + k, 1, (), scenario, given_labels=labels))
    return patients


__all__ = ["FIRST_ID", "SCREENING_PATIENTS", "screening_patients"]
