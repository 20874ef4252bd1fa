"""Any size, any hole: a coarse-to-fine pyramid around a single-scale model.

The model fills well what it saw in training: holes a few pixels from known ones, at 32 px.
On a 2048-px photo a box hole is hundreds of pixels wide, far beyond the encoder's view
(~60 px). So the holes set the scales:

1. `levels_for`: how far the farthest missing pixel is from a known one (a distance transform)
   gives the number of 2x reductions K that brings it within `reach` pixels of the model,
   stopping before the short side goes under `min_side` (the model's training size). Images
   whose holes are already within reach (every 32-px input) take K = 0: one pass, as before
   (over `pass_tile` px, in tiles, so that memory stays bounded).
2. `pull`: each reduction averages the known pixels of every 2x2 block; a coarse pixel is known
   if any of its four is, so small scattered holes vanish at coarse levels instead of growing.
3. At the coarsest level the model fills everything. At each finer level, the coarse fill is
   upsampled and used as a hint: the missing pixels more than `band` pixels from a known one
   take the hint and are marked known for the model, which re-fills only the band of missing
   pixels near real ones, with real detail on one side and the coarse fill on the other. A
   level no sharper than the one below carried up (`Pyramid.flat`: an upscaled picture's
   finest levels) takes the hint everywhere, without the model.

With `Pyramid.flips`, each model pass is the mean of the fills of the input's mirror images
(test-time flips; only the upright ones at levels under 128 px, where the model sees whole
objects). With `Pyramid.rounds`, the one pass over holes within reach (scattered holes) is
re-filled in rounds, each half of the hole from the other's fill, and the rounds averaged
(`refilled`).

Known pixels are copied bit-exactly at every level and in the output; σ (probabilistic
models) follows the same path, and grows with what each step cannot know (`_refine`): a
carried-up fill lacks the level's own detail, and the band's fill leans on that hint.

`single` is any single-scale fill, `(image, mask) -> (filled, σ or None)`, known pixels kept:
PyTorch's `model.inpaint_with_std`, or another backend with the same contract. Whether the
pipeline gives σ follows `single` (`Traits`), whatever the coarse model paired with it does.
"""

from __future__ import annotations

import contextlib
import operator
from dataclasses import dataclass, fields, replace
from typing import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..model import compose, inpaint_with_std as one_pass
from ..model.decoders import crop_to
from ..precision import bf16_is_fast
from .options import FLIPS

SingleScale = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]


@dataclass(frozen=True)
class Traits:
    """What a single-scale fill says of itself, as attributes of the same names, where it does
    (`model_single` and the backends; `counted` passes them on): a bare function says nothing,
    and what it returns is taken as it comes."""
    probabilistic: bool | None = None  # it gives σ (None: unsaid)
    grid: int = 2  # px: its model's pooling grid (`ModelConfig.grid`; 2, the default model's)


def traits(single: SingleScale) -> Traits:
    return Traits(**{f.name: getattr(single, f.name) for f in fields(Traits)
                     if hasattr(single, f.name)})


def with_traits(fill: SingleScale, like) -> SingleScale:
    """`fill`, saying the traits that `like` says (a wrapper of it, or the model it runs)."""
    for f in fields(Traits):
        if hasattr(like, f.name):
            setattr(fill, f.name, getattr(like, f.name))
    return fill


