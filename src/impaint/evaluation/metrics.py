"""Image quality metrics, computed per image on float images in [0, 1].

PSNR is capped at `PSNR_CAP` dB: a perfect reconstruction would otherwise be infinite and
poison every mean. SSIM is scikit-image's, with a 7-px window that fits 32-px images.
"""

from __future__ import annotations

import math

import numpy as np
import torch

PSNR_CAP = 100.0  # dB; reached only when the error is below ~1e-10 per pixel


def psnr_from_mse(mse: float) -> float:
    if mse <= 10 ** (-PSNR_CAP / 10):
        return PSNR_CAP
    return -10.0 * math.log10(mse)


def psnr(pred: torch.Tensor, target: torch.Tensor, region: torch.Tensor | None = None) -> float:
    """PSNR (data range 1) of one (C, H, W) image, over `region` (1, H, W) == 1 if given."""
    sq = (pred.double() - target.double()) ** 2
    if region is None:
        return psnr_from_mse(float(sq.mean()))
    sel = region.bool().expand_as(sq)
    if not sel.any():
        return float("nan")  # no pixel in the region: nothing to measure
    return psnr_from_mse(float(sq[sel].mean()))


def l1(pred: torch.Tensor, target: torch.Tensor, region: torch.Tensor | None = None) -> float:
    err = (pred.double() - target.double()).abs()
    if region is None:
        return float(err.mean())
    sel = region.bool().expand_as(err)
    return float(err[sel].mean()) if sel.any() else float("nan")


def ssim(pred: torch.Tensor, target: torch.Tensor) -> float:
    """SSIM of one (C, H, W) image pair, data range 1."""
    from skimage.metrics import structural_similarity  # 0.25 s: imported only when asked

    a = pred.detach().cpu().permute(1, 2, 0).numpy().astype(np.float64)
    b = target.detach().cpu().permute(1, 2, 0).numpy().astype(np.float64)
    win = min(7, *(s - (1 - s % 2) for s in a.shape[:2]))  # odd, and no larger than the image
    return float(structural_similarity(a, b, data_range=1.0, channel_axis=2, win_size=win))


def mean_ci95(values) -> tuple[float, float]:
    """Mean and the half-width of its 95 % normal confidence interval (NaNs ignored)."""
    v = np.asarray([x for x in values if not math.isnan(x)], dtype=np.float64)
    if v.size == 0:
        return float("nan"), float("nan")
    half = 1.96 * v.std(ddof=1) / math.sqrt(v.size) if v.size > 1 else 0.0
    return float(v.mean()), float(half)
