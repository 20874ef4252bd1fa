"""Image files in and out: decoding (EXIF orientation, 16-bit greyscale, HEIC with the
optional pillow-heif), mask files (white = hole, or painted on a transparent layer), and what
an output keeps of its input file (`Original`: alpha, greyscale, bit depth, colour profile).

Every bad file becomes an `InputError` with a one-line reason, never a traceback.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..data import IMAGE_EXTENSIONS
from ..data.datasets import WIDE_MODES, rgb


class InputError(ValueError):
    """A bad input file (missing, not an image, wrong size, unusable mask)."""


GREY_MODES = {"1", "L", "LA", "La"} | WIDE_MODES  # Pillow's modes of greyscale files


# Pillow warns of a corrupt EXIF block as it opens a file, then reads the pixels fine: a
# user's photo should not print a library's warning. (A filter, not catch_warnings, which
# is not thread-safe, and the server decodes in worker threads.)
warnings.filterwarnings("ignore", message="Corrupt EXIF data", category=UserWarning)

HEIF_SUFFIXES = {".heic", ".heif"}  # iPhones' photos: read with the optional pillow-heif
INPUT_EXTENSIONS = IMAGE_EXTENSIONS | HEIF_SUFFIXES


@functools.cache
def heif_support() -> bool:
    """Whether HEIC/HEIF files can be read: pillow-heif (`pip install 'impaint[heic]'`) is
    installed, and its Pillow plugin is now registered."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    return True


def _decode(source: str | Path | BinaryIO, kind: str,
            read: Callable[[Image.Image], np.ndarray]) -> np.ndarray:
    """An image file (a path, or an open binary file such as an upload) -> `read`'s array of
    it, turned upright by its EXIF orientation, as browsers and image editors show it (a mask
    painted over the shown photo then fits it)."""
    if isinstance(source, (str, Path)) and not Path(source).is_file():
        raise InputError(f"{kind} not found: {source}")
    name = source if isinstance(source, (str, Path)) else getattr(source, "name", kind)
    if not heif_support() and Path(str(name)).suffix.lower() in HEIF_SUFFIXES:
        raise InputError(f"{name} is HEIC/HEIF: reading it needs pillow-heif "
                         "(pip install 'impaint[heic]')")
    try:
        with Image.open(source) as im:
            if im.mode == "F":  # 32-bit float TIFFs: no range to read them in
                raise InputError(f"not a supported {kind}: {name} (32-bit floating point; "
                                 "save it with 8 or 16 bits)")
            return read(ImageOps.exif_transpose(im))
    except (UnidentifiedImageError, OSError, SyntaxError,  # SyntaxError: a broken PNG chunk
            Image.DecompressionBombError) as e:
        raise InputError(f"not a readable {'mask ' if kind == 'mask' else ''}image: {name} "
                         f"({type(e).__name__})")


def _unit(im: Image.Image) -> np.ndarray:
    """-> (H, W, 3) float32 in [0, 1]. 16-bit greyscale is read at its 16 bits (Pillow's own
    conversion clips it at 255: a 16-bit scan would read as white)."""
    if im.mode in WIDE_MODES:
        grey = np.asarray(im).astype(np.float32).clip(0, 65535) / 65535
        return np.repeat(grey[..., None], 3, axis=-1)
    return np.asarray(im.convert("RGB")).astype(np.float32) / 255.0


def read_image(source: str | Path | BinaryIO) -> torch.Tensor:
    """-> (3, H, W) float in [0, 1]."""
    return torch.from_numpy(_decode(source, "image", _unit)).permute(2, 0, 1).contiguous()


@dataclass(frozen=True, eq=False)  # eq would compare the alpha arrays element by element
class Original:
    """What an output keeps of its input file beyond the colour the model fills: a cut-out
    stays cut out, a greyscale scan comes back greyscale (without the colour cast a model
    trained on colour photos may give its fill), at 16 bits if it had them, and a photo keeps
    its colour profile (a phone's Display P3 photo would otherwise show duller as sRGB) and
    its EXIF metadata."""
    alpha: np.ndarray | None = None  # (H, W) uint8, upright as `read_image`; None: opaque
    grey: bool = False
    bits: int = 8  # 16: 16-bit greyscale
    icc: bytes | None = None  # the embedded ICC profile, as the file had it
    exif: bytes | None = None  # its EXIF (camera, date taken), less the orientation: upright

    def fit(self, suffix: str) -> "Original":
        """What a file format (by its suffix) can hold of it."""
        suffix = suffix.lower()
        return replace(self, alpha=self.alpha if suffix in ALPHA_SUFFIXES else None,
                       bits=self.bits if suffix in WIDE_SUFFIXES and self.alpha is None else 8)


ALPHA_SUFFIXES = {".png", ".webp", ".tif", ".tiff"}  # formats that keep transparency
WIDE_SUFFIXES = {".png", ".tif", ".tiff"}  # and 16-bit greyscale


