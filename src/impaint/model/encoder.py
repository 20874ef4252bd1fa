"""The encoder: (masked image, mask) -> the latent map Z at full resolution, (B, C_z, H, W).

A 3x3 stem, then residual blocks of dilated 3x3 convolutions, those of stride > 1 on an
average-pooled map (optionally wider, and with LaMa's spectral branch), upsampled and added
back to the full-resolution one. The decoders that read Z are decoders.py and liif.py;
network.py puts the two together.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .decoders import crop_to


class FourierUnit(nn.Module):
    """LaMa's spectral branch: a 1x1 convolution (then ReLU) on the 2-D spectrum of the feature
    map mixes every position with every other, a receptive field as wide as the image.
    (B, C, H, W) -> the same shape. The FFT runs in fp32: there is no bf16 FFT on CPU."""

    def __init__(self, width: int):
        super().__init__()
        self.conv = nn.Conv2d(2 * width, 2 * width, 1)  # real and imaginary parts, stacked

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        with torch.autocast(x.device.type, enabled=False):
            f = torch.fft.rfft2(x.float(), norm="ortho")  # (B, C, H, W // 2 + 1) complex
            f = F.relu(self.conv(torch.cat([f.real, f.imag], dim=1)))
            real, imag = f.chunk(2, dim=1)
            y = torch.fft.irfft2(torch.complex(real, imag), s=(h, w), norm="ortho")
        return y.to(x.dtype)


class ResBlock(nn.Module):
    """Two 3x3 convolutions with a skip; padding keeps the full resolution. With `fourier`, a
    FourierUnit beside them sees the whole image."""

    def __init__(self, width: int, dilation: int, fourier: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv2d(width, width, 3, padding=dilation, dilation=dilation)
        self.spectral = FourierUnit(width) if fourier else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.relu(x)
        out = x + self.conv2(F.relu(self.conv1(a), inplace=True))
        return out if self.spectral is None else out + self.spectral(a)


class Encoder(nn.Module):
    """(masked image, mask) -> latent map Z at full resolution."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        cfg.check_strides(multiples=False)  # training checks more (train.config.check_config)
        self.strides = cfg.strides
        coarse = cfg.coarse_width or cfg.width
        self.stem = nn.Conv2d(cfg.channels + 1, cfg.width, 3, padding=1)
        self.blocks = nn.ModuleList(ResBlock(cfg.width if s == 1 else coarse, d,
                                             cfg.fourier and s != 1)
                                    for d, s in zip(cfg.dilations, cfg.strides))
        same = coarse == cfg.width or all(s == 1 for s in cfg.strides)
        self.down = nn.Identity() if same else nn.Conv2d(cfg.width, coarse, 1)
        self.up = nn.Identity() if same else nn.Conv2d(coarse, cfg.width, 1)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # Centre the known pixels on 0 so that a hole (0 after masking) reads as "grey,
        # unknown" rather than "black"; the mask channel says which is which.
        x = self.stem(torch.cat([(image - 0.5) * mask, mask], dim=1))  # (B, C_z, H, W)
        full_res, stride = x, 1
        for block, s in zip(self.blocks, self.strides):
            if s != stride:
                x = F.avg_pool2d(x, s // stride, ceil_mode=True) if s > stride else x
                x = self.down(x) if stride == 1 else x
                stride = s
            x = block(x)
            if stride == 1:
                full_res = x
        if stride != 1:
            # 1x1 before upsampling: the same linear map, at a quarter of the positions.
            # By the stride, then cropped: on an odd side the ceil-pooled map has one cell
            # more than half, and resizing it to the side would shift every cell a little
            # (up to a pixel at the far edge); an even side is the same either way.
            up = F.interpolate(self.up(x), scale_factor=stride, mode="bilinear",
                               align_corners=False)
            x = full_res + crop_to(up, full_res.shape[-2:])
        return F.relu(x)  # (B, C_z, H, W)
