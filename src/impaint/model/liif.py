"""A LIIF-style local decoder (Chen et al., "Learning Continuous Image Representation with
Local Implicit Image Function"), for the ablation: instead of reading Z bilinearly at x and
feeding the absolute x, it feeds each of the 4 latent codes around x with the *relative*
offset from that code (in pixels), and blends the 4 predictions by the area of the opposite
cell (the local ensemble), so the output is continuous in x.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .decoders import Decoder


class LocalDecoder(Decoder):
    """The seed's MLP, fed (relative offset ⊕ nearest code) instead of (x ⊕ Z(x))."""

    def grid(self, z: torch.Tensor) -> torch.Tensor:
        """At Z's own pixel centres every offset is 0 and the code's own weight is 1."""
        feats = z.permute(0, 2, 3, 1)  # (B, H, W, C_z)
        zeros = feats.new_zeros(*feats.shape[:-1], 2)
        return self(torch.cat([zeros, feats], dim=-1)).permute(0, 3, 1, 2)

    def query(self, z: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """(B, C_z, H, W), (B, N, 2) -> (B, N, C) by the local ensemble."""
        size = torch.tensor([z.shape[-1], z.shape[-2]], device=z.device, dtype=coords.dtype)
        preds, areas = [], []
        for vx in (-1, 1):
            for vy in (-1, 1):
                # The code half a pixel away in each direction. Beyond the border the code is
                # virtual: the edge's features at the virtual position, so that the ensemble
                # weights stay exact (at a pixel centre, the centre's own code gets weight 1).
                shifted = coords + torch.tensor([vx, vy], device=z.device) / size + 1e-6
                idx = torch.floor((shifted + 1) / 2 * size)  # (B, N, 2) code column, row
                code_xy = (2 * idx + 1) / size - 1
                inside = (2 * torch.minimum(idx.clamp_min(0), size - 1) + 1) / size - 1
                feat = F.grid_sample(z.float(), inside.float().unsqueeze(1), mode="nearest",
                                     align_corners=False).to(z.dtype).squeeze(2).transpose(1, 2)
                # (in fp32: positions in bf16 pick a neighbour's code past 256 px a side)
                rel = (coords - code_xy) * size / 2  # (B, N, 2), in pixels
                preds.append(self(torch.cat([rel.to(feat.dtype), feat], dim=-1)))
                areas.append((rel[..., 0] * rel[..., 1]).abs() + 1e-9)
        total = sum(areas)
        # Each code's prediction is weighted by the area of the cell diagonally opposite.
        return sum(p * (a / total).unsqueeze(-1).to(p.dtype)
                   for p, a in zip(preds, reversed(areas)))
