"""Figures: training curves and image grids (matplotlib, headless).

A leaf: it imports no impaint module, so every layer may use it."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch


def _pyplot():
    """matplotlib.pyplot, headless, imported on first use: `impaint inpaint`, the server and
    the CLI's start-up would otherwise pay about 0.3 s for it."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    return plt


def training_curve(log_csv: str | Path, out_png: str | Path) -> Path:
    """Train loss and valid PSNR on the hole against steps, from a training log.csv."""
    rows = list(csv.DictReader(open(log_csv)))
    steps = [int(r["step"]) for r in rows]
    loss = [float(r["loss"]) for r in rows]
    valid = [(int(r["step"]), float(r["valid_psnr_hole"])) for r in rows if r["valid_psnr_hole"]]
    plt = _pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    # markers while there are few steps: one step's loss is a point, not a line
    ax[0].plot(steps, loss, lw=0.5, alpha=0.4, label="per step",
               marker="o" if len(loss) <= 20 else None, ms=3)
    if len(loss) >= 100:  # a running mean (of 2 or more) shows the trend under the noise
        k = len(loss) // 50
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        ax[0].plot(steps[k - 1:], smooth, lw=1.5, label=f"mean of {k}")
    # A Gaussian NLL goes below zero: a log axis would drop it.
    ax[0].set(xlabel="step", ylabel="train loss", title="training loss",
              yscale="log" if min(loss, default=1.0) > 0 else "linear")
    ax[0].legend()
    if valid:
        ax[1].plot(*zip(*valid), marker="o", ms=3)
    ax[1].set(xlabel="step", ylabel="dB", title="valid PSNR on the hole")
    ax[1].grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    plt.close(fig)
    return Path(out_png)


def to_numpy_image(t: torch.Tensor) -> np.ndarray:
    """(C, H, W) float in [0, 1] -> (H, W, C) for imshow."""
    return t.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def sigma_image(std: torch.Tensor, top: float | None = None) -> torch.Tensor:
    """σ (C, H, W) -> (3, H, W) in [0, 1]: the per-pixel mean σ, colour-mapped (magma) with
    `top` (default: its maximum) as the brightest colour."""
    sigma = std.float().mean(0).cpu().numpy()
    top = max(float(sigma.max()) if top is None else top, 1e-6)
    rgb = _pyplot().get_cmap("magma")(np.clip(sigma / top, 0, 1))[..., :3]
    return torch.from_numpy(rgb).permute(2, 0, 1).float()


def masked_for_display(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Holes drawn in a flat light grey-blue so they read as 'missing', not as black pixels."""
    fill = torch.tensor([0.75, 0.8, 0.9]).view(3, 1, 1)
    return torch.where(mask.bool(), image, fill)


def image_grid(rows: list[tuple[str, torch.Tensor]], out_png: str | Path,
               title: str | None = None, cell: float = 1.3) -> Path:
    """One labelled row per (name, (N, C, H, W) images); columns are the N images, each
    `cell` inches wide (rows may differ in image size)."""
    n = rows[0][1].shape[0]
    plt = _pyplot()
    fig, axes = plt.subplots(len(rows), n, figsize=(cell * n + 1.2, cell * len(rows) + 0.4),
                             squeeze=False)
    for r, (name, imgs) in enumerate(rows):
        for c in range(n):
            ax = axes[r][c]
            ax.imshow(to_numpy_image(imgs[c]), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.08 / fig.get_figheight(), va="top")
    # Leave the suptitle its own strip: tight_layout alone lets the first row cover it.
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()) if title else None)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return Path(out_png)


def reliability_diagram(expected, observed, out_png: str | Path) -> Path:
    """Observed vs. expected coverage of central intervals; the diagonal is calibration."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1, label="calibrated")
    ax.plot(expected, observed, marker="o", ms=3, label="model")
    ax.set(xlabel="expected coverage of the central interval", ylabel="observed coverage",
           xlim=(0, 1), ylim=(0, 1), title="reliability on the hole")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    plt.close(fig)
    return Path(out_png)
