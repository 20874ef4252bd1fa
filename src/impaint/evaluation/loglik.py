"""A log-likelihood comparable with the neural-process literature (CelebA 32x32).

Protocol, after the Neural-Process-Family image benchmark: for each test image, a context set
of a uniformly drawn fraction (0 to 30 %) of the pixels is kept; the model predicts a Gaussian
for *every* pixel (targets = the whole grid, context included), and the log-likelihood of all
C·H·W values is summed per image, then averaged over images.

Differences from the published setting, stated with every figure we print:
- pixel values in [0, 1]. A density on [-1, 1] is lower by log 2 per value (3072 · log 2 =
  2129 nats per 32x32x3 image); we print the figure under both scalings;
- our preprocessing: a centred 140/178-width crop resized to 32 px with antialiasing;
- our model is trained on holes only, so its σ at context pixels was never fitted;
- evaluated on the valid split (the test split is kept for a final evaluation).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .protocol import mask_seed
from .metrics import mean_ci95

PUBLISHED = {"CNP": 2559.7, "AttnCNP": 4828.3, "ConvCNP": 4767.9}  # nats / image, CelebA32
MAX_CONTEXT = 0.3


def context_mask(size: int | tuple[int, int], rng: torch.Generator,
                 max_context: float = MAX_CONTEXT) -> torch.Tensor:
    """(1, H, W) (`size` = H = W, or (H, W)): a uniformly drawn fraction f ~ U(0,
    max_context) of pixels known. A square draw is what it always was (the published
    figures' masks)."""
    h, w = (size, size) if isinstance(size, int) else size
    f = float(torch.rand(1, generator=rng)) * max_context
    n_known = int(f * h * w)
    order = torch.randperm(h * w, generator=rng)
    mask = torch.zeros(h * w)
    mask[order[:n_known]] = 1.0
    return mask.view(1, h, w)


def gaussian_loglik(mean: torch.Tensor, sigma: torch.Tensor, target: torch.Tensor
                    ) -> torch.Tensor:
    """Sum of per-value Gaussian log-densities over all but the first axis. -> (N,)."""
    mu, s, x = mean.double(), sigma.double(), target.double()
    logp = -torch.log(s) - 0.5 * math.log(2 * math.pi) - (x - mu) ** 2 / (2 * s**2)
    return logp.flatten(1).sum(1)


@torch.no_grad()
def loglik_per_image(model, images: torch.Tensor, seed: int = 0, batch: int = 64
                     ) -> np.ndarray:
    """Log-likelihood (nats, [0, 1] scaling) of every image under the NP protocol."""
    if not model.cfg.probabilistic:
        raise ValueError("the log-likelihood needs a probabilistic checkpoint "
                         "(train with --set model.probabilistic=true)")
    model.eval()
    size = tuple(images.shape[-2:])  # (H, W): native images need not be square
    masks = torch.stack([context_mask(size, torch.Generator().manual_seed(
        mask_seed(seed, i, "np-context", "0-0.3"))) for i in range(images.shape[0])])
    device = next(model.parameters()).device  # where evaluate --device put the model
    out = []
    for i in range(0, images.shape[0], batch):
        mean, sigma = model.forward_dist(images[i:i + batch].to(device),
                                         masks[i:i + batch].to(device))
        out.append(gaussian_loglik(mean.float().cpu(), sigma.float().cpu(), images[i:i + batch]))
    return torch.cat(out).numpy()


def loglik_table(name: str, values: np.ndarray, image_shape: tuple[int, int, int],
                 source: str = "valid images") -> str:
    """Markdown: our figure on `len(values)` of `source` (e.g. "test images"), images of
    `image_shape` (C, H, W), beside the published ones where those are of the same size."""
    mean, ci = mean_ci95(values.tolist())
    channels, h, w = image_shape
    shift = channels * h * w * math.log(2)  # a sum over every value: it grows with the size
    lines = [f"### Log-likelihood, neural-process protocol (context ~ U(0, {MAX_CONTEXT:.0%}) "
             f"of the pixels, targets = all pixels), nats per {w}×{h} image", "",
             "| model | nats / image | as if values were in [-1, 1] |", "|---|---|---|",
             f"| {name} (ours, {len(values)} {source}, values in [0, 1]) | "
             f"{mean:.1f} ± {ci:.1f} | {mean - shift:.1f} ± {ci:.1f} |"]
    if (h, w) == (32, 32):
        lines += [f"| {k} (published, test split, their scaling) | {v} | |"
                  for k, v in PUBLISHED.items()]
    else:
        lines += ["", f"(The published figures, a sum over a 32×32 image's 3,072 values, are "
                      f"left out: not comparable with a sum over {channels * h * w:,}.)"]
    lines += ["", "Differences from the published protocol: see impaint/evaluation/loglik.py "
                  "(scaling, preprocessing, σ untrained on context pixels, the split)."]
    return "\n".join(lines) + "\n"
