"""A PNG of one question: axial, coronal and sagittal views of its CT volume (and earlier scans) with the question.

Views follow the radiological display convention: axial slices seen from the feet (patient's right on the image's
left, anterior at the top), coronal seen from the front (head at the top, patient's right on the left), sagittal with
the head at the top and anterior on the left. Each view is drawn at the true aspect ratio from the voxel spacing, so
a 0.7 x 0.7 x 1.5 mm volume is not squashed. Every view cuts through the middle of the volume.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rad3d_hf.volumes.decode import image_path, read_volume, read_volume_header
from rad3d_hf.volumes.header import file_name_part
from rad3d_hf.volumes.orientation import dhw_spacing, orient_dhw

DISPLAY_WINDOW_HU: tuple[float, float] = (-1000.0, 600.0)  # lungs, soft tissue and bone visible at once


def volume_views(value: Any) -> tuple[np.ndarray, tuple[float, float, float] | None, str]:
    """The voxels of a row's ``volume`` value in ``(D, H, W)`` order, their spacing in mm (None for ``.npy``, which
    records none), and a label (the file's own name, also of an archive member)."""
    if hasattr(value, "dataobj"):
        affine, zooms = value.affine, value.header.get_zooms()[:3]
        label = os.path.basename(image_path(value) or "in-memory volume")
        return orient_dhw(read_volume(value), affine), dhw_spacing(zooms, affine), label
    if isinstance(value, Mapping):
        value = value["path"]
    path = os.fspath(value)
    header = read_volume_header(path)
    voxels = read_volume(path)
    label = os.path.basename(file_name_part(path))
    if header.affine is None:  # .npy: already (C, D, H, W) or (D, H, W), spacing unknown
        return voxels.reshape(voxels.shape[-3:]), None, label
    return orient_dhw(voxels, header.affine), dhw_spacing(header.spacing or (1.0, 1.0, 1.0), header.affine), label


def _display_range(voxels: np.ndarray) -> tuple[float, float]:
    low, high = float(voxels.min()), float(voxels.max())
    if low >= 0.0 and high <= 1.0:  # preprocessed M3D input
        return 0.0, 1.0
    return DISPLAY_WINDOW_HU


def render_question_figure(
    row: Mapping[str, Any], out: str | os.PathLike[str], *, dpi: int = 110, width_inches: float = 10.0
) -> Path:
    """Write the figure for a dataset row (``id``, ``question``, ``answer``, ``volume``; ``prior_volumes`` if any)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if row.get("volume") is None:
        raise ValueError(f"question {row.get('id')} has no volume: load the dataset with volumes_dir (or demo=True)")
    priors: Sequence[Any] = row.get("prior_volumes") or []
    names = list(row.get("prior_volume_names") or [])
    volumes = [*priors, row["volume"]]
    labels = [f"earlier scan {n}" for n in names[: len(priors)]] + [f"this scan {row.get('volume_name', '')}"]

    caption = _caption(row)
    caption_inches = 0.17 * (caption.count("\n") + 1) + 0.45
    height = 3.3 * len(volumes) + caption_inches
    figure, axes = plt.subplots(
        len(volumes), 3, figsize=(width_inches, height), squeeze=False,
        gridspec_kw={"wspace": 0.05, "hspace": 0.25},
    )  # fmt: skip
    for axes_row, value, label in zip(axes, volumes, labels):
        voxels, spacing, file_label = volume_views(value)
        if spacing is None:
            # The release's arrays record no spacing and fill 32 x 256 x 256 with the whole chest: drawn as a cube.
            sd, sh, sw = voxels.shape[2] / voxels.shape[0], voxels.shape[2] / voxels.shape[1], 1.0
            spacing_label = "spacing not recorded: drawn as a cube"
        else:
            sd, sh, sw = spacing
            spacing_label = f"{sd:.2g}x{sh:.2g}x{sw:.2g} mm"
        low, high = _display_range(voxels)
        d, h, w = (n // 2 for n in voxels.shape)
        views = [
            ("axial", voxels[d], sh / sw),
            ("coronal", voxels[:, h, :], sd / sw),
            ("sagittal", voxels[:, :, w], sd / sh),
        ]
        for ax, (name, plane, aspect) in zip(axes_row, views):
            ax.imshow(np.asarray(plane, dtype=np.float32), cmap="gray", vmin=low, vmax=high, aspect=aspect,
                      interpolation="bilinear")  # fmt: skip
            ax.set_title(f"{name}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        axes_row[0].set_ylabel(f"{label}\n{file_label}\n{spacing_label}", fontsize=8)

    figure.suptitle(caption, fontsize=9, x=0.02, ha="left", y=1 - 0.1 / height, va="top", family="monospace")
    figure.subplots_adjust(top=1 - caption_inches / height, left=0.12, right=0.99, bottom=0.02)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=dpi)
    plt.close(figure)
    return out


def _caption(row: Mapping[str, Any]) -> str:
    lines = [str(row.get("id", ""))]
    if row.get("task") is not None:
        lines[0] += f"   (task {row['task']}: {row.get('task_name', '')}, {row.get('subtask', '')})"
    lines += textwrap.wrap(f"Q: {row.get('question', '')}", 110)
    for letter, choice in zip("ABCD", row.get("choices") or []):
        lines.append(f"   {letter}. {choice}")
    answer = row.get("answer", "")
    if row.get("answer_choice"):
        answer = f"{row['answer_choice']}. {answer}"
    lines += textwrap.wrap(f"A: {answer}", 110)
    return "\n".join(lines)
