"""Classical inpainting baselines, one small function each, all with the same signature:

    fn(image, mask) -> filled
    image: (H, W, 3) float in [0, 1];  mask: (H, W), 1 = known, 0 = missing
    filled: (H, W, 3), the image's dtype, known pixels returned bit-exactly

`BASELINES` maps a method name to its function. With no known pixel at all (a full mask) the
propagating methods have nothing to work from and return `EMPTY_FILL` grey; `evaluate`
replaces that by the mean colour of the evaluated images (see its docstring).

OpenCV and scikit-image are imported where they are called: this module sits under the CLI,
the bench and the demo, whose start-up should not pay a quarter of a second for them.
"""

from __future__ import annotations

import numpy as np

EMPTY_FILL = 0.5  # grey, for a mask with no known pixel
# OpenCV's neighbourhood radius: 3 px on a 32-px image, scaled with the image side so that
# the same fraction of the face is consulted at any resolution.
RADIUS_PER_PIXEL = 3 / 32


def compose(image: np.ndarray, mask: np.ndarray, filled: np.ndarray) -> np.ndarray:
    """Known pixels from `image` (bit-exact), the rest from `filled`; `image`'s dtype."""
    known = np.asarray(mask).astype(bool)[..., None]
    return np.where(known, image, filled.astype(image.dtype, copy=False))


def _empty(image: np.ndarray) -> np.ndarray:
    return np.full_like(image, EMPTY_FILL)


def opencv_radius(height: int, width: int) -> int:
    return max(1, round(RADIUS_PER_PIXEL * min(height, width)))


def _opencv(image: np.ndarray, mask: np.ndarray, method: str) -> np.ndarray:
    import cv2

    known = np.asarray(mask).astype(bool)
    if not known.any():
        return _empty(image)
    # cv2.inpaint takes 3 channels only as uint8 (its 1-channel float Telea path returns
    # garbage in OpenCV 5.0), so the hole is filled at 8 bits; the known pixels are composed
    # back from the float input, exactly.
    u8 = (np.clip(image, 0, 1) * 255).round().astype(np.uint8)
    holes = (~known).astype(np.uint8)  # OpenCV: non-zero = fill this pixel
    out = cv2.inpaint(u8, holes, opencv_radius(*known.shape),
                      getattr(cv2, method))
    return compose(image, known, out.astype(np.float32) / 255)


def telea(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """OpenCV's fast-marching method (Telea 2004), radius `opencv_radius` (3 px at 32 px)."""
    return _opencv(image, mask, "INPAINT_TELEA")


def navier_stokes(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """OpenCV's Navier-Stokes method (Bertalmio et al. 2001), same radius as Telea."""
    return _opencv(image, mask, "INPAINT_NS")


def biharmonic(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """scikit-image's biharmonic inpainting, all channels in one call.

    split_into_regions=False: measured at 32-128 px it never helps by more than ~15 % (thick
    strokes at 128 px) and costs 5-8x on random masks, whose every hole pixel is a region.
    """
    from skimage.restoration import inpaint_biharmonic

    known = np.asarray(mask).astype(bool)
    if not known.any():
        return _empty(image)
    if known.all():
        return image.copy()
    out = inpaint_biharmonic(image.astype(np.float64), ~known, channel_axis=-1)
    return compose(image, known, np.clip(out, 0, 1))


def mean_fill(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Every hole pixel gets the mean colour of the image's known pixels."""
    known = np.asarray(mask).astype(bool)
    if not known.any():
        return _empty(image)
    colour = image[known].mean(axis=0)  # (3,)
    return compose(image, known, np.broadcast_to(colour, image.shape))


BASELINES = {"telea": telea, "navier_stokes": navier_stokes, "biharmonic": biharmonic,
             "mean_fill": mean_fill}