@dataclass(frozen=True)
class Pyramid:
    reach: float = 8.0  # px: the farthest a missing pixel may be from a known one, per level
    band: float = 4.0  # px: at finer levels, the model re-fills missing pixels this near known
    min_side: int = 32  # no level's short side below this (the model's training size)
    upsample: str = "bicubic"  # how a coarse fill is carried up: "bicubic" or "bilinear"
    tile: int = 128  # px: levels larger than this are refined in tiles around the band
    margin: int = 32  # px of context around a tile (the encoder sees ~30 px each way)
    # A single pass (every hole within reach: scattered holes) over an image larger than this
    # runs in tiles of this side (with `margin`), so that memory stays bounded: on a 2048-px
    # image with half its pixels missing, one pass took 8.9 s and 2.3 GB, 512-px tiles 4.7 s
    # and 0.96 GB (smaller working sets), the same hole PSNR to 0.001 dB.
    pass_tile: int = 512
    # A level with less detail than this (RMS, in [0, 1] units: 2 grey levels) is no sharper
    # than the level below carried up (an upscaled picture's finest levels: 0.4-1.6 grey
    # levels; native ones measured 5-19): it takes the carried-up fill, with no re-fill,
    # where the model's band overshot by up to 7 grey levels (a light seam along a box's edge).
    flat: float = 2 / 255
    # Test-time flips: every model pass is the mean of the fills of 1, 2, 4 or 8 mirror images
    # of its input (`MIRRORS`), at up to that many times the model's time. At levels with a
    # short side under `upright_below` the model sees whole objects, and only the upright two
    # (itself, left-right) are used: with all 8, 32-px faces were filled 0.2-2.3 dB worse
    # (upside down, transposed), with the left-right one 0.08-0.17 dB better. At 128 px and
    # over it sees texture: 8 gained 0.08-0.39 dB on CelebA at 128 px, 0.03-0.28 on the
    # photos at 256 px (every row but a full mask's, which moved by at most 0.01).
    flips: int = 1
    upright_below: int = 128
    # Re-fill rounds for holes within reach (the one full-size pass: scattered holes): each
    # round splits the hole into two random halves and re-fills each with the other taken as
    # known, at the round before's fill, under the next mirror image in turn (of `flips`); the
    # fill is the mean of the rounds. 2 passes a round. See `refilled`.
    rounds: int = 0

    def __post_init__(self):  # a bad setting is one line where it is made, before any work
        check_flips(self.flips)
        check_rounds(self.rounds)
        whole = ("min_side", "tile", "margin", "pass_tile")  # pixel counts: slice bounds
        for name, low, strict in (("reach", 0, True), ("band", 0, False),
                                  ("min_side", 1, False), ("tile", 1, False),
                                  ("margin", 0, False), ("pass_tile", 1, False),
                                  ("flat", 0, False), ("upright_below", 0, False)):
            value = getattr(self, name)
            kinds = int if name in whole else (int, float)
            if (isinstance(value, bool) or not isinstance(value, kinds)
                    or value < low or (strict and value == low)):
                raise ValueError(f"Pyramid.{name} must be {'a whole number ' * (name in whole)}"
                                 f"{'above' if strict else 'at least'} {low}, got {value!r}")
        if self.upsample not in ("bicubic", "bilinear"):
            raise ValueError(f"Pyramid.upsample must be bicubic or bilinear, got "
                             f"{self.upsample!r}")

    @property
    def averaged(self) -> bool:
        """Whether a fill is a mean (of mirror images, of rounds), not the model's one pass."""
        return self.flips > 1 or self.rounds > 0


# The mirror images of a picture (the symmetries of a square), each with its inverse, in the
# order `flips` takes them: 2 adds the left-right mirror (a face's own symmetry), 4 the
# up-down mirrors, 8 the transposes (a non-square image comes back (W, H), and is turned back).
MIRRORS: list[tuple[Callable, Callable]] = [
    (lambda x: x, lambda x: x),
    (lambda x: x.flip(-1), lambda x: x.flip(-1)),
    (lambda x: x.flip(-2), lambda x: x.flip(-2)),
    (lambda x: x.flip(-2, -1), lambda x: x.flip(-2, -1)),
    (lambda x: x.transpose(-2, -1), lambda x: x.transpose(-2, -1)),
    (lambda x: x.transpose(-2, -1).flip(-1), lambda x: x.flip(-1).transpose(-2, -1)),
    (lambda x: x.transpose(-2, -1).flip(-2), lambda x: x.flip(-2).transpose(-2, -1)),
    (lambda x: x.transpose(-2, -1).flip(-2, -1), lambda x: x.flip(-2, -1).transpose(-2, -1)),
]


def check_flips(flips: int) -> None:
    if type(flips) is not int or flips not in FLIPS:  # not 8.0, "8" or True: a slip upstream
        raise ValueError(f"flips must be one of {', '.join(map(str, FLIPS))}, got {flips!r}")


