"""Configuration of M3D-RAD: a 3D ViT (MONAI) + spatial-pooling projector + any causal language model.

Defaults are M3D-LaMed's: a 1x32x256x256 input cut into 4x16x16 patches (8x16x16 = 2,048 patches), a 768-wide
12-layer ViT, a 2x2x2 average pool (4x8x8 = 256 image tokens) and a two-layer MLP into the language model's width.
``max_prior_volumes > 0`` makes the temporal variant, which also reads up to that many earlier scans of the patient
(:mod:`.temporal`); the default 0 is M3D-LaMed's single-scan model.
"""

from __future__ import annotations

from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec


class M3DRadVisionConfig(PreTrainedConfig):
    """The 3D vision tower: ``monai.networks.nets.ViT`` arguments, named the transformers way.

    ``image_size`` and ``patch_size`` are (depth, height, width); every image size must be a multiple of its patch
    size, and the patch grid a multiple of the projector's pooling size. ``pixel_mean`` and ``pixel_std`` standardise
    the input inside the model, ``(x - pixel_mean) / pixel_std``, as SAM and Detectron2 keep theirs: the defaults
    (0, 1) leave it as M3D-LaMed reads it, so released checkpoints are unchanged.
    """

    model_type = "m3d_rad_vision"
    base_config_key = "vision_config"

    in_channels: int = 1
    image_size: list[int] | tuple[int, ...] = (32, 256, 256)
    patch_size: list[int] | tuple[int, ...] = (4, 16, 16)
    hidden_size: int = 768
    intermediate_size: int = 3072
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    dropout_rate: float = 0.0
    qkv_bias: bool = False
    pixel_mean: float = 0.0
    pixel_std: float = 1.0

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        self.image_size = [int(s) for s in self.image_size]
        self.patch_size = [int(s) for s in self.patch_size]
        if len(self.image_size) != 3 or len(self.patch_size) != 3:
            raise ValueError(
                f"image_size and patch_size must have 3 entries (D, H, W), got {self.image_size} and {self.patch_size}"
            )
        for size, patch in zip(self.image_size, self.patch_size):
            if patch <= 0 or size % patch:
                raise ValueError(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
        self.pixel_mean, self.pixel_std = float(self.pixel_mean), float(self.pixel_std)
        if not self.pixel_std > 0:
            raise ValueError(f"pixel_std must be positive, got {self.pixel_std}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not divisible by num_attention_heads {self.num_attention_heads}"
            )

    @property
    def patch_grid(self) -> tuple[int, int, int]:
        """Patches along (D, H, W): (8, 16, 16) for M3D's input."""
        d, h, w = (s // p for s, p in zip(self.image_size, self.patch_size))
        return d, h, w


# where image features are written: on the image tokens (ours), or at positions 1..N (M3D-LaMed's code)
IMAGE_PLACEMENTS: tuple[str, ...] = ("image_tokens", "after_first_token")


class M3DRadConfig(PreTrainedConfig):
    """M3D-RAD: ``vision_config`` (:class:`M3DRadVisionConfig`), ``text_config`` (any causal LM config).

    Args:
        pooling_size: the projector's 3D average-pool kernel and stride (2 in M3D).
        projector_hidden_act: activation between the projector's two linear layers (GELU in M3D).
        image_token_id: id of ``<im_patch>``; its positions in ``input_ids`` receive the image features.
        image_placement: where the current scan's features go: ``"image_tokens"`` (models trained here: on the
            ``<im_patch>`` positions) or ``"after_first_token"`` (released M3D-LaMed checkpoints: M3D's code writes
            them at positions 1..N of each sequence whatever the tokens there are, so with a tokenizer that adds no
            BOS, as Phi-3's now does, the first ``<im_patch>`` stays a token and the first prompt token after the
            image is overwritten; its models were trained so, and read them there).
        max_prior_volumes: how many earlier scans the model reads besides the current one (0: the single-scan
            model). Each scan's features get a learned time-position embedding (one per scans-back distance,
            initialised at zero).
        prior_pooling_size: the average-pool kernel for earlier scans, an int or (D, H, W); ``None`` pools them like
            the current scan. A stronger pool bounds the context, e.g. (2, 4, 4) gives 64 tokens per earlier scan
            on M3D's 8x16x16 patch grid.
    """

    model_type = "m3d_rad"
    sub_configs_defaults = {
        "vision_config": M3DRadVisionConfig,
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="llama"),
    }

    vision_config: dict | PreTrainedConfig | None = None
    text_config: dict | PreTrainedConfig | None = None
    pooling_size: int = 2
    projector_hidden_act: str = "gelu"
    image_token_id: int | None = None
    image_placement: str = "image_tokens"
    tie_word_embeddings: bool = False
    max_prior_volumes: int = 0
    prior_pooling_size: int | list[int] | tuple[int, ...] | None = None

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        grid = self.vision_config.patch_grid
        if any(g % self.pooling_size for g in grid):
            raise ValueError(f"the patch grid {list(grid)} is not a multiple of pooling_size {self.pooling_size}")
        if self.image_placement not in IMAGE_PLACEMENTS:
            raise ValueError(f"image_placement={self.image_placement!r}; expected one of {', '.join(IMAGE_PLACEMENTS)}")
        if self.image_placement == "after_first_token" and self.max_prior_volumes:
            raise ValueError(
                "image_placement='after_first_token' (M3D-LaMed's) places one scan only: max_prior_volumes must be 0"
            )
        self.tie_word_embeddings = bool(getattr(self.text_config, "tie_word_embeddings", False))
        if isinstance(self.max_prior_volumes, bool) or int(self.max_prior_volumes) < 0:
            raise ValueError(f"max_prior_volumes must be a non-negative int, got {self.max_prior_volumes!r}")
        self.max_prior_volumes = int(self.max_prior_volumes)
        if self.prior_pooling_size is not None:
            kernel = self.prior_pooling_size
            kernel = [int(kernel)] * 3 if isinstance(kernel, int) else [int(k) for k in kernel]
            if len(kernel) != 3 or any(k <= 0 or g % k for g, k in zip(grid, kernel)):
                raise ValueError(
                    f"prior_pooling_size {self.prior_pooling_size!r} must be an int or 3 ints dividing the patch "
                    f"grid {list(grid)}"
                )
            self.prior_pooling_size = kernel

    @property
    def image_token_grid(self) -> tuple[int, int, int]:
        """Image tokens along (D, H, W) after pooling: (4, 8, 8) for M3D."""
        d, h, w = (g // self.pooling_size for g in self.vision_config.patch_grid)
        return d, h, w

    @property
    def num_image_tokens(self) -> int:
        """How many ``<im_patch>`` tokens one image fills: 256 for M3D."""
        d, h, w = self.image_token_grid
        return d * h * w

    @property
    def prior_pooling_kernel(self) -> tuple[int, int, int]:
        """The pool kernel (D, H, W) of earlier scans."""
        kernel = self.prior_pooling_size if self.prior_pooling_size is not None else [self.pooling_size] * 3
        d, h, w = (int(k) for k in kernel)
        return d, h, w

    @property
    def num_prior_image_tokens(self) -> int:
        """How many ``<im_patch>`` tokens one earlier scan fills (``num_image_tokens`` unless pooled harder)."""
        d, h, w = (g // k for g, k in zip(self.vision_config.patch_grid, self.prior_pooling_kernel))
        return d * h * w


__all__ = ["IMAGE_PLACEMENTS", "M3DRadConfig", "M3DRadVisionConfig"]
