"""Diverse completions, measured: how different are K samples, and how good is each?

For a model with a stochastic latent (model/latent.py), K completions of one masked image
(`sample_completions`) are scored by their mean pairwise L1 on the hole (diversity) and by the
best-of-K and mean PSNR on the hole (fidelity); `impaint evaluate --samples K` prints it.
"""

from __future__ import annotations

import itertools

import torch

from ..model import sample_completions
from ..plots import image_grid, masked_for_display
from .calibration import file_stem
from .metrics import l1, psnr
from .protocol import evaluation_masks


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
    masks = evaluation_masks(images.shape[0], tuple(images.shape[-2:]), seed, ["box", "random"])
    lines = [f"### Diverse completions of {name}: {k} samples per image", "",
             "| mask | pairwise L1 on the hole | best-of-K PSNR | mean PSNR |", "|---|---|---|---|"]
    device = next(model.parameters()).device  # where evaluate --device put the model
    for key in DIVERSITY_MASKS:
        samples = torch.cat([sample_completions(model, images[i:i + 64].to(device),
                                                masks[key][i:i + 64].to(device), k, seed).cpu()
                             for i in range(0, len(images), 64)], 1)
        r = diversity_fidelity(samples, images, masks[key])
        lines.append(f"| {key[0]} {key[1]} | {r['pairwise_l1_hole']:.4f} | "
                     f"{r['best_of_k_psnr']:.2f} dB | {r['mean_psnr']:.2f} dB |")
        if out is not None:
            shown = images[:grid_images]
            rows = [("masked\ninput", torch.stack([masked_for_display(i, m) for i, m in
                                                  zip(shown, masks[key][:grid_images])]))]
            rows += [(f"sample {j + 1}", samples[j, :grid_images]) for j in range(k)]
            rows.append(("ground\ntruth", shown))
            image_grid(rows, out / f"samples_{file_stem(name)}_{key[0]}_{key[1]}.png",
                       title=f"{name}: {k} samples, {key[0]} {key[1]}")
    return "\n".join(lines) + "\n"
