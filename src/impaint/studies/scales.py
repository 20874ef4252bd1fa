"""`impaint scales`: which multi-scale design fills large images best (the design table).

On the same images and masks (evaluation/protocol.py, sizes scaled with the image), PSNR on
the hole of each design, for each checkpoint given, next to the best classical method:

- single pass: the model once, at the image's own size (what `inpaint` did before pyramids);
- coarse, then up: the pyramid's levels with no refinement (`band=0`): the coarsest fill,
  carried up 2x at a time (bicubic), the known pixels pasted back at every level;
- pyramid: the shipped design (`Pyramid()`): the band near known pixels re-filled per level.
"""

from __future__ import annotations

import numpy as np
import torch

from ..evaluation.baselines import BASELINES
from ..evaluation.metrics import psnr
from ..evaluation.protocol import evaluation_masks
from ..inference.pipeline import inpaint
from ..inference.pyramid import Pyramid
from ..model import inpaint_with_std as one_pass

# The pipeline's designs as `impaint inpaint` runs them (a pair's coarse model, `faces`'
# celeba32, at the coarsest level), in fp32, one pass each.
DESIGNS = {
    "single pass": lambda model, img, m: one_pass(model, img, m)[0],
    "coarse, then up": lambda model, img, m: inpaint(model, img, m, cfg=Pyramid(band=0.0),
                                                     bf16=False),
    "pyramid": lambda model, img, m: inpaint(model, img, m, bf16=False),
}
ROWS = [("box", "0.25"), ("box", "0.5"), ("random", "0.5"), ("random", "0.9"),
        ("strokes", "medium"), ("strokes", "thick")]


def _hole_psnr(out: torch.Tensor, images: torch.Tensor, masks: torch.Tensor) -> float:
    return float(np.mean([psnr(o, i, 1 - m) for o, i, m in zip(out, images, masks)]))


@torch.no_grad()
def compare_designs(models: dict, images: torch.Tensor, seed: int = 0,
                    baselines=("telea", "biharmonic")) -> str:
    """images (N, 3, H, W) in [0, 1]; models: name -> model. -> a Markdown table."""
    masks = evaluation_masks(images.shape[0], tuple(images.shape[-2:]), seed)
    cols = [f"{d} ({name})" for name in models for d in DESIGNS] + ["best classical"]
    lines = ["| mask | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    # The header at once, then each row as it is measured (a row takes seconds to minutes).
    print("\n".join(lines), flush=True)
    for key in ROWS:
        m = masks[key]
        cells = [_hole_psnr(design(model, images, m), images, m)
                 for model in models.values() for design in DESIGNS.values()]
        classical = {b: _hole_psnr(torch.stack([torch.from_numpy(BASELINES[b](
            i.permute(1, 2, 0).numpy(), k[0].numpy())).permute(2, 0, 1) for i, k in
            zip(images, m)]), images, m) for b in baselines}
        best = max(classical, key=classical.get)
        text = [f"{c:.2f}" for c in cells] + [f"{classical[best]:.2f} ({best})"]
        top = max(cells + [classical[best]])
        text = [f"**{t}**" if float(t.split()[0]) == round(top, 2) else t for t in text]
        lines.append(f"| {' '.join(key)} | " + " | ".join(text) + " |")
        print(lines[-1], flush=True)
    return "\n".join(lines)
