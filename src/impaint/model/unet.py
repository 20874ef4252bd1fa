"""The standard learned baseline at the same budget: a U-Net of gated convolutions.

Gated convolutions (DeepFill v2) learn a soft, per-channel mask next to each feature map, the
usual answer to "a hole is not an image". No coordinates, no implicit decoder: the network
maps (masked image, mask) straight to pixels at its own resolution. It offers the interface
of ImplicitInpainter that training, evaluation and `inpaint` use, so it is a config
(`model.arch=unet`), not a fork.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GatedConv(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, 2 * cout, 3, stride, padding=dilation, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feature, gate = self.conv(x).chunk(2, dim=1)
        return F.elu(feature) * torch.sigmoid(gate)


class GatedUNet(nn.Module):
    """32 -> 16 -> 8 -> 16 -> 32 px with skips; 32 / 64 / 96 channels: ≈ 5.0e5 parameters."""

    latent = None  # no stochastic latent

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        c1, c2, c3 = 32, 64, 96
        self.inp = GatedConv(cfg.channels + 1, c1)
        self.down1 = GatedConv(c1, c2, stride=2)
        self.down2 = GatedConv(c2, c3, stride=2)
        self.mid = GatedConv(c3, c3, dilation=2)  # widens the view at the coarsest scale
        self.up1 = GatedConv(c3 + c2, 48)
        self.up2 = GatedConv(48 + c1, c1)
        self.out = nn.Conv2d(c1, cfg.channels, 3, padding=1)

    def encode(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The whole network: its 'latent' is the predicted image itself, (B, C, H, W)."""
        x1 = self.inp(torch.cat([(image - 0.5) * mask, mask], dim=1))
        x2 = self.down1(x1)
        x3 = self.mid(self.down2(x2))
        up = F.interpolate(x3, size=x2.shape[-2:], mode="nearest")
        y = self.up1(torch.cat([up, x2], dim=1))
        y = self.up2(torch.cat([F.interpolate(y, size=x1.shape[-2:], mode="nearest"), x1], 1))
        return self.out(y) + 0.5

    def decode_grid(self, z: torch.Tensor) -> torch.Tensor:
        return z

    def decode_holes(self, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return z  # "encode" already decoded every pixel

    def render(self, z: torch.Tensor, height: int, width: int, on_chunk=None) -> torch.Tensor:
        """The model's interface (`ImplicitInpainter.render`): one bicubic resize, no chunks."""
        if (height, width) == tuple(z.shape[-2:]):
            return z
        return F.interpolate(z, size=(height, width), mode="bicubic", align_corners=False)

    def split(self, raw: torch.Tensor):
        return raw, None

    def forward(self, image, mask, with_sigma: bool = False, with_kl: bool = False,
                holes_of=None, scale: int = 1):  # the interface of ImplicitInpainter.forward
        if scale != 1:
            raise ValueError("the gated U-Net renders at its input size only")
        pred = self.encode(image, mask)
        if with_kl:
            return pred, None, None
        return (pred, None) if with_sigma else pred
