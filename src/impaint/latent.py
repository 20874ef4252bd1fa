"""Diverse completions: a stochastic latent added to Z, conditional-VAE style.

A coarse latent map w (latent_dim channels at 1/latent_stride resolution) is drawn from a
prior p(w | Z) at inference and from a posterior q(w | Z, full image) in training, with
KL(q || p) in the loss. The inductive bias: w is coarse, so samples differ in *structure*
(face shape, hair, lighting of a region), while the fine texture stays with the deterministic
Z and the decoder; each draw is decoded and composed, so known pixels stay exact.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from .metrics import l1, psnr
from .model import compose


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
        up = F.interpolate(self.inject(w.to(z.dtype)), size=z.shape[-2:], mode="bilinear",
                           align_corners=False)
        return z + up, kl


@torch.no_grad()
def sample_completions(model, image: torch.Tensor, mask: torch.Tensor, k: int,
                       seed: int = 0) -> torch.Tensor:
    """K completions of each image: (K, B, C, H, W), known pixels bit-exact in every one."""
    if model.latent is None:
        raise ValueError("this checkpoint has no stochastic latent (train one with "
                         "--set model.latent_dim=8)")
    if k < 1:
        raise ValueError(f"the number of samples must be positive, got {k}")
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    z0 = model.encoder(image, mask)
    out = []
    for _ in range(k):
        z, _ = model.latent(z0, image, posterior=False, generator=gen)
        mean, _ = model.split(model.decode_grid(z))
        out.append(compose(image, mask, mean.float().clamp(0, 1)))
    return torch.stack(out)


def diversity_fidelity(samples: torch.Tensor, images: torch.Tensor, masks: torch.Tensor
                       ) -> dict:
    """Mean pairwise L1 between samples on the hole (diversity), best-of-K and mean PSNR on
    the hole (fidelity). samples (K, N, C, H, W); images (N, C, H, W); masks (N, 1, H, W)."""
    k, n = samples.shape[:2]
    pair_l1, best, mean = [], [], []
    for i in range(n):
        hole = 1 - masks[i]
        scores = [psnr(samples[j, i], images[i], hole) for j in range(k)]
        best.append(max(scores))
        mean.append(sum(scores) / k)
        pair_l1 += [l1(samples[a, i], samples[b, i], hole)
                    for a, b in itertools.combinations(range(k), 2)]
    avg = lambda v: float(sum(v) / len(v)) if v else float("nan")  # noqa: E731
    return {"pairwise_l1_hole": avg(pair_l1), "best_of_k_psnr": avg(best),
            "mean_psnr": avg(mean), "samples": k, "images": n}


DIVERSITY_MASKS = (("box", "0.5"), ("random", "0.7"))


def diversity_report(model, images: torch.Tensor, k: int, seed: int, out, name: str,
                     grid_images: int = 6) -> str:
    """Diversity / fidelity of K samples on box 0.5 and random 0.7 (the evaluation masks),
    as Markdown; writes a grid (masked input, K samples, ground truth) per mask into `out`."""
    from .evaluate import evaluation_masks
    from .plots import image_grid, masked_for_display

    masks = evaluation_masks(images.shape[0], images.shape[-1], seed, ["box", "random"])
    lines = [f"### Diverse completions of {name}: {k} samples per image", "",
             "| mask | pairwise L1 on the hole | best-of-K PSNR | mean PSNR |", "|---|---|---|---|"]
    for key in DIVERSITY_MASKS:
        samples = torch.cat([sample_completions(model, images[i:i + 64], masks[key][i:i + 64],
                                                k, seed) for i in range(0, len(images), 64)], 1)
        r = diversity_fidelity(samples, images, masks[key])
        lines.append(f"| {key[0]} {key[1]} | {r['pairwise_l1_hole']:.4f} | "
                     f"{r['best_of_k_psnr']:.2f} dB | {r['mean_psnr']:.2f} dB |")
        if out is not None:
            shown = images[:grid_images]
            rows = [("masked\ninput", torch.stack([masked_for_display(i, m) for i, m in
                                                  zip(shown, masks[key][:grid_images])]))]
            rows += [(f"sample {j + 1}", samples[j, :grid_images]) for j in range(k)]
            rows.append(("ground\ntruth", shown))
            safe = name.replace(":", "_").replace("/", "_")
            image_grid(rows, out / f"samples_{safe}_{key[0]}_{key[1]}.png",
                       title=f"{name}: {k} samples, {key[0]} {key[1]}")
    return "\n".join(lines) + "\n"
