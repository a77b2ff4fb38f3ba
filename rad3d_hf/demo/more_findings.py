"""The nine findings the first demo phantoms left as labels only, drawn where a radiologist would look for them.

Each has one place in the patient's own anatomy and one look, both plain at the demo's coarse grid (about 5.7 mm in
plane, 7.5 mm between slices), so that a model that reads the image can tell it from the other findings:

- Atelectasis: a collapsed, soft-tissue band at the anterior base of the right lung.
- Bronchiectasis: dilated air-filled bronchi with thin walls, running front to back in the right middle lobe.
- Hiatal hernia: a gas-and-fluid-filled sac below the heart, left of the midline, above the diaphragm.
- Interlobular septal thickening: a reticular grid of thickened septa in the periphery of both lower lobes.
- Lung opacity: a ground-glass region (-550 HU) in the anterior right upper lobe.
- Lymphadenopathy: enlarged soft-tissue nodes bulging into both lungs at the hila.
- Mosaic attenuation pattern: lobular patches of low and high lung attenuation across both lungs.
- Peribronchial thickening: thick soft-tissue cuffs around the lower-lobe bronchi, running head to foot.
- Pulmonary fibrotic sequela: dense apical caps of scar at the top of both lungs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rad3d_hf.demo.findings import Ellipsoid, PatientTruth, ScanTruth

ATELECTASIS_HU = 25
GROUND_GLASS_HU = -550
MOSAIC_LOW_HU, MOSAIC_HIGH_HU = -930, -720
SEPTAL_HU = -450
SCAR_HU = -150
FLUID_HU = 12
AIR_HU = -1000
SOFT_TISSUE_HU = 40

# Findings this module draws (the others are drawn by ``phantoms.render_scan``).
DRAWN_HERE: tuple[str, ...] = (
    "Atelectasis",
    "Bronchiectasis",
    "Hiatal hernia",
    "Interlobular septal thickening",
    "Lung opacity",
    "Lymphadenopathy",
    "Mosaic attenuation pattern",
    "Peribronchial thickening",
    "Pulmonary fibrotic sequela",
)


def paint_lung_patterns(canvas: Any, patient: PatientTruth, scan: ScanTruth, lung_mask: np.ndarray) -> None:
    """Findings that change the lung parenchyma itself; painted before effusions, consolidation and nodules."""
    a = patient.anatomy
    x, y, z = canvas.x, canvas.y, canvas.z
    if scan.has("Mosaic attenuation pattern"):
        # 35 mm lobular cells, alternately darker and brighter than normal lung
        cell = ((np.floor(x / 35.0) + np.floor(y / 35.0) + np.floor(z / 35.0)) % 2).astype(bool)
        cell = np.broadcast_to(cell, lung_mask.shape)
        canvas.hu[lung_mask & cell] = MOSAIC_LOW_HU
        canvas.hu[lung_mask & ~cell] = MOSAIC_HIGH_HU
    if scan.has("Interlobular septal thickening"):
        for lung in a.lungs.values():
            # the outer lung, short of the pleura: the lung still borders the chest wall, effusion or not
            r2 = lung.normalised(x, y, z)
            periphery = (r2 > 0.5) & (r2 < 0.8) & (z < lung.centre[2])
            grid = (np.abs((x % 17.0) - 8.5) > 5.5) | (np.abs((y % 17.0) - 8.5) > 5.5)
            canvas.hu[lung_mask & np.broadcast_to(periphery & grid, lung_mask.shape)] = SEPTAL_HU
    if scan.has("Pulmonary fibrotic sequela"):
        for lung in a.lungs.values():
            apex = lung.centre[2] + 0.62 * lung.semi[2]
            canvas.hu[lung_mask & np.broadcast_to(z > apex, lung_mask.shape)] = SCAR_HU
    if scan.has("Lung opacity"):
        right = a.lungs["right"]
        patch = Ellipsoid(
            (right.centre[0], right.centre[1] + 0.45 * right.semi[1], right.centre[2] + 55.0), (32, 26, 32)
        )
        inside = np.broadcast_to(patch.normalised(x, y, z) <= 1.0, lung_mask.shape)
        canvas.hu[lung_mask & inside] = GROUND_GLASS_HU


def paint_structures(canvas: Any, patient: PatientTruth, scan: ScanTruth, lung_mask: np.ndarray) -> None:
    """Findings that add structures (collapse, airways, nodes, a hernia); painted before nodules."""
    a = patient.anatomy
    x, y, z = canvas.x, canvas.y, canvas.z
    right, left = a.lungs["right"], a.lungs["left"]
    if scan.has("Atelectasis"):
        band = Ellipsoid(
            (right.centre[0], right.centre[1] + 0.5 * right.semi[1], a.basal_z("right") - 12.0), (34, 22, 18)
        )
        inside = np.broadcast_to(band.normalised(x, y, z) <= 1.0, lung_mask.shape)
        canvas.hu[lung_mask & inside] = ATELECTASIS_HU
    if scan.has("Lymphadenopathy"):
        for lung, dz in ((right, 5.0), (left, 15.0)):
            medial_x = lung.centre[0] - np.sign(lung.centre[0]) * (lung.semi[0] - 10.0)
            node = Ellipsoid((medial_x, lung.centre[1], lung.centre[2] + dz), (14.0, 14.0, 16.0))
            canvas.hu[np.broadcast_to(node.normalised(x, y, z) <= 1.0, lung_mask.shape)] = SOFT_TISSUE_HU
    if scan.has("Bronchiectasis"):
        cz = a.basal_z("right") + 45.0
        for dx in (-16.0, 0.0, 16.0):
            cx = right.centre[0] + dx
            tube = np.broadcast_to(((x - cx) ** 2 + (z - cz) ** 2) + 0.0 * y, lung_mask.shape)
            along = np.broadcast_to(np.abs(y - (right.centre[1] + 25.0)) < 30.0, lung_mask.shape)
            canvas.hu[lung_mask & along & (tube <= 8.5**2)] = SOFT_TISSUE_HU
            canvas.hu[lung_mask & along & (tube <= 6.5**2)] = AIR_HU
    if scan.has("Peribronchial thickening"):
        for lung in (right, left):
            for dx in (-14.0, 14.0):
                cx, cy = lung.centre[0] + dx, lung.centre[1] - 0.45 * lung.semi[1]
                tube = np.broadcast_to((x - cx) ** 2 + (y - cy) ** 2 + 0.0 * z, lung_mask.shape)
                along = np.broadcast_to((z > lung.centre[2] - 80.0) & (z < lung.centre[2] - 15.0), lung_mask.shape)
                canvas.hu[lung_mask & along & (tube <= 9.0**2)] = SOFT_TISSUE_HU
                canvas.hu[lung_mask & along & (tube <= 3.0**2)] = AIR_HU
    if scan.has("Hiatal hernia"):
        heart = a.heart
        centre = (heart.centre[0] + 8.0, heart.centre[1] - 30.0, heart.centre[2] - heart.semi[2] - 12.0)
        sac = Ellipsoid(centre, (24.0, 20.0, 18.0))
        inside = np.broadcast_to(sac.normalised(x, y, z) <= 1.0, canvas.hu.shape)
        canvas.hu[inside] = FLUID_HU
        gas = inside & np.broadcast_to(z > centre[2] - 4.0, canvas.hu.shape)
        canvas.hu[gas & np.broadcast_to(sac.normalised(x, y, z, margin=4.0) <= 1.0, canvas.hu.shape)] = AIR_HU


__all__ = ["DRAWN_HERE", "paint_lung_patterns", "paint_structures"]
