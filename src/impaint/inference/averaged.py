"""Averaged fills: a single-scale fill as the mean of its fills of the input's mirror images
(test-time flips: `flipped`, `mirrored`), of re-fill rounds over holes within reach
(`refilled`), and how much of both `impaint inpaint` takes by default (`auto_averaged`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import torch

from ..model import compose
from ..precision import bf16_is_fast
from .pyramid import Pyramid, SingleScale, check_flips


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
