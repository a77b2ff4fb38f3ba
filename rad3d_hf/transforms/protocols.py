"""Named input protocols: how the CT reaches a model, as published setups describe it, and how to reproduce it here.

A number on 3D-RAD means little without the input behind it: the official M3D evaluation feeds the released
``(1, 32, 256, 256)`` arrays as they are, a 2D model may see 32 grey slices of those arrays or 85 HU-windowed RGB
slices of the CT-RATE NIfTI. Each :class:`InputProtocol` states its source, what the model sees, the package settings
that reproduce it (:meth:`InputProtocol.build` gives the :class:`~rad3d_hf.transforms.m3d.M3DTransform` or
:class:`~rad3d_hf.transforms.slices.SliceRenderer`), whether that reproduction is exact, and where it differs or the
source is silent. A results record names its protocol (:func:`protocol_record`, :func:`protocol_for_params`).

Sources were read at these versions: 3D-RAD's ``M3D/Bench/eval/eval_3DRAD.py``; kaiko-ai/eva pull request 1030 (its
description; the code was not read); Hulu-Med ``src/hulumed/mm_utils.py`` (ZJUI-AI4H/Hulu-Med, commit 5bc9d57);
MedGemma 1.5 ``notebooks/high_dimensional_ct_hugging_face.ipynb`` (Google-Health/medgemma, commit d89262c).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from rad3d_hf.transforms.m3d import M3D_SIZE

Kind = Literal["native-3d", "slices"]
NPY = "the released .npy arrays (1, 32, 256, 256) in [0, 1] (3D-RAD Images/test.zip)"
NIFTI = "CT-RATE NIfTI volumes in Hounsfield units"


@dataclass(frozen=True)
class InputProtocol:
    """One way a CT volume reaches a model, with its source and its reproduction in this package."""

    name: str
    title: str
    kind: Kind
    source: str
    volumes: str
    what_the_model_sees: str
    settings: Mapping[str, Any]
    exact: bool
    differences: tuple[str, ...] = ()

    def build(self) -> Any:
        """The package object that makes this input: an ``M3DTransform`` or a ``SliceRenderer``."""
        if self.kind == "native-3d":
            from rad3d_hf.transforms.m3d import M3DTransform

            return M3DTransform(size=self.settings["size"])
        from rad3d_hf.transforms.slices import SliceRenderer

        options = {k: v for k, v in self.settings.items() if k not in ("renderer", "preset")}
        return SliceRenderer(self.settings["preset"], **options)


PROTOCOLS: dict[str, InputProtocol] = {
    p.name: p
    for p in (
        InputProtocol(
            "m3d-release",
            "Official M3D / M3D-RAD input: the released arrays, native 3D",
            "native-3d",
            "3D-RAD M3D/Bench/eval/eval_3DRAD.py (github.com/Tang-xiaoxiao/3D-RAD): np.load, ToTensor only",
            NPY,
            "the whole (1, 32, 256, 256) array as released: 32 axial slices of 256 x 256 on a fixed [0, 1] scale",
            {"transform": "m3d", "size": list(M3D_SIZE), "volume_format": "npy"},
            True,
            ("how 3D-RAD turned the CT-RATE volumes into these arrays (window, crop, orientation) is not published",),
        ),
        InputProtocol(
            "m3d-recipe",
            "M3D's own preprocessing of the CT-RATE NIfTI, native 3D",
            "native-3d",
            "M3D's data preparation (github.com/BAAI-DCAI/M3D); rad3d_hf.transforms.m3d.M3DTransform defaults",
            NIFTI,
            "per-volume min-max to [0, 1], foreground crop, trilinear resize to (1, 32, 256, 256)",
            {"transform": "m3d", "size": list(M3D_SIZE), "volume_format": "nifti"},
            True,
            (
                "M3D's code never reorients; the package reorients NIfTI volumes to axes I, P, L first",
                "not the released arrays: their conversion is unpublished, so the two inputs may differ",
            ),
        ),
        InputProtocol(
            "eva-32-slices",
            "kaiko-ai/eva's 3D-RAD loader: the released arrays' 32 slices as images",
            "slices",
            "kaiko-ai/eva pull request 1030 (github.com/kaiko-ai/eva/pull/1030; open when read)",
            NPY,
            "all 32 ordered axial slices (axis 1) as 256 x 256 images on the fixed [0, 1] scale, values outside "
            "[0, 1] clipped",
            {"renderer": "slices", "preset": "unit", "num_slices": 32, "size": 256, "sampling": "uniform"},
            False,
            (
                "eva gives 3-channel images (the grey value in each channel); the renderer gives 8-bit grey ('L') "
                "images with the same values: convert('RGB') if the model wants three channels",
                "how eva scales the [0, 1] values to pixels (8-bit or float) is not stated in the pull request",
                "eva covers the closed questions (Tasks 4-6) only; its prompt and answer parsing were not read",
                "eva's optional num_slices subsampling rule is not stated; 32 (all slices) is the default",
            ),
        ),
        InputProtocol(
            "hulu-med-nifti",
            "Hulu-Med's NIfTI path: evenly spaced slices, min-max per slice",
            "slices",
            "Hulu-Med slice_nifti_to_images, src/hulumed/mm_utils.py (github.com/ZJUI-AI4H/Hulu-Med, commit 5bc9d57)",
            NIFTI,
            "np.linspace(0, n - 1, 180, dtype=int) slices along the file's third axis, each min-max scaled to "
            "0-255 on its own and truncated to uint8, as RGB; the model's processor resizes them",
            {"renderer": "slices", "preset": "minmax", "num_slices": 85, "size": 448, "sampling": "uniform"},
            False,
            (
                "the renderer's 'minmax' scales per volume; Hulu-Med scales each slice on its own",
                "the renderer gives at most 85 slices; Hulu-Med's default is 180 (and it repeats slices of a "
                "shorter volume)",
                "the renderer picks bin centres; Hulu-Med np.linspace from the first to the last slice",
                "the renderer reorients to an axial radiological view; Hulu-Med slices the array as stored",
                "how many slices (and which image size) Hulu-Med's reported 3D-RAD results used is not published",
            ),
        ),
        InputProtocol(
            "medgemma-ct",
            "MedGemma 1.5's CT notebook: up to 85 RGB slices from three HU windows",
            "slices",
            "Google-Health/medgemma notebooks/high_dimensional_ct_hugging_face.ipynb (commit d89262c)",
            NIFTI,
            "up to 85 axial slices (instance round(i * (n - 1) / 85) for i = 1..85), RGB = HU windows "
            "R -1024..1024 (WW 2048 / WL 0), G -135..215 (WW 350 / WL 40), B 0..80 (WW 80 / WL 40), rounded to "
            "uint8, JPEG at native size; Gemma 3's processor resizes to 896 x 896; each image followed by 'SLICE k'",
            {"renderer": "slices", "preset": "medgemma", "num_slices": 85, "size": 896, "sampling": "uniform"},
            False,
            (
                "the renderer picks bin centres; the notebook picks round(i * (n - 1) / 85), i = 1..85 (skips the "
                "first slice, keeps the last)",
                "no JPEG compression here; one bilinear resize to 896 here, the processor's resize there",
                "the 'SLICE k' captions and the instruction are prompt text: the package's image-text answerer "
                "uses the model's chat template and adds no captions",
                "some descriptions give the red window as WW 2250 / WL -100 (-1225..1025 HU); the notebook's code "
                "clips to -1024..1024, as the 'medgemma' preset does",
            ),
        ),
    )
}


def get_protocol(name: str) -> InputProtocol:
    """The protocol called ``name``; an unknown name is a ValueError listing the known ones."""
    if name not in PROTOCOLS:
        near = difflib.get_close_matches(name, list(PROTOCOLS), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ValueError(f"unknown input protocol {name!r}{hint}; known: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def protocol_record(
    protocol: str | InputProtocol, *, params: Mapping[str, Any] | None = None, volume_format: str | None = None
) -> dict[str, Any]:
    """The results record's ``input_protocol``: the protocol's name, kind, source and fidelity, and the ``params``
    the run actually used (every parameter the renderer or transform records; default: the protocol's settings)."""
    found = get_protocol(protocol) if isinstance(protocol, str) else protocol
    return {
        "name": found.name,
        "title": found.title,
        "kind": found.kind,
        "source": found.source,
        "volumes": found.volumes,
        "exact": found.exact,
        "differences": list(found.differences),
        "params": dict(params) if params is not None else dict(found.settings),
        "volume_format": volume_format or found.settings.get("volume_format"),
    }


def match_protocol(params: Mapping[str, Any]) -> str | None:
    """The protocol whose settings ``params`` carry (``SliceRenderer.params()``, ``M3DTransform.params()`` or the
    ``<output>.params.json`` predict.py writes), or None for a custom input."""
    volume_format = params.get("volume_format")
    if params.get("renderer") == "slices":
        if params.get("preset") == "auto":  # what "auto" chose decides
            params = {**params, "preset": params.get("auto_choice")}
        for protocol in PROTOCOLS.values():
            wanted = protocol.settings
            same = all(params.get(k) == wanted.get(k) for k in ("preset", "num_slices", "size", "sampling"))
            if protocol.kind == "slices" and same and not params.get("montage"):
                return protocol.name
        return None
    if params.get("recipe") not in (None, "m3d"):
        return None
    if params.get("window") is not None or params.get("crop_foreground") is False:
        return None
    if "size" in params and list(params["size"]) != list(M3D_SIZE):
        return None
    return {"npy": "m3d-release", "nifti": "m3d-recipe"}.get(str(volume_format))


def protocol_for_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The ``input_protocol`` of a run from the parameters it recorded: the matching protocol's record with these
    ``params``, or a ``"custom"`` record holding them."""
    params = {k: v for k, v in params.items() if k not in ("model", "max_new_tokens", "system_prompt")}
    name = match_protocol(params)
    if name is not None:
        return protocol_record(name, params=params, volume_format=params.get("volume_format"))
    kind = "slices" if params.get("renderer") == "slices" else "native-3d"
    return {"name": "custom", "kind": kind, "params": params, "volume_format": params.get("volume_format")}


def protocol_table() -> str:
    """The protocols as a Markdown table: name, what the model sees, how to reproduce it, source."""
    lines = [
        "| protocol | kind | volumes | what the model sees | rad3d-hf settings | exact | source |",
        "|" + "---|" * 7,
    ]
    for p in PROTOCOLS.values():
        settings = ", ".join(f"{k}={v}" for k, v in p.settings.items())
        cells = (p.name, p.kind, p.volumes, p.what_the_model_sees, settings, "yes" if p.exact else "no", p.source)
        lines.append("| " + " | ".join(f"`{c}`" if c == p.name else c for c in cells) + " |")
    return "\n".join(lines)


__all__ = [
    "PROTOCOLS",
    "InputProtocol",
    "get_protocol",
    "match_protocol",
    "protocol_for_params",
    "protocol_record",
    "protocol_table",
]
