"""The evaluation protocol: which masks every method is scored on, seeded how.

Each image's mask for each (family, label) comes from its own generator, seeded from
(seed, image index, family, label): the masks do not depend on the methods, on the order of
evaluation or on --limit, and the same seed regenerates them byte for byte. Every study
(evaluate, diversity, likelihood, resolution, ablation) draws its masks here.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data.masks import STROKES_P, TABLE_MASKS  # noqa: F401  (STROKES_P: evaluate's)

EVAL_MASKS = TABLE_MASKS  # family -> label -> generator; the rows of every results table


def check_families(families) -> list[str]:
    if isinstance(families, str):  # else read letter by letter: "unknown mask family 'b'"
        families = [families]
    families = list(EVAL_MASKS) if families is None else list(families)
    for f in families:
        if f not in EVAL_MASKS:
            raise ValueError(f"unknown mask family {f!r}; choose from {list(EVAL_MASKS)}")
    return families


def mask_seed(seed: int, index: int, family: str, label: str) -> int:
    """A 63-bit seed for one image's mask; crc32, not hash(), which changes between runs."""
    key = zlib.crc32(f"{family}/{label}".encode())
    return int(np.random.SeedSequence([seed, index, key]).generate_state(1, np.uint64)[0] >> 1)


def evaluation_masks(n: int, size: int | tuple[int, int], seed: int = 0, families=None
                     ) -> dict[tuple[str, str], torch.Tensor]:
    """(family, label) -> (n, 1, H, W) float masks, 1 = known; deterministic per image.
    `size`: H = W, or (H, W). Boxes cover a fraction of the area and brushes a fraction of
    the short side, so the masks scale with the image."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    h, w = (size, size) if isinstance(size, int) else size
    masks = {}
    for family in check_families(families):
        for label, gen in EVAL_MASKS[family].items():
            masks[family, label] = torch.stack([
                gen(h, w, torch.Generator().manual_seed(mask_seed(seed, i, family, label)))
                for i in range(n)]).unsqueeze(1)
    return masks


def save_masks(masks: dict, out: str | Path) -> Path:
    """Write every mask as out/masks/<family>_<label>/<index>.png, white = hole."""
    root = Path(out) / "masks"
    for (family, label), batch in masks.items():
        folder = root / f"{family}_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        for i, m in enumerate(batch):
            hole = ((1 - m[0]) * 255).to(torch.uint8).numpy()
            Image.fromarray(hole).save(folder / f"{i:06d}.png")
    return root
