"""Decoders: from the latent map Z to pixel values.

`Decoder` is the seed's coordinate MLP f(x ⊕ Z(x)), queried at any (x, y) in [-1, 1]^2 (pixel
centres in the `align_corners=False` convention); `ConvDecoder` decodes grids only. liif.py
builds its local-ensemble decoder on `Decoder`; network.py picks one by name.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig


class Decoder(nn.Module):
    """MLP f(x ⊕ Z(x)) -> pixel value; the same weights serve any set of coordinates."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.use_coords = cfg.use_coords
        dims = [cfg.width + (2 if cfg.use_coords else 0)] + [cfg.hidden] * cfg.depth
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        # A probabilistic decoder returns a mean and a raw scale per channel: (..., 2C).
        self.out = nn.Linear(cfg.hidden, cfg.channels * (2 if cfg.probabilistic else 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        # features: (..., [2 +] C_z) -> (..., C); the last axis is the MLP input.
        h = features
        for layer in self.hidden:
            h = F.relu(layer(h), inplace=True)
        # Predict around mid-grey so the untrained model starts near the data mean.
        return self.out(h) + 0.5


class ConvDecoder(nn.Module):
    """3x3 convolutions on Z -> pixel values: decodes grids only, no coordinate queries."""

    use_coords = False

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        dims = [cfg.width] + [cfg.hidden] * cfg.depth
        self.hidden = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1)
                                    for a, b in zip(dims[:-1], dims[1:]))
        self.out = nn.Conv2d(cfg.hidden, cfg.channels * (2 if cfg.probabilistic else 1), 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = z  # (B, C_z, H, W)
        for layer in self.hidden:
            h = F.relu(layer(h), inplace=True)
        return self.out(h) + 0.5




def pixel_centres(height: int, width: int, device=None) -> torch.Tensor:
    """(H*W, 2) coordinates (x, y) of pixel centres in [-1, 1], row-major order."""
    ys = (torch.arange(height, device=device, dtype=torch.float32) * 2 + 1) / height - 1
    xs = (torch.arange(width, device=device, dtype=torch.float32) * 2 + 1) / width - 1
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y], dim=-1).reshape(-1, 2)


def crop_to(x: torch.Tensor, size) -> torch.Tensor:
    """(B, C, H', W') -> its top-left (B, C, H, W), H <= H', W <= W'. A view; in an exported
    graph a gather, which traces for any size (a slice traced with an even example is taken
    for the whole map, and the graph then fails on odd sides)."""
    h, w = size
    if torch.compiler.is_exporting():
        x = x.index_select(-2, torch.arange(h, device=x.device))
        return x.index_select(-1, torch.arange(w, device=x.device))
    return x[..., :h, :w]