def flipped(single: SingleScale | None, flips: int) -> SingleScale | None:
    """`single` as the mean of its fills of the first `flips` `MIRRORS` of its input, each
    turned back. σ is the mixture's: the mean of the fills' variances plus their spread
    (where they disagree, the fill is less sure). Known pixels are `image`'s, bit-exact."""
    check_flips(flips)
    if single is None or flips == 1:
        return single

    def fill(image, mask):
        total = square = var = None  # running sums over the mirrors, each (B, C, H, W)
        for forward, back in MIRRORS[:flips]:
            out, sigma = single(forward(image).contiguous(), forward(mask).contiguous())
            out = back(out).float()
            total = out.clone() if total is None else total.add_(out)
            if sigma is not None:
                square = out.square() if square is None else square.add_(out.square())
                sigma = back(sigma).float().square()
                var = sigma if var is None else var.add_(sigma)
        mean = total.div_(flips)
        filled = compose(image, mask, mean)
        if var is None:
            return filled, None
        spread = square.div_(flips).sub_(mean.square()).clamp_min_(0)
        sigma = var.div_(flips).add_(spread).sqrt_()
        return filled, torch.where(mask.bool().expand_as(sigma), 0.0, sigma)
    return fill


def mirrors(cfg: Pyramid, size: tuple[int, int]) -> int:
    """How many mirror images a pass at a level of `size` (H, W) takes: `cfg.flips`, only the
    upright ones under `cfg.upright_below` px (see `Pyramid.flips`)."""
    return cfg.flips if min(size) >= cfg.upright_below else min(cfg.flips, 2)


def mirrored(single: SingleScale, cfg: Pyramid, size: tuple[int, int]) -> SingleScale:
    """`single` with `mirrors(cfg, size)` mirror images."""
    return flipped(single, mirrors(cfg, size))


def check_rounds(rounds: int) -> None:
    if type(rounds) is not int or rounds < 0:
        raise ValueError(f"rounds must be a whole number >= 0, got {rounds!r}")


def refilled(single: SingleScale, cfg: Pyramid, size: tuple[int, int]) -> SingleScale:
    """The one full-size pass over holes within reach: `mirrored`, then `cfg.rounds` re-fill
    rounds. Each round draws a random half of the hole (the same draw for every image of a
    batch, seeded: a fill depends on neither its batch-mates nor the run) and re-fills each
    half with the other taken as known, at its fill from the round before; round r runs on
    `MIRRORS[r % n]` (n = `mirrors(cfg, size)`). The fill is the mean of the rounds; σ the
    first pass's (a round's σ takes the other half's fill for truth)."""
    first = mirrored(single, cfg, size)
    if cfg.rounds == 0:
        return first
    n = mirrors(cfg, size)

    def fill(image, mask):
        out, sigma = first(image, mask)
        hole = mask == 0  # (B, 1, H, W)
        g = torch.Generator().manual_seed(0)
        total = torch.zeros_like(out)
        for r in range(cfg.rounds):
            forward, back = MIRRORS[r % n]
            half = torch.rand((1, 1) + tuple(mask.shape[-2:]), generator=g) < 0.5
            half = hole & half.to(mask.device)
            new = out
            for part in (half, hole & ~half):
                known = mask + (hole & ~part).to(mask.dtype)  # (B, 1, H, W): real + the rest
                seeded = torch.where(known.bool(), out, image)  # `part`: masked off
                o, _ = single(forward(seeded).contiguous(), forward(known).contiguous())
                new = torch.where(part, back(o).float(), new)
            out = compose(image, mask, new)
            total.add_(out)
        return compose(image, mask, total.div_(cfg.rounds)), sigma
    return fill


def refilled_passes(cfg: Pyramid, size: tuple[int, int]) -> int:
    """Model passes `refilled` makes on an image of `size`: its mirrors, and 2 a round."""
    return mirrors(cfg, size) + 2 * cfg.rounds


