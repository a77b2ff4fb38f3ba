"""Small NIfTI files written into a test's tmp_path (shared by the volume, transform and cache tests)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

LPS_AFFINE = np.array([[-0.8, 0.0, 0.0, 100.0], [0.0, -0.8, 0.0, 90.0], [0.0, 0.0, 2.0, -50.0], [0.0, 0.0, 0.0, 1.0]])


def ct_like(shape: tuple[int, int, int] = (24, 20, 12), *, seed: int = 0) -> np.ndarray:
    """A small int16 HU volume: -1024 field-of-view border, noisy body, one bright block."""
    rng = np.random.default_rng(seed)
    volume = np.full(shape, -1024, dtype=np.int16)
    x, y, z = shape
    volume[2 : x - 3, 3 : y - 2, 1 : z - 1] = rng.integers(-900, 400, size=(x - 5, y - 5, z - 2), dtype=np.int16)
    volume[x // 2 : x // 2 + 2, y // 3 : y // 3 + 2, z // 2] = 1500
    return volume


def write_nifti(path: Path, data: np.ndarray, affine: np.ndarray = LPS_AFFINE, **header: float) -> Path:
    image = nib.Nifti1Image(data, affine)
    for key, value in header.items():
        image.header[key] = value
    nib.save(image, path)
    return path


METADATA_HEADER = (
    "VolumeName,Manufacturer,SeriesDescription,ManufacturerModelName,PatientSex,PatientAge,ReconstructionDiameter,"
    "DistanceSourceToDetector,DistanceSourceToPatient,GantryDetectorTilt,TableHeight,RotationDirection,ExposureTime,"
    "XRayTubeCurrent,Exposure,FilterType,GeneratorPower,FocalSpots,ConvolutionKernel,PatientPosition,RevolutionTime,"
    "SingleCollimationWidth,TotalCollimationWidth,TableSpeed,TableFeedPerRotation,SpiralPitchFactor,"
    "DataCollectionCenterPatient,ReconstructionTargetCenterPatient,ExposureModulationType,CTDIvol,"
    "ImagePositionPatient,ImageOrientationPatient,SliceLocation,SamplesPerPixel,PhotometricInterpretation,Rows,"
    "Columns,XYSpacing,RescaleIntercept,RescaleSlope,RescaleType,NumberofSlices,ZSpacing,StudyDate"
)


def metadata_row(name: str, xy: str = "[0.341796875, 0.341796875]", intercept: str = "-1024", slope: str = "1") -> str:
    """One CSV line of CT-RATE's metadata (the values of valid_1_a_1 unless given)."""
    fields = dict.fromkeys(METADATA_HEADER.split(","), "")
    fields.update(
        VolumeName=name,
        Manufacturer="SIEMENS",
        PatientSex="M",
        PatientAge="066Y",
        Rows="1024",
        Columns="1024",
        XYSpacing=f'"{xy}"',
        RescaleIntercept=intercept,
        RescaleSlope=slope,
        RescaleType="HU",
        NumberofSlices="251",
        ZSpacing="1.5",
        StudyDate="20200101",
    )
    return ",".join(fields.values())


def metadata_csv(tmp_path: Path, *rows: str) -> Path:
    """A ``validation_metadata.csv`` with CT-RATE's header and ``rows``."""
    path = tmp_path / "validation_metadata.csv"
    path.write_text("\n".join([METADATA_HEADER, *rows]) + "\n")
    return path
