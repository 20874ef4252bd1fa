"""An optional adversarial loss: a small PatchGAN discriminator with the hinge loss.

MSE rewards the average of all plausible fills, which is blurred; a discriminator that judges
local patches of the composed image rewards sharp, plausible texture instead (at some cost in
PSNR, which is why the ablation also shows grids). Off by default (`adv_weight = 0`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..model.checkpoint import load_optimizer_state, optimizer_tensors


class PatchDiscriminator(nn.Module):
    """(image, mask) -> a map of real/fake logits, one per ~10-px patch."""

    def __init__(self, channels: int = 3, width: int = 32):
        super().__init__()
        # Spectral normalisation keeps the discriminator Lipschitz: stable hinge training.
        self.layers = nn.ModuleList([
            spectral_norm(nn.Conv2d(channels + 1, width, 3, padding=1)),
            spectral_norm(nn.Conv2d(width, 2 * width, 4, stride=2, padding=1)),
            spectral_norm(nn.Conv2d(2 * width, 4 * width, 4, stride=2, padding=1)),
            spectral_norm(nn.Conv2d(4 * width, 1, 3, padding=1))])

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = torch.cat([image - 0.5, mask], dim=1)
        for layer in self.layers[:-1]:
            x = F.leaky_relu(layer(x), 0.2)
        return self.layers[-1](x)


class Adversary:
    """The discriminator, its optimiser and the two hinge losses."""

    def __init__(self, channels: int, device, lr: float, tensors: dict | None = None):
        self.disc = PatchDiscriminator(channels).to(device)
        self.opt = torch.optim.AdamW(self.disc.parameters(), lr=lr, betas=(0.5, 0.999))
        if tensors:  # resume: the discriminator's weights and Adam moments (bit for bit)
            weights = {k[5:]: v for k, v in tensors.items() if k.startswith("disc.")}
            if weights:
                self.disc.load_state_dict(weights)
                # its lr never changes: the param groups are the ones just built
                load_optimizer_state(self.opt, tensors, None, prefix="disc_optim")

    def generator_loss(self, composed: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return -self.disc(composed.float(), mask).mean()

    def step(self, real: torch.Tensor, fake: torch.Tensor, mask: torch.Tensor) -> float:
        """One discriminator update: hinge loss on real images vs. composed fills."""
        self.opt.zero_grad(set_to_none=True)  # also drops what the generator step left
        loss = F.relu(1 - self.disc(real.float(), mask)).mean() + \
            F.relu(1 + self.disc(fake.detach().float(), mask)).mean()
        loss.backward()
        self.opt.step()
        return float(loss.detach())

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {**{f"disc.{k}": v.detach().cpu() for k, v in self.disc.state_dict().items()},
                **optimizer_tensors(self.opt, prefix="disc_optim")}
