"""A finer level of the pyramid, refined: measured before any fill (`plan`, a `Level` each),
then its far holes take the fill carried up from below and the model re-fills the band of
missing pixels near known ones (`refine`), on a large level only in the tiles that hold a
hole (`hole_tiles`, `tiled`), the one full-size pass over holes within reach included.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .averaged import mirrors
from .levels import detail_variance, hole_distance
from .pyramid import Pyramid, SingleScale, Traits


@dataclass
class Level:
    """What a finer level's refinement needs to know before it runs (`plan`)."""
    dist: torch.Tensor  # (1, 1, H, W): each missing pixel's distance (px) to a known one
    detail: torch.Tensor | None  # (1, C, 1, 1) `detail_variance`; None: nothing to measure
    flat: bool  # no sharper than the level below: every hole takes the hint, no model pass
    passes: int  # the model passes its refinement makes (mirror images counted)


def plan(images: list, masks: list, cfg: Pyramid, dist: torch.Tensor | None = None
         ) -> list[Level]:
    """The finer levels 0 .. K-1 of one image's pyramid (`images`, `masks`: level 0 first,
    the coarsest last), measured before any fill: their distances, detail, flatness and
    number of passes (a progress bar's total). `dist`: level 0's `hole_distance`, if known."""
    levels = []
    for k in range(len(images) - 1):
        image, mask = images[k], masks[k]
        d = (hole_distance(mask) if k or dist is None else dist).to(image.device)
        detail = detail_variance(image, mask, cfg, images[k + 1])
        flat = detail is not None and float(detail.mean()) < cfg.flat ** 2
        # What the model sees as known (`refine`): the real pixels and the far holes' hint.
        seeded = (d > cfg.band).to(mask.dtype).add_(mask)
        passes = 0 if flat else len(hole_tiles(seeded, cfg)) * mirrors(cfg, image.shape[-2:])
        levels.append(Level(d, detail, flat, passes))
    return levels


def refine(single: SingleScale, image, mask, hint, hint_sigma, cfg: Pyramid, level: Level,
           fine: Traits):
    """One finer level, as `plan` measured it: far holes take the hint, the model re-fills
    the band near known pixels. -> (filled, σ or None), each (1, C, H, W). σ comes out if
    `single` gives it (`fine`, its traits; unsaid, as its passes show, or with no pass, as
    the hint has it): a coarse model paired with it may give σ or not (`with_coarse`)."""
    dist, detail, flat = level.dist, level.detail, level.flat  # (1, 1, H, W) px, (1, C, 1, 1)
    far = dist > (0.0 if flat else cfg.band)  # a flat level: every hole takes the hint
    seeded = torch.where(far, hint, image)
    seeded_mask = torch.where(far, torch.ones_like(mask), mask)
    filled, sigma = (seeded, None) if flat else tiled(single, seeded, seeded_mask, cfg, fine)
    gives = fine.probabilistic
    if gives is None:
        gives = sigma is not None if level.passes else hint_sigma is not None
    if not gives:
        sigma = None
    elif sigma is None:  # no pass ran (flat, or no band pixel in any tile): the hint's alone
        sigma = torch.zeros_like(image)
    filled = torch.where(mask.bool(), image, filled)  # known pixels: the input's, exactly
    if sigma is not None:
        # The model takes the hint for truth, so its σ alone is overconfident (measured: the
        # 95 % interval held 63-68 % of the band's values, 74-90 % of the far ones). The hint
        # misses this level's detail; a band pixel d px from real ones is d/band of the way
        # to the hint and takes that share of its variance.
        # In place on this function's own tensors (the carried-up σ is made for it; `single`'s
        # σ is not touched): fewer copies at the level's size, the same values.
        # (a deterministic coarse model's hint: σ 0, the level's detail alone)
        hint_var = torch.zeros_like(sigma) if hint_sigma is None else hint_sigma.square_()
        if detail is not None:
            hint_var.add_(detail)
        # band 0 ("coarse, then up"): every hole is far, and d/band would be 0/0 on the rest
        share = (dist.clamp(max=cfg.band).div_(cfg.band) if cfg.band > 0
                 else torch.zeros_like(dist))
        sigma = torch.where(far, hint_var, sigma.square().add_(share * hint_var)).sqrt_()
        # 0 on this level's known pixels (a coarse one is the mean of real ones): carried up,
        # a stub's or a runtime's σ there would leak into the next level's holes
        sigma = torch.where(mask.bool().expand_as(sigma), 0.0, sigma)
    return filled, sigma


def hole_tiles(mask: torch.Tensor, cfg: Pyramid) -> list[tuple[int, int]]:
    """The (top, left) corners of the `cfg.tile`-px tiles of a (1, 1, H, W) mask that hold a
    hole; one, (0, 0), for a level no larger than a tile (one pass, hole or not)."""
    h, w = mask.shape[-2:]
    if max(h, w) <= cfg.tile:
        return [(0, 0)]
    holes, t = mask[0, 0] == 0, cfg.tile
    return [(top, left) for top in range(0, h, t) for left in range(0, w, t)
            if holes[top:top + t, left:left + t].any()]


def tiled(single: SingleScale, image, mask, cfg: Pyramid, fine: Traits):
    """`single` on a large (1, C, H, W) level, only on the tiles that hold a hole, each with
    `margin` px of context; a small level in one pass. Where no tile holds a hole, σ is 0 if
    `fine` (`single`'s traits) gives σ, else None."""
    h, w = image.shape[-2:]
    if max(h, w) <= cfg.tile:
        return single(image, mask)
    filled, sigma = image.clone(), torch.zeros_like(image) if fine.probabilistic else None
    t, m, g = cfg.tile, cfg.margin, fine.grid
    for top, left in hole_tiles(mask, cfg):
        # Edges on the model's pooling grid (a stochastic latent's is 4 px), counted from the
        # image's near and far sides (a mirror image pools from the far one), keep its cells
        # where a whole-image pass has them: up to g - 1 px more context.
        y0, x0 = max(0, top - m) // g * g, max(0, left - m) // g * g
        y1, x1 = min(h, top + t + m), min(w, left + t + m)
        y1, x1 = h - (h - y1) // g * g, w - (w - x1) // g * g
        out, s = single(image[..., y0:y1, x0:x1], mask[..., y0:y1, x0:x1])
        core = (..., slice(top, min(h, top + t)), slice(left, min(w, left + t)))
        inner = (..., slice(top - y0, min(h, top + t) - y0),
                 slice(left - x0, min(w, left + t) - x0))
        filled[core] = out[inner]
        if s is not None:
            sigma = torch.zeros_like(image) if sigma is None else sigma
            sigma[core] = s[inner]
    return filled, sigma
