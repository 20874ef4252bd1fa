"""The model's configuration: saved inside every checkpoint, so that `load_model(path)`
rebuilds the network from the file alone."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass
class ModelConfig:
    channels: int = 3  # image channels C
    width: int = 48  # channels at full resolution (stem, block 1), and C_z (Z's channels)
    # Channels of the blocks at half resolution (0 = `width`). Wide where pixels are few: at a
    # quarter of the positions, 96 channels cost less than 88 at full size, and the budget goes
    # to the blocks that see far. 1x1 convolutions change width at the transitions.
    coarse_width: int = 96
    dilations: tuple[int, ...] = (1, 2, 4)  # one ResBlock per entry; dilation widens the view
    # Resolution divisor of each ResBlock. Blocks 2-3 at half resolution cost a quarter of the
    # FLOPs and see twice as far (a 32-px box hole needs a ~60-px receptive field); their
    # output is upsampled and added to the full-resolution block, so Z stays at full size.
    strides: tuple[int, ...] = (1, 2, 2)
    # A spectral branch in each half-resolution block (encoder.FourierUnit, LaMa's fast Fourier
    # convolution): a view as wide as the image in one layer, the alternative to the pipeline's
    # pyramid for holes wider than the blocks' ~60 px (docs/any-size.md compares the two).
    fourier: bool = False
    hidden: int = 128  # decoder MLP hidden width
    depth: int = 4  # decoder MLP hidden layers
    use_coords: bool = True  # feed x to the decoder next to Z(x)
    probabilistic: bool = False  # decoder also predicts a per-pixel σ (Gaussian NLL training)
    # "mlp": the seed's coordinate MLP; "liif": the same MLP as a LIIF local ensemble (liif.py);
    # "conv": 3x3 convolutions on Z, no coordinates (`hidden` channels, `depth` 3x3 layers).
    decoder: str = "mlp"
    # "implicit": network.ImplicitInpainter; "unet": unet.GatedUNet (the ablation's baseline).
    arch: str = "implicit"
    latent_dim: int = 0  # > 0: a stochastic latent for diverse completions (see latent.py)
    latent_stride: int = 4  # the latent map's resolution divisor: coarse, structural changes

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def grid(self) -> int:
        """The model's coarsest pooling grid, in px: every stride of the encoder, and the
        stochastic latent's, divides it (the U-Net halves twice). A crop whose corner is a
        multiple of it pools into the cells a whole-image pass has; a side under it is too
        short for a pooling kernel in OpenVINO."""
        if self.arch == "unet":
            return 4
        return math.lcm(*self.strides, self.latent_stride if self.latent_dim > 0 else 1)

    def check_strides(self, multiples: bool = True) -> None:
        """ValueError unless the encoder can run `strides`: one per dilation, from 1, and with
        `multiples` (training) each a multiple of the one before (it pools by their ratio:
        (1, 2, 1) failed at the first step, (1, 2, 3) pooled by 1 and upsampled by 3, its map
        misaligned; a checkpoint trained so before this check still loads, without it)."""
        s = self.strides
        if len(s) != len(self.dilations) or not s or s[0] != 1:
            raise ValueError("model.strides must match model.dilations and start at 1 (full "
                             f"resolution), got {s} and {self.dilations}")
        if multiples and any(b < a or b % a for a, b in zip(s, s[1:])):
            raise ValueError(f"model.strides must each be a multiple of the one before (1,2,2 "
                             f"or 1,2,4), got {','.join(map(str, s))}")

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        d = dict(d)
        # Checkpoints from before coarse_width had one width for every block.
        d.setdefault("coarse_width", 0)
        for key in ("dilations", "strides"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)
