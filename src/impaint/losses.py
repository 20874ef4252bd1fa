"""Training losses: α·MSE on the missing pixels + β·TV on the composed image."""

from __future__ import annotations

import torch


def hole_mse(prediction: torch.Tensor, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over missing pixels and channels (0 if nothing is missing)."""
    hole = 1.0 - mask  # (B, 1, H, W)
    sq = (prediction - image) ** 2 * hole
    return sq.sum() / (hole.sum() * image.shape[1]).clamp_min(1.0)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of horizontal and vertical neighbours, summed over both axes."""
    dy = (image[..., 1:, :] - image[..., :-1, :]) ** 2
    dx = (image[..., :, 1:] - image[..., :, :-1]) ** 2
    return dy.mean() + dx.mean()


def inpainting_loss(prediction: torch.Tensor, composed: torch.Tensor, image: torch.Tensor,
                    mask: torch.Tensor, alpha: float, beta: float) -> tuple[torch.Tensor, dict]:
    """α·MSE(hole) + β·TV(Î); returns the loss and its parts as floats for logging."""
    mse = hole_mse(prediction, image, mask)
    tv = total_variation(composed)
    loss = alpha * mse + beta * tv
    return loss, {"mse": float(mse.detach()), "tv": float(tv.detach())}
