"""What an output keeps of its input file beyond the colour the model fills (`Original`:
alpha, greyscale, bit depth, colour profile, EXIF), what each output format can hold of it,
and `read_original`, which reads it from the file (its pixels: `image_read.py`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

from ..data.image import WIDE_MODES
from .image_read import GREY_MODES, rawmode, wide_colour, wide_colour_pixels


@dataclass(frozen=True, eq=False)  # eq would compare the alpha arrays element by element
class Original:
    """What an output keeps of its input file beyond the colour the model fills: a cut-out
    stays cut out, a greyscale scan comes back greyscale (without the colour cast a model
    trained on colour photos may give its fill), at 16 bits if it had them, and a photo keeps
    its colour profile (a phone's Display P3 photo would otherwise show duller as sRGB) and
    its EXIF metadata."""
    alpha: np.ndarray | None = None  # (H, W) uint8 (uint16 at 16 bits), upright; None: opaque
    grey: bool = False
    bits: int = 8  # 16: 16-bit greyscale or colour
    icc: bytes | None = None  # the embedded ICC profile, as the file had it
    exif: bytes | None = None  # its EXIF (camera, date taken), less the orientation: upright

    def fit(self, suffix: str) -> "Original":
        """What a file format (by its suffix) can hold of it."""
        suffix = suffix.lower()
        alpha = self.alpha if suffix in ALPHA_SUFFIXES else None
        wide = suffix in WIDE_SUFFIXES
        if alpha is not None and alpha.dtype == np.uint16 and not wide:
            alpha = (alpha / 257).round().astype(np.uint8)
        exif = self.exif if suffix not in JPEG_SUFFIXES or len(self.exif or b"") <= MAX_JPEG_EXIF \
            else None
        return replace(self, alpha=alpha, bits=self.bits if wide else 8, exif=exif)


ALPHA_SUFFIXES = {".png", ".webp", ".tif", ".tiff"}  # formats that keep transparency
JPEG_SUFFIXES = {".jpg", ".jpeg"}
MAX_JPEG_EXIF = 65_000  # bytes: a JPEG's APP1 segment holds at most 64 KB
WIDE_SUFFIXES = {".png", ".tif", ".tiff"}  # and 16 bits


def read_original(source: str | Path | BinaryIO | bytes) -> Original:
    """The input's `Original` (read after `read_image`, which has already turned an
    unreadable file into its one-line error)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(source)
    elif not isinstance(source, (str, Path)):
        source.seek(0)
    with Image.open(source) as im:
        grey = _grey(im)  # first: its raw mode is gone once the pixels are loaded
        # 16-bit colour only where it decodes at 16 bits (else read_image read its 8)
        pixels = wide_colour_pixels(source, im) if wide_colour(im) else None
        wide = im.mode in WIDE_MODES or pixels is not None
        alpha = None
        if pixels is not None and pixels.shape[2] == 4:  # 16-bit alpha
            alpha = pixels[..., 3]
            alpha = None if (alpha == 65535).all() else alpha
        elif im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:  # its 8 bits
            alpha = np.asarray(ImageOps.exif_transpose(im).convert("RGBA"))[..., 3]
            alpha = None if (alpha == 255).all() else alpha
        return Original(alpha, grey, 16 if wide else 8, _profile_for(im), _exif(im))


def _grey(im: Image.Image) -> bool:
    """Whether a file is greyscale: Pillow's mode says so, except for 16-bit grey with alpha,
    which it opens as RGBA (only the decoder's raw mode, 'LA;16B', tells)."""
    return im.mode in GREY_MODES or rawmode(im).startswith("LA;16")


def _profile_for(im: Image.Image) -> bytes | None:
    """The file's ICC profile if it describes RGB or grey colours, as the output's are; None
    for a CMYK or Lab one, which an RGB output must not carry (read_image has converted such
    pixels to sRGB through it)."""
    icc = im.info.get("icc_profile") or None
    return icc if icc_space(icc) in (b"RGB ", b"GRAY") else None


def icc_space(icc: bytes | None) -> bytes | None:
    """An ICC profile's colour space, from its header: b"RGB ", b"GRAY", b"CMYK"..."""
    return icc[16:20] if icc and len(icc) >= 20 else None


# A TIFF's EXIF is its own first tag block: its layout (size, strips, compression) beside
# the camera's tags, and often XMP, ICC or Photoshop blobs of megabytes. An output keeps only
# these of it (Make, Model, Software, DateTime, Artist, Copyright, ImageDescription), and the
# camera's Exif and GPS blocks.
TIFF_EXIF_TAGS = (0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x8298)
EXIF_IFD, GPS_IFD = 0x8769, 0x8825


def _exif(im: Image.Image) -> bytes | None:
    """The file's EXIF less its orientation (the output is written upright); None where it
    has none, or none that Pillow can read (a broken block is dropped, not reported)."""
    try:
        exif = im.getexif()
        if im.format == "TIFF":
            kept = Image.Exif()
            for tag in TIFF_EXIF_TAGS:
                if tag in exif:
                    kept[tag] = exif[tag]
            for tag in (EXIF_IFD, GPS_IFD):
                if tag in exif and exif.get_ifd(tag):
                    kept[tag] = exif.get_ifd(tag)
            exif = kept
        exif.pop(0x0112, None)
        return exif.tobytes() if exif else None
    except Exception:  # noqa: BLE001 (metadata only: the pixels were read already)
        return None