def read_original(source: str | Path | BinaryIO) -> Original:
    """The input's `Original` (read after `read_image`, which has already turned an
    unreadable file into its one-line error)."""
    if not isinstance(source, (str, Path)):
        source.seek(0)
    with Image.open(source) as im:
        alpha = None
        if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
            alpha = np.asarray(ImageOps.exif_transpose(im).convert("RGBA"))[..., 3]
            alpha = None if (alpha == 255).all() else alpha
        return Original(alpha, im.mode in GREY_MODES, 16 if im.mode in WIDE_MODES else 8,
                        im.info.get("icc_profile") or None, _exif(im))


def _exif(im: Image.Image) -> bytes | None:
    """The file's EXIF less its orientation (the output is written upright); None where it
    has none, or none that Pillow can read (a broken block is dropped, not reported)."""
    try:
        exif = im.getexif()
        exif.pop(0x0112, None)
        return exif.tobytes() if exif else None
    except Exception:  # noqa: BLE001 (metadata only: the pixels were read already)
        return None


def read_mask(source: str | Path | BinaryIO, invert: bool = False) -> torch.Tensor:
    """Mask file (white = hole, unless `invert`) -> (1, H, W) float, 1 = known.

    A mask with transparency is read by its alpha instead: painted (opaque) = hole, whatever
    the paint's colour. Painting tools export strokes on a transparent layer that way, and
    their red or black strokes would otherwise read as "no hole"."""
    def grey_alpha(im: Image.Image) -> np.ndarray:  # -> (H, W, 2) uint8
        return np.asarray((rgb(im) if im.mode in WIDE_MODES else im).convert("LA"))

    grey, alpha = np.moveaxis(_decode(source, "mask", grey_alpha), -1, 0)
    # >= 128: anti-aliased or JPEG masks still work
    white = alpha >= 128 if (alpha < 255).any() else grey >= 128
    known = white if invert else ~white
    return torch.from_numpy(known.astype(np.float32))[None]


def check_writable(path: Path) -> None:
    """A one-line error, before any work, for an output the image writer cannot make: an
    unknown format, or a folder that cannot be created."""
    if path.suffix.lower() not in Image.registered_extensions():
        raise InputError(f"cannot write {path.name}: name the output .png, .jpg, .webp or "
                         ".tif (PNG is lossless: known pixels exact)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror or type(e).__name__}")


def to_pil(image: torch.Tensor, original: Original = Original()) -> Image.Image:
    """(3, H, W) float in [0, 1] -> an image of the input's kind (`original`): RGB, RGBA,
    L, LA or 16-bit L. At --scale K (H = K·h) each alpha value covers its K x K block, as
    the known pixels do. A known pixel of a grey file (R = G = B) keeps its exact value."""
    if original.grey:
        grey = image.mean(0, keepdim=True)  # (1, H, W)
        if original.bits == 16:
            return Image.fromarray((grey[0].clamp(0, 1).numpy() * 65535.0 + 0.5)
                                   .astype(np.uint16))
        pixels = to_uint8(grey)[..., 0]  # (H, W)
    else:
        pixels = to_uint8(image)  # (H, W, 3)
    if original.alpha is None:
        return Image.fromarray(pixels)
    k = pixels.shape[0] // original.alpha.shape[0]
    return Image.fromarray(np.dstack([pixels, original.alpha.repeat(k, 0).repeat(k, 1)]))


def write_image(image: torch.Tensor, path: str | Path, original: Original = Original()) -> Path:
    """(3, H, W) float in [0, 1] -> an image file (format from the suffix), of the input's
    kind as far as the format holds it (JPEG: no alpha, no 16 bits)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    original = original.fit(path.suffix)
    to_pil(image, original).save(path, **profile(original),
                                 **LOSSY_QUALITY.get(path.suffix.lower(), {}))
    return path


# Pillow's default JPEG quality, 75, visibly blurs a photo's known pixels; 95 keeps them
# within a grey level or two (PNG keeps them exact).
LOSSY_QUALITY = {".jpg": {"quality": 95}, ".jpeg": {"quality": 95}, ".webp": {"quality": 95}}


def profile(original: Original) -> dict:
    """Pillow's `save` arguments that embed the input's colour profile and EXIF, if any."""
    return {key: value for key, value in (("icc_profile", original.icc),
                                          ("exif", original.exif)) if value is not None}


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) float in [0, 1] -> (H, W, 3) uint8; a pixel read from an 8-bit file comes
    back to its own value exactly."""
    scaled = image.clamp(0, 1).mul_(255.0).add_(0.5)  # one float copy (a 67-Mpx render: 0.8 GB)
    return np.ascontiguousarray(scaled.permute(1, 2, 0).numpy().astype(np.uint8))
