"""Reading one image file: any mode Pillow opens, upright by EXIF, as 8-bit RGB; and the
centred square that every training image is decoded to (`load_square`).

The data sets decode with it (decoded.py runs it over many files); `impaint inpaint` reads a
photo with the same `rgb`, so training and inference see one image the same way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

WIDE_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N"}  # Pillow's 16-bit greyscale modes


def rgb(im: Image.Image) -> Image.Image:
    """Any image Pillow opens -> 8-bit RGB. 16-bit greyscale is scaled to 8 bits first:
    Pillow's own conversion clips it at 255, and a 16-bit scan would read as white. A float
    one is refused (ValueError), as `impaint inpaint` refuses it: Pillow clipped a [0, 1]
    one to black."""
    if im.mode == "F":  # 32-bit float: no range to read it in (0-1 and 0-255 both occur)
        raise ValueError("32-bit floating point; save it with 8 or 16 bits")
    if im.mode in WIDE_MODES:
        im = Image.fromarray((np.asarray(im).clip(0, 65535) / 257).round().astype(np.uint8))
    return im.convert("RGB")


def load_square(path: Path, size: int, crop_fraction: float | None = None) -> np.ndarray:
    """Decode an image, centre-crop a square and resize it to size x size. -> (H, W, 3) uint8.

    `crop_fraction` is the square's side as a fraction of the image width (CelebA: 140/178);
    None takes the largest centred square. Proportional, so half-size copies give the same view.
    """
    return _square(path, size, crop_fraction)[0]


def _square(path: Path, size: int, crop_fraction: float | None) -> tuple[np.ndarray, float]:
    """load_square, and the side in pixels of the square it cropped (below `size`: enlarged)."""
    with Image.open(path) as im:
        im.draft("RGB", (size * 2, size * 2))  # JPEG: let the decoder downscale by 2^k, cheaply
        im = rgb(ImageOps.exif_transpose(im))  # upright, as impaint inpaint reads a photo
        w, h = im.size
        side = min(w, h) if crop_fraction is None else min(w, h, crop_fraction * w)
        left, top = (w - side) / 2, (h - side) / 2
        # PIL's resize filters widen with the scale factor: it antialiases when shrinking.
        im = im.resize((size, size), Image.Resampling.LANCZOS, box=(left, top, left + side,
                                                                    top + side))
        return np.asarray(im, dtype=np.uint8), side


def load_or_none(args) -> tuple[np.ndarray | None, str]:
    """(the square, or None; why it is None, or "WxH" when it was enlarged, else "")."""
    path, size, crop_fraction = args
    try:
        square, side = _square(path, size, crop_fraction)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        # PIL's "cannot identify image file '/long/path'": the path is said once, before it
        reason = str(e).split(" '")[0] if isinstance(e, UnidentifiedImageError) else str(e)
        return None, reason or type(e).__name__
    return square, (f"{side:.0f} px" if side < size else "")
