"""Turn a CT volume into M3D's model input: a float32 ``(1, 32, 256, 256)`` array in [0, 1], axes ``(C, D, H, W)``.

The default recipe is M3D's own preprocessing (the recipe its vision tower was trained with): per-volume min-max
normalisation to [0, 1], MONAI-style foreground crop (voxels above the volume's minimum, no margin) and trilinear
resize to 32x256x256 (``torch.nn.functional.interpolate(mode="trilinear", align_corners=False)``, which is what MONAI's
``Resize(mode="bilinear")`` runs in 3D). An optional HU window clips the voxels first. The order is fixed:

    reorient -> clip to the window (optional) -> min-max normalise -> crop foreground -> resize

Resize-then-normalise would differ from normalise-then-resize only if the normalisation were not affine; it is, so the
implementation gathers the voxels it needs from the raw volume and normalises the small result, which is equal to the
recipe up to float32 rounding and never materialises a float copy of the full volume.

Orientation (documented because M3D's code never reorients and 3D-RAD's conversion is unpublished): volumes with an
affine are reoriented so that ``D`` runs from the head to the feet, ``H`` from anterior to posterior and ``W`` from the
patient's right to left (axis codes ``I, P, L``). Each ``[d]`` slice is then an axial image in the radiological
convention (seen from the feet: the patient's right on the image's left, anterior at the top) and the stack reads
like a chest CT series scrolled from the top. A plain array is taken to be in ``(D, H, W)`` order already.

For 2D image-text models, :class:`~rad3d_hf.transforms.slices.SliceRenderer` renders N axial slices of the same
orientation with named HU window presets (:data:`~rad3d_hf.transforms.slices.PRESETS`) as PIL images or a montage.
"""

from rad3d_hf.transforms.augment import M3DAugment
from rad3d_hf.transforms.m3d import M3D_SIZE, RECIPE_VERSION, M3DTransform
from rad3d_hf.transforms.resize import resize_trilinear
from rad3d_hf.transforms.slices import PRESETS, SliceRenderer, preset_table
from rad3d_hf.volumes.orientation import DHW_AXIS_CODES, dhw_spacing, orient_dhw

__all__ = [
    "DHW_AXIS_CODES",
    "M3D_SIZE",
    "PRESETS",
    "RECIPE_VERSION",
    "M3DAugment",
    "M3DTransform",
    "SliceRenderer",
    "dhw_spacing",
    "orient_dhw",
    "preset_table",
    "resize_trilinear",
]
