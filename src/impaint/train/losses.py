"""Training losses: α·MSE on the missing pixels + β·TV on the composed image."""

from __future__ import annotations

import math

import torch


def hole_mse(prediction: torch.Tensor, image: torch.Tensor, mask: torch.Tensor,
             count: float | None = None) -> torch.Tensor:
    """Mean squared error over missing pixels and channels (0 if nothing is missing)."""
    hole = 1.0 - mask  # (B, 1, H, W)
    sq = (prediction - image) ** 2 * hole
    return sq.sum() / _hole_count(hole, image, count)


def _hole_count(hole: torch.Tensor, image: torch.Tensor, count: float | None):
    """The number of missing values to average over: this batch's, or `count` when given (a
    data-parallel rank passes its share of the global batch's, so that the mean over ranks is
    the global batch's mean, whatever the size of each rank's holes)."""
    return (hole.sum() * image.shape[1]).clamp_min(1.0) if count is None else count


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of horizontal and vertical neighbours, summed over both axes."""
    dy = (image[..., 1:, :] - image[..., :-1, :]) ** 2
    dx = (image[..., :, 1:] - image[..., :, :-1]) ** 2
    # sum / count rather than mean(): a 1-pixel-high or -wide image has no pairs on one axis.
    return dy.sum() / max(dy.numel(), 1) + dx.sum() / max(dx.numel(), 1)


def inpainting_loss(prediction: torch.Tensor, composed: torch.Tensor, image: torch.Tensor,
                    mask: torch.Tensor, alpha: float, beta: float,
                    sigma: torch.Tensor | None = None, hole_count: float | None = None,
                    nll_beta: float = 0.0) -> tuple[torch.Tensor, dict]:
    """α·MSE(hole) + β·TV(Î), or α·NLL(hole) + β·TV(Î) when a σ is predicted; returns the
    loss and its parts as floats for logging (the MSE is logged either way). `hole_count`:
    see `_hole_count`."""
    mse = hole_mse(prediction, image, mask, hole_count)
    tv = total_variation(composed)
    parts = {"mse": float(mse.detach()), "tv": float(tv.detach())}
    if sigma is None:
        return alpha * mse + beta * tv, parts
    nll = gaussian_nll_hole(prediction, sigma, image, mask, hole_count, nll_beta)
    parts["nll"] = float(nll.detach())
    return alpha * nll + beta * tv, parts


def gaussian_nll_hole(mean: torch.Tensor, sigma: torch.Tensor, image: torch.Tensor,
                      mask: torch.Tensor, count: float | None = None,
                      beta: float = 0.0) -> torch.Tensor:
    """Per-value Gaussian negative log-likelihood (nats) averaged over missing pixels and
    channels: log σ + (x − μ)² / 2σ² + ½ log 2π.

    beta > 0: β-NLL (Seitzer et al. 2022), each value's NLL weighted by σ^2β with σ held
    constant. Plain NLL (β = 0) scales the mean's gradient by 1/σ², so the hard pixels (large
    σ) teach the mean least; β = 1 gives the mean MSE's gradient, while σ still tends to
    |x − μ|.
    """
    hole = 1.0 - mask
    nll = torch.log(sigma) + (image - mean) ** 2 / (2 * sigma**2) + 0.5 * math.log(2 * math.pi)
    if beta:
        nll = nll * sigma.detach() ** (2 * beta)
    return (nll * hole).sum() / _hole_count(hole, image, count)
