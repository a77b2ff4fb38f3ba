"""Earlier scans in M3D-RAD: one vision tower pass for every scan of a batch, and the time-position embedding.

The temporal variant (``config.max_prior_volumes > 0``) reads up to that many earlier scans of the patient besides
the current one. The same vision tower and projector encode all of them (earlier scans optionally pooled harder,
``config.prior_pooling_size``); each scan's features then get a learned embedding of how many scans back it lies
(0 for the current scan, 1 for the latest earlier one, ...). The embedding starts at zero, so a single-scan
checkpoint loaded into the temporal architecture computes exactly what it computed before; rows without earlier
scans are the single-scan model's inputs.

Batches carry earlier scans as ``prior_pixel_values`` (B, P, C, D, H, W), zero-padded, with ``prior_mask`` (B, P)
True where a slot holds a scan; a row's scans are its True slots in order, oldest first. The prompt holds one image
token span per scan in that order, the current scan's last (see ``M3DRadProcessor.prompt_text``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rad3d_hf.models.m3d_rad.configuration_m3d_rad import M3DRadConfig


class ScanPositionEmbedding(nn.Module):
    """One learned vector per scans-back distance (0 = current scan), added to every token of that scan.

    A bare parameter rather than an ``nn.Embedding``, so generic embedding initialisation never touches it: it is
    zero until trained (``M3DRadPreTrainedModel._init_weights`` zeroes it for weights a checkpoint lacks).
    """

    def __init__(self, config: M3DRadConfig) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(config.max_prior_volumes + 1, config.text_config.hidden_size))

    def forward(self, scans_back: torch.Tensor) -> torch.Tensor:
        return self.weight[scans_back]


def prior_counts(prior_mask: torch.Tensor | None, batch: int, limit: int) -> torch.Tensor:
    """Earlier scans per row from ``prior_mask`` (zeros without one); more than ``limit`` is a ValueError."""
    if prior_mask is None:
        return torch.zeros(batch, dtype=torch.long)
    if prior_mask.ndim != 2 or prior_mask.shape[0] != batch:
        raise ValueError(f"prior_mask must have shape (batch={batch}, slots), got {tuple(prior_mask.shape)}")
    counts = prior_mask.sum(dim=1).long().cpu()
    if bool((counts > limit).any()):
        raise ValueError(
            f"rows carry up to {int(counts.max())} earlier scans but the model reads at most {limit} "
            "(config.max_prior_volumes)"
        )
    return counts


def scan_features(
    model: Any,
    pixel_values: torch.Tensor,
    prior_pixel_values: torch.Tensor | None = None,
    prior_mask: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """Per row, the image features in prompt order: its earlier scans' (oldest first), then the current scan's.

    ``model`` is an ``M3DRadForCausalLM``. All scans of the batch go through the vision tower together.
    """
    config: M3DRadConfig = model.config
    batch = pixel_values.shape[0]
    if (prior_pixel_values is None) != (prior_mask is None):
        raise ValueError("pass prior_pixel_values and prior_mask together")
    counts = prior_counts(prior_mask, batch, config.max_prior_volumes)
    if prior_pixel_values is not None and prior_pixel_values.shape[:2] != prior_mask.shape:
        raise ValueError(
            f"prior_pixel_values {tuple(prior_pixel_values.shape)} do not match prior_mask "
            f"{tuple(prior_mask.shape)} in their first two dimensions"
        )
    if int(counts.sum()) == 0:
        current = model.get_image_features(pixel_values)
        if model.scan_positions is not None:
            current = current + model.scan_positions(torch.zeros((), dtype=torch.long, device=current.device))
        return list(current)
    priors = prior_pixel_values[prior_mask.to(prior_pixel_values.device)]
    patches = model.get_patch_features(torch.cat([pixel_values, priors.to(pixel_values.dtype)]))
    current = model.mm_projector(patches[:batch])
    earlier = model.mm_projector(patches[batch:], kernel=config.prior_pooling_kernel)
    positions = model.scan_positions
    current = current + positions(torch.zeros((), dtype=torch.long, device=current.device))
    rows, offset = [], 0
    for i, n in enumerate(counts.tolist()):
        scans_back = torch.arange(n, 0, -1, device=current.device)
        mine = earlier[offset : offset + n] + positions(scans_back)[:, None, :]
        offset += n
        rows.append(torch.cat([mine.flatten(0, 1), current[i]]))
    return rows


def add_prior_volumes(model: Any, *, max_prior_volumes: int, prior_pooling_size: int | list[int] | None = None) -> Any:
    """Turn a single-scan ``M3DRadForCausalLM`` (e.g. a released M3D-LaMed checkpoint) into the temporal variant.

    In place: the config records the earlier-scan settings and the model gains a zero time-position embedding, on
    the model's device and dtype, so it still computes what it computed before. ``save_pretrained`` then writes the
    temporal model, which ``AutoModelForCausalLM.from_pretrained`` reloads as such.
    """
    if max_prior_volumes <= 0:
        raise ValueError(f"max_prior_volumes must be positive, got {max_prior_volumes}")
    if getattr(model, "scan_positions", None) is not None:
        raise ValueError("the model already reads earlier scans (config.max_prior_volumes > 0)")
    config = model.config
    # A copy validates the settings against the geometry before anything changes (the model's own sub-configs,
    # which hold its attention implementation, are left alone).
    settings = M3DRadConfig.from_dict(
        {**config.to_dict(), "max_prior_volumes": max_prior_volumes, "prior_pooling_size": prior_pooling_size}
    )
    config.max_prior_volumes = settings.max_prior_volumes
    config.prior_pooling_size = settings.prior_pooling_size
    reference = model.mm_projector.projector[0].weight
    model.scan_positions = ScanPositionEmbedding(config).to(device=reference.device, dtype=reference.dtype)
    return model


__all__ = ["ScanPositionEmbedding", "add_prior_volumes", "prior_counts", "scan_features"]
