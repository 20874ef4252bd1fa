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
models) follows the same path, and grows with what each step cannot know (`refine`): a
carried-up fill lacks the level's own detail, and the band's fill leans on that hint.

`single` is any single-scale fill, `(image, mask) -> (filled, σ or None)`, known pixels kept:
PyTorch's `model.inpaint_with_std`, or another backend with the same contract. Whether the
pipeline gives σ follows `single` (`Traits`), whatever the coarse model paired with it does.

This module holds the entry points (`inpaint`, `inpaint_with_std`, `inpaint_pyramid`) and
runs the steps, which live beside it: the settings and a fill's contract in pyramid.py, the
levels (1, 2) in levels.py, a finer level's refinement and tiles (3) in refine.py, flips and
rounds in averaged.py. Every name this module held before that split is still importable
from it.
"""

from __future__ import annotations

import contextlib
import operator
from dataclasses import replace
from typing import Callable

import torch
import torch.nn.functional as F

from ..model import compose, inpaint_with_std as one_pass
from ..precision import bf16_is_fast
from .averaged import mirrored, mirrors, refilled, refilled_passes
from .levels import carry_up, hole_distance, levels_for, pull
from .pyramid import Pyramid, SingleScale, Traits, traits, with_traits
from .refine import hole_tiles, plan, refine, tiled
# The old path: names that lived here before the split, imported from here by users and code.
from .averaged import (AUTO_STEPS, AUTO_WORK, AUTO_WORK_FP32, MIRRORS,  # noqa: F401
                       auto_averaged, flipped)
from .levels import away_from_holes, detail_variance  # noqa: F401
from .options import FLIPS  # noqa: F401
from .pyramid import check_flips, check_rounds  # noqa: F401
from .refine import Level  # noqa: F401


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
        on_plan(len(hole_tiles(mask, one)) * refilled_passes(cfg, image.shape[-2:]))
        return tiled(refilled(single, cfg, image.shape[-2:]), image, mask, one, fine)
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
        filled, sigma = refine(mirrored(single, cfg, size), images[k], masks[k], hint,
                               hint_sigma, cfg, finer[k], fine)
    return filled, sigma  # σ 0 on known pixels: each level's refine sets it, this one's last


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
                         "torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255)")
    if image.dim() != 4 or mask.dim() != 4:
        hint = ("an (H, W) mask: mask[None, None]" if mask.dim() == 2 else
                "a (B, H, W) mask: mask[:, None]" if image.dim() == 4 and mask.dim() == 3 else
                "one image and its mask: image[None], mask[None]" if mask.dim() == 3 else
                "one image: image[None]")
        raise ValueError(f"image must be (B, C, H, W) and mask (B, 1, H, W), got "
                         f"{tuple(image.shape)} and {tuple(mask.shape)} ({hint})")
    if not (image.is_floating_point() and mask.is_floating_point()):
        hint = ("a uint8 image: image.float() / 255" if image.dtype == torch.uint8 else
                "image.float(), with values in [0, 1]" if not image.is_floating_point() else
                f"a mask of {str(mask.dtype).removeprefix('torch.')}: mask.float()")
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
    if not (isinstance(model, torch.nn.Module) and hasattr(model, "encode")):
        raise TypeError(f"model must be an impaint model (load_model('general')), got "
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
    if scale == 1:
        return inpaint_pyramid(single, image, mask, cfg, coarse, on_plan)
    # At scale > 1 an image with every hole within reach is rendered from the masked image in
    # one pass; the others (every one, with flips or rounds) are filled at x1 and rendered
    # from there, below. Each image takes its own route, whatever its batch-mates'.
    direct = [not cfg.averaged and not levels_for(m, cfg) for m in mask]
    if all(direct):
        return one_pass(model, image, mask, scale, on_pass)
    if any(direct):
        return _by_route(direct, model, image, mask, scale, cfg, bf16, on_pass)
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


def _by_route(direct: list[bool], model, image, mask, scale, cfg, bf16, on_pass):
    """`_filled` of a batch at scale > 1 whose images take both routes: each group on its
    own, put back in the batch's order."""
    groups = [torch.tensor([i for i, d in enumerate(direct) if d == flag]) for flag in (1, 0)]
    parts = [_filled(model, image[g], mask[g], scale, cfg, bf16, on_pass, None) for g in groups]
    order = torch.cat(groups).argsort()
    out = torch.cat([p[0] for p in parts])[order]
    sigma = None if parts[0][1] is None else torch.cat([p[1] for p in parts])[order]
    return out, sigma


def inpaint(model, image: torch.Tensor, mask: torch.Tensor, scale: int = 1,
            cfg: Pyramid = Pyramid(), bf16: bool | None = None) -> torch.Tensor:
    """Fill the holes of `image` (B, 3, H, W), float32 RGB in [0, 1], any size, where `mask`
    (B, 1, H, W), float32, is 0 (1 = known; files' masks are the other way round, white =
    hole: `read_mask` turns them). Every known pixel is returned unchanged; with `scale` > 1
    the decoder renders the result at scale x and the known pixels, upsampled by nearest
    neighbour, are pasted back. The model passes run under bf16 autocast where `bf16_is_fast`
    (None, the default), or as told; rendering at `scale` > 1 stays fp32. `cfg`: the
    pipeline's settings (`Pyramid`; `auto_averaged` for the CLI's averaging). The output is
    float32 on the image's device, without gradient; an image's fill does not depend on the
    other images of its batch. Bad input is a one-line ValueError (TypeError for a wrong
    model or cfg)."""
    return inpaint_with_std(model, image, mask, scale, cfg, bf16)[0]
