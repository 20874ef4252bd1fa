"""One image tensor and its mask filled as a user gives them (`inpaint_image`): the checks of
the pair (`check_pair`) and of --scale against what fits in memory (`check_scale`), then the
multi-scale pipeline (`pipeline.py`) with the PyTorch model or a single-scale backend, behind a
progress bar. Around it, the files and folders of `impaint inpaint`: `files.py`; the server
checks its uploads with the same two checks.
"""

from __future__ import annotations


import torch
from tqdm import tqdm

from ..model import ImplicitInpainter
from ..progress import redrawn
from .image_read import InputError
from .averaged import auto_averaged
from .pipeline import coarse_of, counted, inpaint_pyramid, inpaint_with_std
from .pyramid import Pyramid


# Where a mask reads the wrong way round: the CLI has a flag for it, the API does not.
INVERT_HINT = "mask files are white = hole; --invert-mask for white = known"


def check_pair(image: torch.Tensor, mask: torch.Tensor, name: str = "image",
               allow_full: bool = False, hint: str = INVERT_HINT) -> None:
    if image.shape[-2:] != mask.shape[-2:]:
        turned = image.shape[-2:] == mask.shape[-2:][::-1]  # a phone photo's EXIF turn
        raise InputError(f"mask size {tuple(mask.shape[-2:][::-1])} differs from {name} size "
                         f"{tuple(image.shape[-2:][::-1])} (width, height)" + (
                             "; images are read upright, as viewers show them (EXIF "
                             "orientation): paint the mask over the upright image" if turned
                             else ""))
    if not torch.isfinite(image).all():
        raise InputError(f"{name} contains NaN or infinite values")
    if bool(mask.all()):
        raise InputError(f"the mask of {name} has no hole: nothing to inpaint ({hint})")
    if not allow_full and not bool(mask.any()):
        raise InputError(f"the mask of {name} hides every pixel: nothing to inpaint from "
                         f"(is it inverted? {hint})")


# The most pixels an output at --scale K may have: rendering holds a few float copies of the
# output (a 2048-px image at x4, 67 Mpx, through the CLI: 4.5 GB and 114 s on the 2-core CPU);
# beyond, the process would be killed for memory with no word.
MAX_RENDER_PIXELS = 8192 * 8192
# And the most pixels in: at --scale the encoder reads the whole filled image at once (the x1
# pipeline works in tiles), about 1 GB a megapixel: 2048x2048 at x2 peaked at 4.5 GB, 3000x2000
# at 6.4 GB, so a 4096-px photo would have needed some 18 GB.
MAX_SCALE_INPUT_PIXELS = 2048 * 2048


def check_scale(scale: int, size: tuple[int, int] | None = None, name: str = "--scale"
                ) -> None:
    """A one-line error for a --scale that is not a positive integer or, given the image's
    `size` (H, W), whose work would not fit in memory; `name`: the option as the caller's
    user knows it (the page's "output scale")."""
    if scale < 1:
        raise InputError(f"{name} must be a positive integer, got {scale}")
    if size is None:
        return
    h, w = size
    if scale > 1 and h * w > MAX_SCALE_INPUT_PIXELS:
        raise InputError(f"{w}×{h} is {h * w / 1e6:.1f} Mpx; {name} ×2 or ×4 takes at most "
                         f"{MAX_SCALE_INPUT_PIXELS / 1e6:.1f} Mpx (2048×2048) in: crop or "
                         "downscale it first")
    if scale > 1 and h * w * scale ** 2 > MAX_RENDER_PIXELS:
        raise InputError(f"{w}×{h} at {name} {scale} would be {w * scale}×{h * scale} "
                         f"({h * w * scale ** 2 / 1e6:.0f} Mpx); {name} renders at most "
                         f"{MAX_RENDER_PIXELS / 1e6:.0f} Mpx: a smaller scale, or a crop")


def inpaint_image(model: ImplicitInpainter, image: torch.Tensor, mask: torch.Tensor,
                  scale: int = 1, allow_full: bool = False, return_std: bool = False,
                  progress: bool = False, name: str = "image", cfg: Pyramid | None = None):
    """(3, H, W), (1, H, W) -> (3, H*scale, W*scale); known pixels kept exactly at scale 1.

    With `return_std`, returns (image, σ (3, H*scale, W*scale)) for a probabilistic model.
    `model` may also be a single-scale backend (`onnx_backend.load_backend`), at scale 1.
    `progress`: a bar of the model's passes (and, at --scale, the render's chunks), shown when
    the work takes over a second (a 12-Mpx photo takes seconds). `cfg`: the pipeline's
    settings (`Pyramid`: its flips and rounds); None: `auto_averaged` for the image's size."""
    check_pair(image, mask, name, allow_full=allow_full)
    check_scale(scale, image.shape[-2:])
    cfg = auto_averaged(image.shape[-2:]) if cfg is None else cfg
    is_model = isinstance(model, torch.nn.Module)
    if return_std and not (model.cfg.probabilistic if is_model else model.probabilistic):
        raise InputError("this checkpoint predicts no uncertainty (train one with "
                         "--set model.probabilistic=true)")
    if not is_model and scale != 1:
        raise InputError(f"the {model.name} backend renders at x1 only: use --backend torch")
    # A bar that goes away when done (leave=False) can only go away where it is redrawn (a
    # terminal, a notebook): in a log or a pipe it stayed behind as a stuck "0%" line.
    progress = progress and redrawn()
    with tqdm(desc="inpainting", unit=" steps", delay=1.0, leave=False,
              disable=not progress) as bar:
        tick = bar.update if progress else None

        def more(n: int) -> None:  # the pipeline's plan: n more passes (x1 only)
            bar.total = (bar.total or 0) + n
            bar.refresh()
        plan = more if progress else None
        if is_model:
            device = next(model.parameters()).device
            out, std = inpaint_with_std(model, image[None].to(device), mask[None].to(device),
                                        scale, cfg, on_pass=tick, on_plan=plan)
        else:
            out, std = inpaint_pyramid(counted(model, tick), image[None], mask[None],
                                       cfg, counted(coarse_of(model), tick),
                                       plan)
    return (out[0].cpu(), std[0].cpu()) if return_std else out[0].cpu()
