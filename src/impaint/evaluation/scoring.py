"""Running each method (a model, a single-scale backend, a classical baseline) over images x
masks, batch by batch, and scoring its fills: what `evaluate` (evaluate.py) tabulates.

Full masks leave nothing to propagate: every classical method is then given the mean colour of
the evaluated images (an oracle constant: the best any constant fill can do).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ..data.masks import hole_ratio
from ..inference.pipeline import coarse_of, inpaint_pyramid, inpaint_with_std
from ..inference.pyramid import Pyramid
from ..progress import bar as progress_bar
from .metrics import l1, mean_ci95, psnr, ssim

METRICS = ("psnr_hole", "psnr_full", "ssim", "l1_hole")


@dataclass(frozen=True)
class Averaged:
    """A model or backend scored with test-time flips and re-fill rounds (`cfg.flips`,
    `cfg.rounds` of the pipeline's `Pyramid`): `--flips N`, `--rounds R`."""
    method: object
    cfg: Pyramid

    def label(self, name: str) -> str:
        """`name [8 flips]`, `name [8 rounds]`, `name [8 flips, 8 rounds]`."""
        parts = [f"{self.cfg.flips} flips"] * (self.cfg.flips > 1)
        parts += [f"{self.cfg.rounds} rounds"] * (self.cfg.rounds > 0)
        return f"{name} [{', '.join(parts)}]"


Fill = tuple[torch.Tensor, torch.Tensor | None]  # (filled, σ or None), (N, C, H, W) each


def _run_model(model, images, masks, device, bf16, cfg: Pyramid = Pyramid()) -> Fill:
    dev = torch.device(device)
    # Precision as asked, by this autocast (fp32 unless --bf16), not the product's per-machine
    # default (bf16=None): tables that do not depend on the CPU they were measured on.
    with torch.no_grad(), torch.autocast(dev.type, torch.bfloat16, enabled=bf16):
        out, sigma = inpaint_with_std(model, images.to(dev), masks.to(dev), cfg=cfg, bf16=False)
    if dev.type == "cuda":
        torch.cuda.synchronize()  # honest wall time: wait for the kernels
    return out.float().cpu(), None if sigma is None else sigma.float().cpu()


def _run_fill(fill, images, masks, cfg: Pyramid = Pyramid()) -> Fill:
    """A single-scale backend (inference/onnx_backend.py) through the multi-scale pipeline, in
    its own precision (what `impaint inpaint --backend` runs)."""
    out, sigma = inpaint_pyramid(fill, images, masks, cfg, coarse=coarse_of(fill))
    return out.float(), None if sigma is None else sigma.float()


def _unaveraged(method) -> tuple[object, Pyramid]:
    """A method and its pipeline settings: (model, cfg) for `Averaged(model, cfg)`, else
    (method, the defaults)."""
    return (method.method, method.cfg) if isinstance(method, Averaged) else (method, Pyramid())


def model_of(method) -> torch.nn.Module | None:
    """The PyTorch model `method` runs (an `Averaged` one's too), or None."""
    inner = _unaveraged(method)[0]
    return inner if isinstance(inner, torch.nn.Module) else None


def _run_method(method, images, masks, device, bf16, empty_fill) -> Fill:
    method, cfg = _unaveraged(method)
    if isinstance(method, torch.nn.Module):
        return _run_model(method, images, masks, device, bf16, cfg)
    if is_fill(method):
        return _run_fill(method, images, masks, cfg)
    return _run_baseline(method, images, masks, empty_fill), None


def is_fill(method) -> bool:
    return not isinstance(method, torch.nn.Module) and hasattr(method, "probabilistic")


def _run_baseline(fn, images, masks, empty_fill) -> torch.Tensor:
    outs = []
    for img, m in zip(images, masks):  # (3, H, W), (1, H, W)
        if not m.any():  # a full mask: see the module docstring
            outs.append(empty_fill.view(3, 1, 1).expand_as(img).clone())
            continue
        arr = fn(img.permute(1, 2, 0).numpy(), m[0].numpy())  # (H, W, 3)
        outs.append(torch.from_numpy(np.asarray(arr, np.float32)).permute(2, 0, 1))
    return torch.stack(outs)


def check_inputs(dataset_images: torch.Tensor, methods: dict, batch: int) -> None:
    if dataset_images.dtype != torch.uint8 or dataset_images.ndim != 4 or \
            dataset_images.shape[1] != 3:
        raise ValueError(f"expected (N, 3, H, W) uint8 images, got "
                         f"{tuple(dataset_images.shape)} {dataset_images.dtype}")
    if dataset_images.shape[0] == 0:
        raise ValueError("no images to evaluate")
    if not methods:
        raise ValueError("no methods to evaluate")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    for name, m in methods.items():
        inner = _unaveraged(m)[0]
        if not (isinstance(inner, torch.nn.Module) or is_fill(inner) or callable(m)):
            raise ValueError(f"method {name!r} is neither a model nor a function")


def warm_up(methods: dict, image: torch.Tensor, device: str, bf16: bool) -> None:
    """One pass of each model or backend on `image` (1, 3, H, W), so that its first timed
    batch runs in the steady state (allocations, kernel choice) like the rest."""
    for m in methods.values():
        if (model := model_of(m)) is not None:
            model.to(device).eval()
        if model is not None or is_fill(_unaveraged(m)[0]):
            _run_method(m, image, torch.ones(1, 1, *image.shape[-2:]), device, bf16, None)


@dataclass
class _Scores:
    """What the batches leave, keyed by (method, family, label)."""
    values: dict  # -> {metric: [one value per image]}
    seconds: dict  # -> wall seconds of the method's fills
    samples: dict  # (family, label) -> {"image", "mask", method: the first outputs}
    kept: dict  # -> [(filled, σ)] batches, for the calibration


def score(images: torch.Tensor, masks: dict, methods: dict, empty_fill: torch.Tensor, *,
          batch: int, device: str, bf16: bool, grid_images: int, calibrate: bool,
          progress: bool) -> _Scores:
    """Every method on every image x mask, batch by batch: the metrics of each fill, its time,
    the first outputs for the grids. images: (N, 3, H, W) in [0, 1]; empty_fill: (3,), what
    a classical method gives a full mask."""
    n = images.shape[0]
    values = {(m, *k): {name: [] for name in METRICS} for m in methods for k in masks}
    seconds = {key: 0.0 for key in values}
    samples = {k: {"image": images[:grid_images], "mask": masks[k][:grid_images]}
               for k in masks} if grid_images > 0 else {}
    kept: dict = {}
    bar = progress_bar(total=n, desc="evaluating", unit="img", disable=not progress)
    for start in range(0, n, batch):
        img = images[start:start + batch]
        for key, all_masks in masks.items():
            mk = all_masks[start:start + batch]
            for name, method in methods.items():
                t0 = time.perf_counter()
                outp, sigma = _run_method(method, img, mk, device, bf16, empty_fill)
                seconds[(name, *key)] += time.perf_counter() - t0
                if calibrate and sigma is not None:
                    kept.setdefault((name, *key), []).append((outp, sigma))
                s = values[(name, *key)]
                for o, t, m in zip(outp, img, mk):
                    s["psnr_hole"].append(psnr(o, t, 1 - m))
                    s["psnr_full"].append(psnr(o, t))
                    s["ssim"].append(ssim(o, t))
                    s["l1_hole"].append(l1(o, t, 1 - m))
                if start < grid_images:  # keep the first outputs for the grids
                    prev = samples[key].get(name)
                    keep = outp[:grid_images - start]
                    samples[key][name] = keep if prev is None else torch.cat([prev, keep])
        bar.update(img.shape[0])
    bar.close()
    return _Scores(values, seconds, samples, kept)


def rows(scores: _Scores, masks: dict, n: int) -> list[dict]:
    """One row per (method, family, label): each metric's mean and 95 % CI, the hole ratio,
    the time per image."""
    rows = []
    for (name, family, label), s in scores.values.items():
        row = {"method": name, "family": family, "label": label, "images": n,
               "hole_ratio": float(np.mean([hole_ratio(m) for m in masks[family, label]]))}
        for metric, values in s.items():
            row[metric], row[metric + "_ci"] = mean_ci95(values)
        row["seconds_per_image"] = scores.seconds[(name, family, label)] / n
        rows.append(row)
    return rows
