"""Diverse completions: a stochastic latent added to Z, conditional-VAE style.

A coarse latent map w (latent_dim channels at 1/latent_stride resolution) is drawn from a
prior p(w | Z) at inference and from a posterior q(w | Z, full image) in training, with
KL(q || p) in the loss. The inductive bias: w is coarse, so samples differ in *structure*
(face shape, hair, lighting of a region), while the fine texture stays with the deterministic
Z and the decoder; each draw is decoded and composed, so known pixels stay exact
(`sample_completions` in network.py). The evaluation of diversity is evaluation/diversity.py.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .decoders import crop_to


class StochasticLatent(nn.Module):
    def __init__(self, width: int, channels: int, latent_dim: int, stride: int):
        super().__init__()
        self.stride = stride
        self.prior = nn.Conv2d(width, 2 * latent_dim, 3, padding=1)
        # Training only: it sees the whole image, which inference never has.
        self.posterior = nn.Conv2d(width + channels, 2 * latent_dim, 3, padding=1)
        self.inject = nn.Conv2d(latent_dim, width, 1)

    def forward(self, z: torch.Tensor, image: torch.Tensor, posterior: bool,
                generator: torch.Generator | None = None):
        """-> (Z + upsampled inject(w), KL per latent value or None)."""
        pooled = F.avg_pool2d(z, self.stride, ceil_mode=True)  # (B, C_z, h, w)
        mu_p, logvar_p = self.prior(pooled).float().clamp(-10, 10).chunk(2, dim=1)
        kl = None
        if posterior:
            seen = F.avg_pool2d(image - 0.5, self.stride, ceil_mode=True).to(pooled.dtype)
            mu_q, logvar_q = self.posterior(torch.cat([pooled, seen], 1)).float() \
                .clamp(-10, 10).chunk(2, dim=1)
            w = mu_q + torch.exp(0.5 * logvar_q) * torch.randn_like(mu_q)
            kl = 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2)
                        / logvar_p.exp() - 1).mean()
        elif generator is not None:
            noise = torch.randn(mu_p.shape, generator=generator, device="cpu").to(mu_p.device)
            w = mu_p + torch.exp(0.5 * logvar_p) * noise
        else:
            w = mu_p  # no generator: the prior's mean, a deterministic completion
        # by the stride, then cropped to Z's size: aligned with the ceil-pooled cells on any
        # side (Encoder.forward says why)
        up = F.interpolate(self.inject(w.to(z.dtype)), scale_factor=self.stride,
                           mode="bilinear", align_corners=False)
        return z + crop_to(up, z.shape[-2:]), kl
