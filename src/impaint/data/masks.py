"""Seeded mask generators. Each returns an (H, W) float32 tensor, 1 = known, 0 = missing.

*Hole ratio* = the fraction of missing pixels. Every generator is a small callable class whose
knobs are its fields, called as ``gen(height, width, rng)`` with a ``torch.Generator`` (or an
int seed: ``gen(h, w, 0)`` draws what ``gen(h, w, torch.Generator().manual_seed(0))`` does); the
same generator state always gives the same mask. ``MASKS`` maps family names to classes.
"""

from __future__ import annotations

import math
import operator
from itertools import accumulate
from dataclasses import dataclass, fields

import cv2
import numpy as np
import torch


def _numpy_rng(rng: torch.Generator) -> np.random.Generator:
    # Drawing algorithms use numpy/OpenCV; derive their stream from the torch generator so a
    # single seed controls everything.
    return np.random.default_rng(int(torch.randint(0, 2**63 - 1, (1,), generator=rng)))


def _drawn(height, width, rng) -> tuple[int, int, torch.Generator | None]:
    """A generator's arguments, with a one-line error (not torch's several) for a float size
    or a seed given as something other than a torch.Generator or an int."""
    try:
        height, width = operator.index(height), operator.index(width)
    except TypeError:
        raise TypeError(f"a mask's height and width are integers, got {height!r} and {width!r}")
    if rng is None or isinstance(rng, torch.Generator):  # None: torch's global generator
        return height, width, rng
    try:
        if isinstance(rng, bool):
            raise TypeError
        return height, width, torch.Generator().manual_seed(operator.index(rng))  # numpy's too
    except TypeError:
        raise TypeError(f"a mask is drawn with a torch.Generator or an int seed, got "
                        f"{type(rng).__name__}")


def _check_ratio(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"hole ratio must be in [0, 1], got {p}")


@dataclass
class RandomMask:
    """Independent pixels, each missing with probability `p` (tolerance: binomial noise)."""

    p: float = 0.5

    def __post_init__(self):  # a bad ratio is refused when the generator is made, not drawn
        _check_ratio(self.p)

    def __call__(self, height: int, width: int, rng: torch.Generator | int) -> torch.Tensor:
        height, width, rng = _drawn(height, width, rng)
        _check_ratio(self.p)
        return (torch.rand(height, width, generator=rng) >= self.p).float()


@dataclass
class BoxMask:
    """One axis-aligned rectangle covering ≈ `p` of the image, random aspect and position.

    Sizes are rounded to whole pixels, so the ratio is within about 1.5 / min(H, W) of `p`.
    On an image too long for both (a 0.5 box in 16 x 500 px), `p` wins: the box spans the
    short side and is longer than `max_aspect` allows.
    """

    p: float = 0.5
    max_aspect: float = 2.0  # the longer side is at most this many times the shorter

    def __post_init__(self):
        _check_ratio(self.p)
        if not self.max_aspect >= 1:
            raise ValueError(f"max_aspect must be at least 1, got {self.max_aspect}")

    def __call__(self, height: int, width: int, rng: torch.Generator | int) -> torch.Tensor:
        height, width, rng = _drawn(height, width, rng)
        _check_ratio(self.p)
        area = self.p * height * width
        # Aspect ratio log-uniform, then clipped so the box fits inside the image.
        log_a = (torch.rand(1, generator=rng).item() * 2 - 1) * math.log(self.max_aspect)
        box_w, box_h = math.sqrt(area * math.exp(log_a)), math.sqrt(area / math.exp(log_a))
        if box_w > width:
            box_w, box_h = width, area / width
        if box_h > height:
            box_h, box_w = height, min(width, area / height)
        bh, bw = round(box_h), round(box_w)
        top = int(torch.randint(0, height - bh + 1, (1,), generator=rng))
        left = int(torch.randint(0, width - bw + 1, (1,), generator=rng))
        mask = torch.ones(height, width)
        mask[top:top + bh, left:left + bw] = 0
        return mask


# Brush widths as a fraction of the image side, after LaMa's thin / medium / thick families
# (max widths of about 10 / 50 / 100 px on 256-px images, scaled down for small images).
STROKE_WIDTHS = {"thin": (0.02, 0.06), "medium": (0.06, 0.16), "thick": (0.16, 0.35)}


def _draw(canvas: np.ndarray, pts: list, brush: int, stop_at: float | None = None) -> None:
    """Segments between consecutive points, stopping once `stop_at` pixels are set."""
    for a, b in zip(pts[:-1], pts[1:]):
        cv2.line(canvas, a, b, 1, brush)
        if stop_at is not None and cv2.countNonZero(canvas) >= stop_at:
            return