# `impaint inpaint`'s and `impaint serve`'s default (`auto_averaged`): the most averaging, of
# AUTO_STEPS (flips, rounds), whose model work, passes x pixels, fits about a second on a
# 2-core CPU: AUTO_WORK pixel-passes under bf16, where a pass took 0.9 µs a pixel (a CPU with
# native bf16; at 128 and 512 px), AUTO_WORK_FP32 in fp32 (2.5-4 µs a pixel on a 2-core AVX2
# EPYC without bf16; about 1.5 µs on the bf16 CPU, so that --fp32 there takes less).
# Under bf16: 8 and 8 up to 204x204 px (faces at 128 px: random holes +0.4-0.6 dB over one
# pass), 8 flips up to 353x353, 4 to 500x500, 2 to 707x707, one pass above; in fp32: 8 and 8
# up to 102x102, 8 flips up to 176x176, 4 to 250x250, 2 to 353x353. Rounds come only with as
# many as the flips: their mean is over the rounds' own mirror images, and 2 rounds on 8 flips
# lost 0.03-0.15 dB to 8 flips alone on random 0.1-0.3 (photos at 256 px). The Python API's
# default stays one pass: batches of small images are its use, where 13x the time (at 32 px)
# would tell.
AUTO_WORK = 1_000_000
AUTO_WORK_FP32 = 250_000
AUTO_STEPS = ((8, 8), (8, 0), (4, 0), (2, 0), (1, 0))


def auto_averaged(size: tuple[int, int], cfg: Pyramid = Pyramid(),
                  bf16: bool | None = None) -> Pyramid:
    """`cfg` with the flips and rounds `impaint inpaint` takes by default for an (H, W) image,
    its passes run in bf16 (None: where `bf16_is_fast`, as `inpaint` decides) or fp32. `size`
    may be an image's whole shape, (B, C, H, W): the work is per image, on its last two."""
    if isinstance(size, torch.Tensor) or not isinstance(size, (tuple, list, torch.Size)) \
            or len(size) < 2:
        raise TypeError(f"auto_averaged takes a size, (H, W) or image.shape, not "
                        f"{'the image' if isinstance(size, torch.Tensor) else repr(size)}")
    work = AUTO_WORK if (bf16_is_fast() if bf16 is None else bf16) else AUTO_WORK_FP32
    h, w = tuple(size)[-2:]
    pixels = h * w
    flips, rounds = next((f, r) for f, r in AUTO_STEPS
                         if (f + 2 * r) * pixels <= work or f == 1)
    return replace(cfg, flips=flips, rounds=rounds)


def hole_distance(mask: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) mask -> each missing pixel's Euclidean distance (px) to the nearest known
    one, 0 on known pixels, inf where nothing is known."""
    out = []
    for m in mask[:, 0].cpu().numpy():
        hole = (m == 0).astype(np.uint8)
        out.append(np.full(m.shape, np.inf, np.float32) if hole.all()
                   else cv2.distanceTransform(hole, cv2.DIST_L2, cv2.DIST_MASK_PRECISE))
    # One image (the pipeline's case) without np.stack's copy: 64 MB at 4096 px.
    return torch.from_numpy(out[0][None] if len(out) == 1 else np.stack(out))[:, None]


def levels_for(mask: torch.Tensor, cfg: Pyramid = Pyramid(),
               dist: torch.Tensor | None = None) -> int:
    """The number of 2x reductions for one (1, H, W) mask: the fewest that bring every missing
    pixel within `cfg.reach` of a known one, at most what keeps the short side >= min_side.
    `dist`: its `hole_distance`, if the caller has it."""
    far = float((hole_distance(mask[None]) if dist is None else dist).max())
    side = min(mask.shape[-2:])
    k = 0
    while far / 2 ** k > cfg.reach and side // 2 ** (k + 1) >= cfg.min_side:
        k += 1
    return k


def pull(image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One 2x reduction: the mean of each 2x2 block's known pixels, known if any of them is
    (odd sides: the last row/column is a block of its own). -> (B, C, h, w), (B, 1, h, w)"""
    total = F.avg_pool2d(image * mask, 2, ceil_mode=True)
    share = F.avg_pool2d(mask, 2, ceil_mode=True)  # fraction of the block that is known
    known = share > 0
    return torch.where(known, total / share.clamp_min(1e-12), 0.0), known.to(mask.dtype)


