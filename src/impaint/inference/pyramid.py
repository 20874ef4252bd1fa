"""The multi-scale pipeline's settings (`Pyramid`), and the contract of the single-scale fill
it runs around: `SingleScale`, `(image, mask) -> (filled, σ or None)` with known pixels kept,
and the `Traits` such a fill may say of itself (whether it gives σ, its pooling grid).

Every other piece of the pipeline (averaged.py, levels.py, refine.py, pipeline.py) takes
these; a bad setting is refused here, where the `Pyramid` is made.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Callable

import torch

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
    """The multi-scale pipeline's settings (`inpaint(model, image, mask, cfg=Pyramid())`).
    The defaults are the shipped pipeline's; `flips` and `rounds` average several fills
    (`auto_averaged(size)` picks them as `impaint inpaint` does); the rest are the designs'
    knobs, each explained where it is declared, compared by `impaint scales`."""
    reach: float = 8.0  # px: the farthest a missing pixel may be from a known one, per level
    band: float = 4.0  # px: at finer levels, the model re-fills missing pixels this near known
    min_side: int = 32  # no level's short side below this (the model's training size)
    upsample: str = "bicubic"  # how a coarse fill is carried up: "bicubic" or "bilinear"
    tile: int = 128  # px: levels larger than this are refined in tiles around the band
    margin: int = 32  # px of context around a tile (the encoder sees ~30 px each way)
    # A single pass (every hole within reach: scattered holes) over an image larger than this
    # runs in tiles of this side (with `margin`), so that memory stays bounded: on a 2048-px
    # image with half its pixels missing, one pass took 8.9 s and 2.2-2.3 GB (two
    # measurements, docs/speed.md and docs/any-size.md), 512-px tiles 4.7 s and 0.96 GB
    # (smaller working sets), the same hole PSNR to 0.001 dB.
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


def check_flips(flips: int) -> None:
    if type(flips) is not int or flips not in FLIPS:  # not 8.0, "8" or True: a slip upstream
        raise ValueError(f"flips must be one of {', '.join(map(str, FLIPS))}, got {flips!r}")


def check_rounds(rounds: int) -> None:
    if type(rounds) is not int or rounds < 0:
        raise ValueError(f"rounds must be a whole number >= 0, got {rounds!r}")

