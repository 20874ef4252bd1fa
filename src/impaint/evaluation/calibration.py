"""Is the predicted σ honest? Calibration of a probabilistic model's per-pixel Gaussians.

All functions take per-image tensors: mean, σ, target (C, H, W) and the hole (1, H, W) == 1
where the pixel was missing; only hole pixels count (known pixels are copied, not predicted).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import torch

# Half-widths, in σ, of the central intervals holding 68.27 % and 95 % of a Gaussian.
Z_68, Z_95 = 1.0, 1.959964


def _hole_values(mean, sigma, target, hole):
    sel = hole.bool().expand_as(target)
    return mean[sel].double(), sigma[sel].double(), target[sel].double()


def nll_hole(mean, sigma, target, hole) -> float:
    """Mean Gaussian NLL (nats) per hole value."""
    mu, s, x = _hole_values(mean, sigma, target, hole)
    return float((torch.log(s) + (x - mu) ** 2 / (2 * s**2) + 0.5 * math.log(2 * math.pi)).mean())


def coverage(mean, sigma, target, hole, z: float) -> float:
    """Fraction of hole values inside μ ± zσ (a calibrated model gives erf(z/√2))."""
    mu, s, x = _hole_values(mean, sigma, target, hole)
    return float(((x - mu).abs() <= z * s).double().mean())


def reliability(errors_over_sigma: np.ndarray, levels: np.ndarray | None = None):
    """Expected vs. observed coverage of central intervals, from |x − μ| / σ of many values."""
    from scipy.special import erfinv

    levels = np.linspace(0.05, 0.95, 19) if levels is None else levels
    z = math.sqrt(2) * erfinv(levels)
    observed = np.array([(errors_over_sigma <= zi).mean() for zi in z])
    return levels, observed


def sigma_error_correlation(mean_sigmas, rmse) -> float:
    """Pearson correlation, over images, of the mean predicted σ and the actual RMSE; NaN
    (printed "n/a") under 3 images, where it is ±1 whatever σ does, or with nothing varying."""
    a, b = np.asarray(mean_sigmas, float), np.asarray(rmse, float)
    if a.size < 3 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def calibration_report(means, sigmas, targets, holes, out_png: str | Path | None = None) -> dict:
    """NLL, 68 % / 95 % coverage, σ–error correlation over a batch (N, C, H, W); optionally
    draws the reliability diagram."""
    ratios, per_sigma, per_rmse, nlls = [], [], [], []
    for mu, s, x, h in zip(means, sigmas, targets, holes):
        if not h.any():
            continue
        m_, s_, x_ = _hole_values(mu, s, x, h)
        ratios.append(((x_ - m_).abs() / s_).numpy())
        per_sigma.append(float(s_.mean()))
        per_rmse.append(float(((x_ - m_) ** 2).mean().sqrt()))
        nlls.append(nll_hole(mu, s, x, h))
    ratios = np.concatenate(ratios)
    report = {"nll": float(np.mean(nlls)), "coverage_68": float((ratios <= Z_68).mean()),
              "coverage_95": float((ratios <= Z_95).mean()),
              "sigma_error_corr": sigma_error_correlation(per_sigma, per_rmse)}
    if out_png:
        from ..plots import reliability_diagram

        reliability_diagram(*reliability(ratios), out_png)
    return report


def file_stem(name: str) -> str:
    """A method's name as a file name's part: `impaint:a/best [2 flips]` ->
    `impaint_a_best_2_flips`; no space or bracket, which a Markdown image link cannot hold."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")


def calibration_table(fills: dict, images: torch.Tensor, out: str | Path | None,
                      name: str = "impaint") -> str:
    """fills: (family, label) -> (mean, σ, mask), each (N, C or 1, H, W), mask 1 = known,
    of `images` (N, C, H, W) in [0, 1]. Returns a Markdown table and, with `out`, writes
    calibration_<name>.json and reliability_<name>.png (all masks)."""
    import json

    rows, pooled = [], {"mean": [], "sigma": [], "target": [], "hole": []}
    for (family, label), (mean, sigma, mask) in fills.items():
        holes = 1 - mask
        if not holes.any():
            continue
        rows.append({"family": family, "label": label,
                     **calibration_report(mean, sigma, images, holes)})
        for key, value in zip(pooled, (mean, sigma, images, holes)):
            pooled[key].append(value)
    safe = file_stem(name)
    png = Path(out) / f"reliability_{safe}.png" if out else None
    overall = calibration_report(*(torch.cat(v) for v in pooled.values()), png)
    rows.append({"family": "all", "label": "", **overall})
    if out:
        (Path(out) / f"calibration_{safe}.json").write_text(json.dumps(rows, indent=1))
    # NLL: each image's mean over its hole values, averaged over images (a 10 % hole weighs as
    # much as a full one, in `all` too); coverage pools the values themselves.
    lines = [f"### Calibration of {name} on the hole (68 % / 95 % should read 0.68 / 0.95)", "",
             "| mask | NLL (nats/value, mean of images) | coverage 68 % (of values) | coverage 95 % (of values) | corr(σ, error) |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['family']} {r['label']} | {r['nll']:.3f} | {r['coverage_68']:.3f} | "
              f"{r['coverage_95']:.3f} | {_corr(r['sigma_error_corr'])} |" for r in rows]
    return "\n".join(lines) + "\n"


def _corr(value: float) -> str:
    return "n/a" if np.isnan(value) else f"{value:.2f}"