def carry_up(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """A level (B, C, h, w) carried up to the finer level's `size` (H, W): 2x, then cropped.
    `pull` pools with ceil_mode, so on an odd side the last cell holds one row or column;
    resizing to the side instead stretched the grid by H / 2h and shifted every pixel (up to
    1 px at the far edge), which `detail_variance` measured as 3.6-4.1 grey levels of detail
    on a smooth upscaled picture (0.6 on even sides): the `flat` rule never held there."""
    return crop_to(F.interpolate(x, scale_factor=2, mode=mode, align_corners=False), size)


def detail_variance(image: torch.Tensor, mask: torch.Tensor, cfg: Pyramid,
                    coarse: torch.Tensor | None = None) -> torch.Tensor | None:
    """How far this level's pixels stray from the level below carried back up: the mean
    squared difference per channel over known pixels more than `band` px from a hole (whose
    coarse view is complete). -> (1, C, 1, 1), or None where fewer than 16 such pixels leave
    nothing to measure. A fill carried up from below is smooth; the truth has this much more
    detail, so a hint's σ² grows by it. `coarse`: `pull(image, mask)`'s image, if the caller
    has it already (the pyramid's next level)."""
    coarse = pull(image, mask)[0] if coarse is None else coarse
    detail = image - carry_up(coarse, image.shape[-2:], cfg.upsample)
    inner = away_from_holes(mask, cfg.band).to(image.device)  # (1, 1, H, W)
    count = int(inner.sum())
    if count < 16:
        return None
    # A masked sum, not a gather of the inner pixels: 0.18 s instead of 0.5 at 4096 px.
    return (detail.square() * inner).sum((2, 3), keepdim=True) / count


def away_from_holes(mask: torch.Tensor, band: float) -> torch.Tensor:
    """(B, 1, H, W) mask -> 1 on known pixels with no missing pixel within `band` px
    (Euclidean), else 0: the known region eroded by a disk, what `hole_distance(1 - mask) >
    band` gives (tested) at a fortieth of its time (5 ms at 4096 px)."""
    r = int(band)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    disk = (yy ** 2 + xx ** 2 <= band ** 2).astype(np.uint8)
    # cv2's erosion treats the border as known, as the distance transform ignores it.
    out = [cv2.erode((m == 1).astype(np.uint8), disk) for m in mask[:, 0].cpu().numpy()]
    return torch.from_numpy(np.stack(out).astype(np.float32))[:, None]


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
        # What the model sees as known (`_refine`): the real pixels and the far holes' hint.
        seeded = (d > cfg.band).to(mask.dtype).add_(mask)
        passes = 0 if flat else len(_hole_tiles(seeded, cfg)) * mirrors(cfg, image.shape[-2:])
        levels.append(Level(d, detail, flat, passes))
    return levels


def _refine(single: SingleScale, image, mask, hint, hint_sigma, cfg: Pyramid, level: Level,
            fine: Traits):
    """One finer level, as `plan` measured it: far holes take the hint, the model re-fills
    the band near known pixels. -> (filled, σ or None), each (1, C, H, W). σ comes out if
    `single` gives it (`fine`, its traits; unsaid, as its passes show, or with no pass, as
    the hint has it): a coarse model paired with it may give σ or not (`with_coarse`)."""
    dist, detail, flat = level.dist, level.detail, level.flat  # (1, 1, H, W) px, (1, C, 1, 1)
    far = dist > (0.0 if flat else cfg.band)  # a flat level: every hole takes the hint
    seeded = torch.where(far, hint, image)
    seeded_mask = torch.where(far, torch.ones_like(mask), mask)
    filled, sigma = (seeded, None) if flat else _tiled(single, seeded, seeded_mask, cfg, fine)
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


def _hole_tiles(mask: torch.Tensor, cfg: Pyramid) -> list[tuple[int, int]]:
    """The (top, left) corners of the `cfg.tile`-px tiles of a (1, 1, H, W) mask that hold a
    hole; one, (0, 0), for a level no larger than a tile (one pass, hole or not)."""
    h, w = mask.shape[-2:]
    if max(h, w) <= cfg.tile:
        return [(0, 0)]
    holes, t = mask[0, 0] == 0, cfg.tile
    return [(top, left) for top in range(0, h, t) for left in range(0, w, t)
            if holes[top:top + t, left:left + t].any()]


def _tiled(single: SingleScale, image, mask, cfg: Pyramid, fine: Traits):
    """`single` on a large (1, C, H, W) level, only on the tiles that hold a hole, each with
    `margin` px of context; a small level in one pass. Where no tile holds a hole, σ is 0 if
    `fine` (`single`'s traits) gives σ, else None."""
    h, w = image.shape[-2:]
    if max(h, w) <= cfg.tile:
        return single(image, mask)
    filled, sigma = image.clone(), torch.zeros_like(image) if fine.probabilistic else None
    t, m, g = cfg.tile, cfg.margin, fine.grid
    for top, left in _hole_tiles(mask, cfg):
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


def inpaint_pyramid(single: SingleScale, image: torch.Tensor, mask: torch.Tensor,
                    cfg: Pyramid = Pyramid(), coarse: SingleScale | None = None,
                    on_plan: Callable[[int], None] | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Fill (B, C, H, W) `image` where `mask` (B, 1, H, W) is 0, at the scales its holes need.
    -> (filled, σ or None); known pixels bit-exact. `coarse`, if given, fills the coarsest
    level of a pyramid instead of `single` (a model that knows whole faces at 32 px, say).
    Every pass of either is the mean over `cfg.flips` mirror images (`mirrored`).
    `on_plan(n)`: n more calls of `single` or `coarse` to come, told before them (image by
    image): a progress bar's total."""
    on_plan = on_plan or (lambda n: None)
    fine = traits(single)
    dists = [hole_distance(m[None]) for m in mask]  # each (1, 1, H, W): level 0's, kept
    depth = [levels_for(m, cfg, d) for m, d in zip(mask, dists)]
    if not any(depth) and max(image.shape[-2:]) <= cfg.pass_tile:
        # every hole within reach: one batched pass (all 32 px)
        on_plan(refilled_passes(cfg, image.shape[-2:]))
        return refilled(single, cfg, image.shape[-2:])(image, mask)
    # Image by image, each at its own depth: an image's fill never depends on its batch-mates.
    return _stack([_one_image(single, coarse or single, image[i:i + 1], mask[i:i + 1], k, cfg,
                              dists[i], on_plan, fine) for i, k in enumerate(depth)])


def _stack(results: list) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-image (filled, σ or None) pairs -> the batch's (filled, σ or None). An image with
    no σ beside others with one (a bare function's, on which no pass ran: nothing missing)
    has σ 0."""
    filled = torch.cat([f for f, _ in results])
    if all(s is None for _, s in results):
        return filled, None
    return filled, torch.cat([torch.zeros_like(f) if s is None else s for f, s in results])


def _one_image(single: SingleScale, coarse: SingleScale, image, mask, levels: int, cfg: Pyramid,
               dist: torch.Tensor | None, on_plan: Callable[[int], None], fine: Traits):
    """One (1, C, H, W) image through `levels` reductions -> (filled, σ or None). `dist`:
    the mask's `hole_distance`, if the caller has it (0.3-0.45 s at 4096 px); `on_plan`:
    see `inpaint_pyramid`; `fine`: `single`'s traits."""
    if levels == 0:  # within reach: `single`'s one pass (not `coarse`'s), tiled if large
        one = replace(cfg, tile=cfg.pass_tile)
        on_plan(len(_hole_tiles(mask, one)) * refilled_passes(cfg, image.shape[-2:]))
        return _tiled(refilled(single, cfg, image.shape[-2:]), image, mask, one, fine)
    images, masks = [image], [mask]
    for _ in range(levels):
        coarse_image, coarse_mask = pull(images[-1], masks[-1])
        images.append(coarse_image)
        masks.append(coarse_mask)
    finer = plan(images, masks, cfg, dist)
    on_plan(mirrors(cfg, images[-1].shape[-2:]) + sum(level.passes for level in finer))
    filled, sigma = mirrored(coarse, cfg, images[-1].shape[-2:])(images[-1], masks[-1])
    for k in range(levels - 1, -1, -1):
        size = images[k].shape[-2:]
        hint = carry_up(filled, size, cfg.upsample).clamp(0, 1)
        hint_sigma = None if sigma is None else carry_up(sigma, size, "bilinear")
        filled, sigma = _refine(mirrored(single, cfg, size), images[k], masks[k], hint,
                                hint_sigma, cfg, finer[k], fine)
    if sigma is not None:
        sigma = torch.where(mask.bool().expand_as(sigma), 0.0, sigma)
    return filled, sigma


def counted(single: SingleScale | None, on_pass: Callable[[], None] | None
            ) -> SingleScale | None:
    """`single`, calling `on_pass` after each of its passes (a progress bar's tick)."""
    if single is None or on_pass is None:
        return single

    def fill(image, mask):
        out = single(image, mask)
        on_pass()
        return out
    return with_traits(fill, single)


def coarse_of(model, bf16: bool = False) -> SingleScale | None:
    """The single-scale fill for a pyramid's coarsest level that `model` (or a backend) was
    paired with (`model.with_coarse`, the shipped `faces` pair), or None: itself."""
    coarse = getattr(model, "coarse", None)
    if not isinstance(coarse, torch.nn.Module):
        return coarse
    # Out of `model`'s module tree (`with_coarse`), the coarse model does not follow its
    # .to(): it goes where the fine model is, in its dtype (`evaluate --device cuda`).
    weight = next(model.parameters(), None) if isinstance(model, torch.nn.Module) else None
    if weight is not None:
        coarse.to(device=weight.device, dtype=weight.dtype)
    return model_single(coarse, bf16)


def model_single(model, bf16: bool = False) -> SingleScale:
    """The PyTorch model as a single-scale fill (holes decoded only), under CPU bf16 autocast
    if `bf16`: the known pixels are still copied from the fp32 input, σ comes back fp32.
    Without `bf16` the caller's own precision holds (an autocast around the call included)."""
    def single(image, mask):
        with torch.autocast("cpu", torch.bfloat16) if bf16 else contextlib.nullcontext():
            filled, sigma = one_pass(model, image, mask)
        return filled, None if sigma is None else sigma.float()
    single.probabilistic, single.grid = bool(model.cfg.probabilistic), model.cfg.grid
    return single


def check_inputs(image: torch.Tensor, mask: torch.Tensor, scale: int = 1) -> None:
    """The public API's inputs, with a one-line ValueError for the usual slips (a uint8 or
    0-255 image, a missing batch dimension, a mask of another size, a float16 tensor, a
    fractional scale) instead of a wrong fill or an error from deep inside the network."""
    try:
        whole = operator.index(scale) >= 1 and not isinstance(scale, bool)
    except TypeError:
        whole = False
    if not whole:
        raise ValueError(f"scale must be a positive whole number (1, 2, 4...), got {scale!r}")
    if not (isinstance(image, torch.Tensor) and isinstance(mask, torch.Tensor)):
        raise ValueError(f"image and mask must be torch tensors, got {type(image).__name__} "
                         f"and {type(mask).__name__} (an (H, W, 3) numpy image: "
                         "torch.from_numpy(a).permute(2, 0, 1)[None])")
    if image.dim() != 4 or mask.dim() != 4:
        hint = ("a (B, H, W) mask: mask[:, None]" if image.dim() == 4 and mask.dim() == 3 else
                "one image: image[None]")
        raise ValueError(f"image must be (B, C, H, W) and mask (B, 1, H, W), got "
                         f"{tuple(image.shape)} and {tuple(mask.shape)} ({hint})")
    if not (image.is_floating_point() and mask.is_floating_point()):
        hint = ("a uint8 image: image.float() / 255" if image.dtype == torch.uint8 else
                "image.float(), with values in [0, 1]" if not image.is_floating_point() else
                "a bool mask: mask.float()")
        raise ValueError(f"image and mask must be float, got {image.dtype} and {mask.dtype} "
                         f"({hint})")
    if image.dtype != torch.float32 or mask.dtype != torch.float32:
        # float16/bfloat16 would fail inside a convolution; bf16 runs as autocast decides.
        raise ValueError(f"image and mask must be float32, the model's, got {image.dtype} and "
                         f"{mask.dtype} (.float(); bf16 passes run where the CPU is fast at "
                         "them)")
    b, c, h, w = image.shape
    if image.numel() == 0:
        raise ValueError(f"image {tuple(image.shape)} is empty: nothing to inpaint")
    if c != 3:
        hint = ("a grey one: image.expand(-1, 3, -1, -1)" if c == 1 else
                "an RGBA one: image[:, :3]; impaint inpaint keeps a file's alpha" if c == 4
                else "a (B, H, W, 3) one: image.permute(0, 3, 1, 2)" if w == 3 else "RGB")
        raise ValueError(f"image must have 3 channels (RGB), got {c} ({hint})")
    if tuple(mask.shape) != (b, 1, h, w):
        raise ValueError(f"mask must be (B, 1, H, W) = {(b, 1, h, w)} for this image, got "
                         f"{tuple(mask.shape)}")
    if not bool(torch.isfinite(image).all()):
        raise ValueError("image holds NaN or infinite values")
    low, high = torch.aminmax(image)
    if low < 0 or high > 1:
        hint = ("a 0-255 image: divide by 255" if high > 2 else
                "a [-1, 1] image: (image + 1) / 2" if low < -0.5 else
                "image.clamp(0, 1)")  # an overshoot (bicubic's)
        raise ValueError(f"image values must be in [0, 1], got {float(low):.6g} to "
                         f"{float(high):.9g} ({hint})")
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError("mask values must be 1 (known) or 0 (missing)")


@torch.no_grad()
def inpaint_with_std(model, image: torch.Tensor, mask: torch.Tensor, scale: int = 1,
                     cfg: Pyramid = Pyramid(), bf16: bool | None = None,
                     on_pass: Callable[[], None] | None = None,
                     on_plan: Callable[[int], None] | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """`inpaint`, plus σ (B, C, H·scale, W·scale), 0 on known pixels; None if the model is
    deterministic. `on_pass` is called after each model pass (a large photo takes dozens) and,
    at `scale` > 1, each chunk the decoder renders; at `scale` 1, `on_plan(n)` first says how
    many passes are to come (`inpaint_pyramid`)."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a loaded model (load_model('general')), got "
                        f"{type(model).__name__}")
    if not isinstance(cfg, Pyramid):
        raise TypeError(f"cfg must be a Pyramid (Pyramid(flips=8)), got {type(cfg).__name__}")
    if bf16 not in (None, True, False):
        raise ValueError(f"bf16 must be True, False or None (where the CPU is fast at it), "
                         f"got {bf16!r}")
    check_inputs(image, mask, scale)
    training = model.training
    model.eval()
    try:
        return _filled(model, image, mask, scale, cfg, bf16, on_pass, on_plan)
    finally:
        model.train(training)  # a model being trained goes on training


def _filled(model, image, mask, scale, cfg, bf16, on_pass, on_plan):
    """`inpaint_with_std`'s work, on checked inputs and a model in eval mode."""
    bf16 = bf16_is_fast(image.device) if bf16 is None else bf16
    single = counted(model_single(model, bf16), on_pass)
    coarse = counted(coarse_of(model, bf16), on_pass)
    # At scale > 1 with every hole within reach the decoder renders the masked image in one
    # pass; with flips or rounds, the fill is made at x1 (averaged) and rendered from there,
    # as below.
    if scale == 1 or (not cfg.averaged and not any(levels_for(m, cfg) for m in mask)):
        if scale == 1:
            return inpaint_pyramid(single, image, mask, cfg, coarse, on_plan)
        return one_pass(model, image, mask, scale, on_pass)  # within reach: render it
    filled, sigma = inpaint_pyramid(single, image, mask, cfg, coarse)
    # The decoder renders the filled image at scale x; known pixels (nearest) are pasted back.
    # Few copies at the output's size: a 2048-px image at x4 is 67 Mpx, 0.8 GB a copy.
    h, w = image.shape[-2:]
    z = model.encode(filled, torch.ones_like(mask))
    mean, _ = model.split(model.render(z, h * scale, w * scale, on_chunk=on_pass))
    del z
    big_image, big_mask = (F.interpolate(t, scale_factor=scale, mode="nearest")
                           for t in (image, mask))
    out = compose(big_image, big_mask, mean.float().clamp_(0, 1))
    if sigma is not None:
        sigma = F.interpolate(sigma, scale_factor=scale, mode="nearest")
    return out, sigma


def inpaint(model, image: torch.Tensor, mask: torch.Tensor, scale: int = 1,
            cfg: Pyramid = Pyramid(), bf16: bool | None = None) -> torch.Tensor:
    """Fill the holes of `image` (B, C, H, W), any size, where `mask` (B, 1, H, W) is 0. Every
    known pixel is returned unchanged; with `scale` > 1 the decoder renders the result at
    scale x and the known pixels, upsampled by nearest neighbour, are pasted back. The model
    passes run under bf16 autocast where `bf16_is_fast` (None, the default), or as told;
    rendering at `scale` > 1 stays fp32."""
    return inpaint_with_std(model, image, mask, scale, cfg, bf16)[0]
