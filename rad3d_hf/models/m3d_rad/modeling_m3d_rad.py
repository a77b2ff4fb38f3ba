"""M3D-RAD: M3D-LaMed's architecture as a transformers model that batches and pads correctly.

``pixel_values`` (B, 1, D, H, W) in [0, 1] -> MONAI ViT (CLS token kept through the blocks, dropped from the output)
-> patch features on the (D/pd, H/ph, W/pw) grid -> 3D average pool -> Linear, GELU, Linear -> one embedding per
``<im_patch>`` token. The features replace the embeddings at the positions where ``input_ids`` holds the image token
id, wherever those are, so left padding, right padding and batched generation all work; M3D-LaMed instead overwrote
positions 1..256 by position and dropped the attention mask, which is only right for unpadded batches of one.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from transformers import AutoModelForCausalLM, GenerationMixin, PreTrainedModel
from transformers.activations import ACT2FN
from transformers.modeling_outputs import CausalLMOutputWithPast

from rad3d_hf.models.m3d_rad.configuration_m3d_rad import M3DRadConfig, M3DRadVisionConfig
from rad3d_hf.models.m3d_rad.patch_feature_cache import PatchFeatureCache
from rad3d_hf.models.m3d_rad.temporal import ScanPositionEmbedding, scan_features


def build_vision_tower(config: M3DRadVisionConfig) -> nn.Module:
    """MONAI's 3D ViT with M3D-LaMed's arguments and parameter names, without the parts M3D never used.

    MONAI creates a classification head and a cross-attention norm per block that M3D's copy of the ViT does not
    have; both are removed, since they would receive no gradient (DistributedDataParallel rejects such parameters)
    and released checkpoints carry no weights for them.
    """
    from monai.networks.nets import ViT

    vit = ViT(
        in_channels=config.in_channels,
        img_size=tuple(config.image_size),
        patch_size=tuple(config.patch_size),
        hidden_size=config.hidden_size,
        mlp_dim=config.intermediate_size,
        num_layers=config.num_hidden_layers,
        num_heads=config.num_attention_heads,
        proj_type="perceptron",
        classification=True,
        dropout_rate=config.dropout_rate,
        spatial_dims=3,
        qkv_bias=config.qkv_bias,
    )
    # MONAI's forward applies the head only `if hasattr(self, "classification_head")`, and the cross-attention
    # norm only when the block was built with cross attention, so deleting both leaves the features unchanged.
    del vit.classification_head
    for block in vit.blocks:
        del block.norm_cross_attn
    return vit


def _after_first_token(
    inputs_embeds: torch.Tensor, rows: list[torch.Tensor], attention_mask: torch.Tensor | None
) -> torch.Tensor:
    """Each row's features at positions start+1..start+N, ``start`` its first attended token (M3D-LaMed's layout)."""
    length = inputs_embeds.shape[1]
    merged = []
    for b, features in enumerate(rows):
        start = 0 if attention_mask is None else int(torch.argmax(attention_mask[b].to(torch.int64)))
        end = start + 1 + features.shape[0]
        if end > length:
            raise ValueError(
                f"row {b}: {features.shape[0]} image features after position {start} pass its {length} tokens"
            )
        row = inputs_embeds[b]
        merged.append(torch.cat([row[: start + 1], features.to(row.device, row.dtype), row[end:]]))
    return torch.stack(merged)


class M3DRadProjector(nn.Module):
    """Spatial pooling projector: patch grid -> ``pooling_size`` average pool -> Linear, act, Linear."""

    def __init__(self, config: M3DRadConfig) -> None:
        super().__init__()
        vision = config.vision_config
        text_hidden = config.text_config.hidden_size
        self.patch_grid = vision.patch_grid
        self.pooling_size = config.pooling_size
        self.projector = nn.Sequential(
            nn.Linear(vision.hidden_size, text_hidden),
            ACT2FN[config.projector_hidden_act],
            nn.Linear(text_hidden, text_hidden),
        )

    def forward(self, patch_features: torch.Tensor, kernel: int | tuple[int, int, int] | None = None) -> torch.Tensor:
        """Pool (by ``kernel``, default ``pooling_size``) and project; ``kernel`` is how earlier scans pool harder."""
        batch, num_patches, width = patch_features.shape
        d, h, w = self.patch_grid
        if num_patches != d * h * w:
            raise ValueError(f"expected {d * h * w} patch features ({d}x{h}x{w}), got {num_patches}")
        # MONAI orders patches D-major then H then W, so this reshape puts each patch back at its grid position.
        grid = patch_features.transpose(1, 2).reshape(batch, width, d, h, w)
        kernel = self.pooling_size if kernel is None else kernel
        # Pooled in float32: CPU torch has no bfloat16 avg_pool3d, and CUDA accumulates in float32 anyway.
        pooled = F.avg_pool3d(grid.float(), kernel_size=kernel, stride=kernel).to(grid.dtype)
        return self.projector(pooled.flatten(2).transpose(1, 2))


class M3DRadPreTrainedModel(PreTrainedModel):
    config_class = M3DRadConfig
    config: M3DRadConfig
    base_model_prefix = "m3d_rad"
    main_input_name = "input_ids"
    input_modalities = ("image", "text")
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True
    _no_split_modules = ["TransformerBlock"]

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        # MONAI initialises these itself; re-initialise them so models built under `from_pretrained`'s empty
        # weights (missing keys) still start from MONAI's distributions.
        if hasattr(module, "cls_token") and isinstance(module.cls_token, nn.Parameter):
            nn.init.zeros_(module.cls_token)
        if hasattr(module, "position_embeddings") and isinstance(module.position_embeddings, nn.Parameter):
            nn.init.trunc_normal_(module.position_embeddings, mean=0.0, std=0.02, a=-2.0, b=2.0)
        # Zero: a single-scan checkpoint loaded into the temporal variant starts as the single-scan model.
        if isinstance(module, ScanPositionEmbedding):
            nn.init.zeros_(module.weight)


class M3DRadForCausalLM(M3DRadPreTrainedModel, GenerationMixin):
    """Vision tower + projector + causal language model; ``generate(input_ids, pixel_values=..., attention_mask=...)``.

    Parameters live under ``vision_tower.*`` (MONAI ViT names), ``mm_projector.projector.{0,2}.*`` and
    ``language_model.*`` (the language model's own names); :mod:`.checkpoint_keys` maps M3D-LaMed checkpoints on them.
    With ``config.max_prior_volumes > 0`` the model also takes earlier scans (``prior_pixel_values``,
    ``prior_mask``; see :mod:`.temporal`) and has one more parameter, ``scan_positions.weight``.
    """

    def __init__(self, config: M3DRadConfig) -> None:
        super().__init__(config)
        self.vision_tower = build_vision_tower(config.vision_config)
        self.mm_projector = M3DRadProjector(config)
        self.scan_positions = ScanPositionEmbedding(config) if config.max_prior_volumes > 0 else None
        self.language_model = AutoModelForCausalLM.from_config(config.text_config)
        self.patch_feature_cache: PatchFeatureCache | None = None
        self.post_init()

    def cache_patch_features(self, max_items: int | None = 1024) -> None:
        """Compute each distinct image's ViT features once and reuse them (``None``: stop and forget them).

        For a frozen vision tower fed the same preprocessed volumes again and again (fine-tuning without
        augmentation). A tower that could change its output is a RuntimeError at the next forward.
        """
        self.patch_feature_cache = None if max_items is None else PatchFeatureCache(max_items)

    # Embedding accessors delegate to the language model so resize_token_embeddings and peft work unchanged.
    def get_input_embeddings(self) -> nn.Module:
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.language_model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module:
        return self.language_model.get_output_embeddings()

    def set_output_embeddings(self, value: nn.Module) -> None:
        self.language_model.set_output_embeddings(value)

    def get_decoder(self) -> nn.Module:
        return self.language_model.get_decoder()

    def get_patch_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, C, D, H, W) images -> (B, num_patches, vision hidden size) ViT features, CLS token dropped."""
        expected = (self.config.vision_config.in_channels, *self.config.vision_config.image_size)
        if pixel_values.ndim != 5 or tuple(pixel_values.shape[1:]) != expected:
            raise ValueError(
                f"pixel_values must have shape (batch, {', '.join(map(str, expected))}), "
                f"got {tuple(pixel_values.shape)}"
            )
        if self.patch_feature_cache is not None:
            return self.patch_feature_cache.features(self.vision_tower, pixel_values, self._patch_features)
        return self._patch_features(pixel_values)

    def _patch_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        pixel_values = pixel_values.to(dtype=self.vision_tower.norm.weight.dtype)
        vision = self.config.vision_config
        if (vision.pixel_mean, vision.pixel_std) != (0.0, 1.0):
            pixel_values = (pixel_values - vision.pixel_mean) / vision.pixel_std
        hidden, _ = self.vision_tower(pixel_values)
        return hidden[:, 1:]  # as M3D's "patch" feature selection does

    def get_image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, C, D, H, W) images -> (B, num_image_tokens, text hidden size) embeddings."""
        return self.mm_projector(self.get_patch_features(pixel_values))

    def merge_image_features(
        self,
        input_ids: torch.Tensor,
        inputs_embeds: torch.Tensor,
        image_features: torch.Tensor | list[torch.Tensor],
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Write ``image_features`` into ``inputs_embeds`` where ``input_ids`` holds the image token, row by row.

        ``image_features`` is (B, N, hidden), or one (N_i, hidden) tensor per row when rows carry different numbers
        of scans. With ``config.image_placement == "after_first_token"`` (released M3D-LaMed checkpoints) they go
        at positions 1..N of each row's sequence instead, counted from its first attended token (rows are padded on
        the left for generation), as M3D's code writes them.
        """
        image_token_id = self.config.image_token_id
        if image_token_id is None:
            raise ValueError("config.image_token_id is not set: the model cannot place image features")
        mask = input_ids == image_token_id
        per_row = mask.sum(dim=1)
        rows = list(image_features)
        expected = [int(r.shape[0]) for r in rows]
        if input_ids.shape[0] != len(rows) or per_row.tolist() != expected:
            needed = f"exactly {expected[0]}" if len(set(expected)) == 1 else f"exactly {expected} (per row)"
            raise ValueError(
                f"each row needs {needed} image tokens (id {image_token_id}) for its images; "
                f"found {per_row.tolist()} in {input_ids.shape[0]} rows for {len(rows)} rows of image features"
            )
        if self.config.image_placement == "after_first_token":
            return _after_first_token(inputs_embeds, rows, attention_mask)
        features = torch.cat(rows).to(device=inputs_embeds.device, dtype=inputs_embeds.dtype)
        return inputs_embeds.masked_scatter(mask.unsqueeze(-1), features)

    def prepare_inputs_for_generation(
        self, *args, inputs_embeds=None, is_first_iteration: bool | None = False, **kwargs
    ):
        # Earlier scans, like pixel_values, are read at prefill only; later steps use the cache. `inputs_embeds` is
        # named so generate() accepts embeddings (answering a volume's questions from image features computed once).
        inputs = super().prepare_inputs_for_generation(
            *args, inputs_embeds=inputs_embeds, is_first_iteration=is_first_iteration, **kwargs
        )
        if not is_first_iteration and kwargs.get("use_cache", True):
            inputs.pop("prior_pixel_values", None)
            inputs.pop("prior_mask", None)
        return inputs

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        prior_pixel_values: torch.Tensor | None = None,
        prior_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache=None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs,
    ) -> CausalLMOutputWithPast:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        if inputs_embeds is None:
            inputs_embeds = self.get_input_embeddings()(input_ids)
            if pixel_values is not None:
                image_features = scan_features(self, pixel_values, prior_pixel_values, prior_mask)
                inputs_embeds = self.merge_image_features(input_ids, inputs_embeds, image_features, attention_mask)
            elif prior_pixel_values is not None:
                raise ValueError("prior_pixel_values need the current scan's pixel_values")
        elif pixel_values is not None:
            raise ValueError("pixel_values need input_ids to locate the image tokens; got inputs_embeds instead")
        return self.language_model(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            labels=labels,
            use_cache=use_cache,
            logits_to_keep=logits_to_keep,
            **kwargs,
        )


__all__ = ["M3DRadForCausalLM", "M3DRadPreTrainedModel", "M3DRadProjector", "build_vision_tower"]