@dataclass
class StrokesMask:
    """Free-form brush strokes (random polylines) drawn until `p` of the image is missing.

    Strokes are drawn one short segment at a time and stop as soon as the ratio reaches `p`,
    so the ratio overshoots by at most one segment (see the tests for the tolerance).
    """

    p: float = 0.4
    width: str = "medium"  # "thin", "medium" or "thick"

    def __post_init__(self):
        self.check()

    def check(self) -> None:
        _check_ratio(self.p)
        if self.width not in STROKE_WIDTHS:
            raise ValueError(f"unknown stroke width {self.width!r}; "
                             f"choose from {sorted(STROKE_WIDTHS)}")

    def __call__(self, height: int, width: int, rng: torch.Generator | int) -> torch.Tensor:
        height, width, rng = _drawn(height, width, rng)
        self.check()
        npr = _numpy_rng(rng)
        side = min(height, width)
        lo, hi = STROKE_WIDTHS[self.width]
        hole = np.zeros((height, width), np.uint8)
        target = self.p * height * width
        while cv2.countNonZero(hole) < target:
            brush = max(1, int(round(npr.uniform(lo, hi) * side)))
            n = int(npr.integers(4, 12))
            # A wandering brush: the heading turns by up to 1 rad per segment. The random
            # draws of a stroke come at once; the vertices are summed in plain Python, which
            # for a dozen points is several times faster than numpy (and gives the same bits).
            heading = npr.uniform(0, 2 * math.pi)
            angles = [heading + t for t in accumulate(npr.uniform(-1.0, 1.0, n).tolist())]
            steps = (npr.uniform(0.05, 0.15, n) * side).tolist()
            x0, y0 = npr.uniform(0, width), npr.uniform(0, height)
            dx = dy = 0.0
            pts = [(int(min(max(x0, 0.0), width - 1)), int(min(max(y0, 0.0), height - 1)))]
            for angle, step in zip(angles, steps):
                dx, dy = dx + step * math.cos(angle), dy + step * math.sin(angle)
                pts.append((int(min(max(x0 + dx, 0.0), width - 1)),
                            int(min(max(y0 + dy, 0.0), height - 1))))
            # The hole only grows, so a stroke that ends under the target never crossed it:
            # draw it whole, and only the last stroke segment by segment, to stop where the
            # ratio is reached (these masks are drawn on every training step).
            before = hole.copy()
            _draw(hole, pts, brush)
            if cv2.countNonZero(hole) >= target:
                _draw(before, pts, brush, stop_at=target)
                hole = before
        return torch.from_numpy(1.0 - hole.astype(np.float32))


@dataclass
class FullMask:
    """Everything missing: the model draws from nothing (its learned average)."""

    def __call__(self, height: int, width: int, rng: torch.Generator | int) -> torch.Tensor:
        height, width, rng = _drawn(height, width, rng)
        return torch.zeros(height, width)


@dataclass
class MixtureMask:
    """The training sampler: a family at random, hole ratio p ~ U(p_min, p_max)."""

    p_min: float = 0.1
    p_max: float = 0.9
    families: tuple[str, ...] = ("random", "box", "strokes")
    full_prob: float = 0.02  # occasionally nothing is known, so the model learns the mean face

    def __post_init__(self):
        _check_ratio(self.p_min)
        _check_ratio(self.p_max)
        if self.p_min > self.p_max:
            raise ValueError(f"p_min {self.p_min} is above p_max {self.p_max}")
        if not 0.0 <= self.full_prob <= 1.0:
            raise ValueError(f"full_prob must be in [0, 1], got {self.full_prob}")
        unknown = [f for f in self.families if f not in ("random", "box", "strokes")]
        if unknown or not self.families:
            raise ValueError(f"mixture families are some of random, box, strokes; got "
                             f"{list(self.families)}")

    def __call__(self, height: int, width: int, rng: torch.Generator | int) -> torch.Tensor:
        height, width, rng = _drawn(height, width, rng)
        if torch.rand(1, generator=rng).item() < self.full_prob:
            return FullMask()(height, width, rng)
        p = self.p_min + (self.p_max - self.p_min) * torch.rand(1, generator=rng).item()
        family = self.families[int(torch.randint(0, len(self.families), (1,), generator=rng))]
        if family == "strokes":
            widths = sorted(STROKE_WIDTHS)
            brush = widths[int(torch.randint(0, len(widths), (1,), generator=rng))]
            return StrokesMask(p=p, width=brush)(height, width, rng)
        return MASKS[family](p=p)(height, width, rng)


MASKS = {"random": RandomMask, "box": BoxMask, "strokes": StrokesMask, "full": FullMask,
         "mixture": MixtureMask}


STROKES_P = 0.4  # table strokes are drawn until this fraction is missing (then overshoot)
TABLE_MASKS = {  # family -> label -> generator: the rows of every results table
    "random": {str(p): RandomMask(p) for p in (0.1, 0.3, 0.5, 0.7, 0.9)},
    "box": {str(p): BoxMask(p) for p in (0.25, 0.5, 0.75)},
    "strokes": {w: StrokesMask(STROKES_P, w) for w in ("thin", "medium", "thick")},
    "full": {"all": FullMask()},
}


def make_mask(family: str, **knobs) -> object:
    """A mask generator of the family `family` ("random", "box", "strokes", "full",
    "mixture"; `MASKS`), its settings as keywords (`make_mask("box", p=0.25)`; each family's
    dataclass lists them), with a clear error for an unknown family or setting. Call it as
    `gen(height, width, seed)` (an int or a torch.Generator) for an (H, W) float32 mask,
    1 = known, 0 = missing; `[None, None]` of it is what `impaint.inpaint` takes."""
    if family not in MASKS:
        raise ValueError(f"unknown mask family {family!r}; choose from {sorted(MASKS)}")
    known = [f.name for f in fields(MASKS[family])]
    unknown = sorted(set(knobs) - set(known))
    if unknown:  # the dataclass's own TypeError names only the first, and not the choices
        raise ValueError(f"{family} masks take {', '.join(known) or 'no settings'}; got "
                         f"{', '.join(unknown)}")
    return MASKS[family](**knobs)


def hole_ratio(mask: torch.Tensor) -> float:
    return float((mask == 0).float().mean())


def mask_batch(generator, batch: int, height: int, width: int,
               rng: torch.Generator) -> torch.Tensor:
    """(B, 1, H, W) masks from one generator."""
    return torch.stack([generator(height, width, rng) for _ in range(batch)]).unsqueeze(1)
