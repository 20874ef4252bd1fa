"""Reading image and mask files into pixels (`read_image`, `read_mask`): decoding with EXIF
orientation, 16-bit greyscale and colour, HEIC with the optional pillow-heif; mask files
(white = hole, or painted on a transparent layer).

Pillow reads 16-bit greyscale but turns 16-bit colour into 8 bits as it opens the file, so
16-bit colour PNG and TIFF files are decoded by OpenCV (and tifffile): their known pixels come
back at their own 16-bit values. pillow-heif's Pillow plugin reads a 10- or 12-bit HEIC at 8
bits too: such files are decoded by pillow-heif itself, at their own bits.

Every bad file becomes an `InputError` with a one-line reason, never a traceback.
"""

from __future__ import annotations

import functools
import io
import warnings
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..data import IMAGE_EXTENSIONS
from ..data.image import WIDE_MODES, rgb
from ..notes import note


class InputError(ValueError):
    """A bad input file (missing, not an image, wrong size, unusable mask)."""


GREY_MODES = {"1", "L", "LA", "La"} | WIDE_MODES  # Pillow's modes of greyscale files


# Pillow warns of a corrupt EXIF block as it opens a file, then reads the pixels fine: a
# user's photo should not print a library's warning. (A filter, not catch_warnings, which
# is not thread-safe, and the server decodes in worker threads.)
warnings.filterwarnings("ignore", message="Corrupt EXIF data", category=UserWarning)

HEIF_SUFFIXES = {".heic", ".heif"}  # iPhones' photos: read with the optional pillow-heif
# What `impaint inpaint` reads, a folder's files too: a GIF (its first frame) as well.
INPUT_EXTENSIONS = IMAGE_EXTENSIONS | HEIF_SUFFIXES | {".gif"}


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


def wide_colour(im: Image.Image) -> bool:
    """Whether an opened file holds more than 8 bits per colour channel (Pillow's mode then
    says RGB or RGBA: only a TIFF's BitsPerSample tag, the decoder's raw mode, e.g.
    'RGB;16B', or a HEIC's bit depth (10 or 12, pillow-heif's info) tells; a planar TIFF's
    raw mode does not)."""
    if im.mode not in ("RGB", "RGBA"):
        return False
    if im.format == "HEIF":
        return im.info.get("bit_depth", 8) > 8
    if not im.tile:
        return False
    if im.format == "TIFF":
        return 16 in tuple(im.tag_v2.get(258, ()))
    return ";16" in rawmode(im)


def rawmode(im: Image.Image) -> str:
    """The decoder's raw mode of an opened, not yet loaded file ('RGB;16B', 'LA;16B'; '' where
    there is none): what Pillow's mode does not say of its bits."""
    args = im.tile[0].args if im.tile else None
    rawmode = args[0] if isinstance(args, tuple) and args else args
    return rawmode if isinstance(rawmode, str) else ""


# EXIF orientation -> the numpy operation that turns the stored pixels upright, as Pillow's
# ImageOps.exif_transpose does (tested against it): (H, W, C) -> (H', W', C).
UPRIGHT = {
    2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).swapaxes(0, 1), 8: lambda a: np.rot90(a, 1),
}


def wide_colour_pixels(source: str | Path | BinaryIO, im: Image.Image) -> np.ndarray | None:
    """A 16-bit colour file (or a 10- or 12-bit HEIC) -> (H, W, 3 or 4) uint16 RGB(A),
    upright; None where it cannot be decoded at 16 bits (a codec missing, a truncated file):
    Pillow's 8 bits, or its error."""
    import cv2

    if isinstance(source, (str, Path)):
        data = Path(source).read_bytes()
    else:
        source.seek(0)
        data = source.read()
    if data.startswith(b"\x89PNG") and data.rfind(b"IEND\xaeB`\x82") < 0:
        return None  # truncated: Pillow says so in one line, where libpng prints its own
    pixels, contiguous = _tiff_pixels(data) if im.format == "TIFF" else (None, True)
    if im.format == "HEIF":
        pixels, contiguous = _heif_pixels(data), False
    if pixels is None and contiguous:
        # OpenCV: PNG, and TIFF in the codecs tifffile lacks (LZW, its own default). Its
        # warnings (an RGBA TIFF of its own making has a "non-standard" extra sample) are
        # not the user's business: the pixels are checked below.
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if pixels is not None and pixels.ndim == 3 and pixels.shape[2] in (3, 4):
            pixels = cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGBA if pixels.shape[2] == 4
                                  else cv2.COLOR_BGR2RGB)
    if (pixels is None or pixels.dtype != np.uint16 or pixels.ndim != 3
            or pixels.shape[2] not in (3, 4) or (pixels.shape[1], pixels.shape[0]) != im.size):
        return None
    turn = UPRIGHT.get(im.getexif().get(0x0112, 1))
    return np.ascontiguousarray(turn(pixels)) if turn else pixels


def _heif_pixels(data: bytes) -> np.ndarray | None:
    """A 10- or 12-bit HEIC's primary image at its own bits, as pillow-heif gives them in
    16 (its value shifted up: 1023 -> 65472), turned as its own transforms say (as Pillow's
    8-bit reading does); None where it cannot be decoded so."""
    from pillow_heif import open_heif

    try:
        return np.asarray(open_heif(io.BytesIO(data), convert_hdr_to_8bit=False))
    except Exception:  # noqa: BLE001 (damaged data: Pillow's 8-bit reading says why)
        return None


def _tiff_pixels(data: bytes) -> tuple[np.ndarray | None, bool]:
    """A TIFF's first image by tifffile, the reference reader (OpenCV garbles 16-bit planar
    RGB), as (H, W, S) in its stored RGB(A) order, or None where it needs a codec not
    installed (LZW needs imagecodecs) or is not RGB; and whether its samples are interleaved,
    the layout OpenCV reads correctly in its place."""
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages[0]
            contiguous = page.planarconfig == tifffile.PLANARCONFIG.CONTIG
            if page.photometric != tifffile.PHOTOMETRIC.RGB:
                return None, contiguous
            try:
                pixels = page.asarray()
            except Exception:  # noqa: BLE001 (a missing codec, damaged data: OpenCV's turn)
                return None, contiguous
            return (np.moveaxis(pixels, 0, -1) if page.axes.startswith("S") else pixels,
                    contiguous)
    except Exception:  # noqa: BLE001 (not a TIFF tifffile can parse: Pillow's turn)
        return None, False


def _decode(source: str | Path | BinaryIO, kind: str,
            read: Callable[[Image.Image], np.ndarray],
            read_wide: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """An image file (a path, or an open binary file such as an upload) -> `read`'s array of
    it, turned upright by its EXIF orientation, as browsers and image editors show it (a mask
    painted over the shown photo then fits it). A 16-bit colour file goes to `read_wide` as
    (H, W, 3 or 4) uint16, where one is given (a mask's 8 bits are enough). The file's
    bytes are read as the file."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(source)
    if isinstance(source, (str, Path)) and not Path(source).is_file():
        what = "is a folder, not a file" if Path(source).is_dir() else "not found"
        raise InputError(f"{kind} {what}: {source}")
    name = _name(source, kind)
    if not heif_support() and Path(str(name)).suffix.lower() in HEIF_SUFFIXES:
        raise InputError(f"{name} is HEIC/HEIF: reading it needs pillow-heif "
                         "(pip install 'impaint[heic]')")
    try:
        with Image.open(source) as im:
            if im.mode == "F":  # 32-bit float TIFFs: no range to read them in
                raise InputError(f"not a supported {kind}: {name} (32-bit floating point; "
                                 "save it with 8 or 16 bits)")
            frames = getattr(im, "n_frames", 1)
            if frames > 1 and im.format != "MPO":  # a phone JPEG's depth map is no frame
                note(f"{name} holds {frames} frames (an animation or pages): the first is read")
            if read_wide is not None and wide_colour(im):
                wide = wide_colour_pixels(source, im)
                if wide is not None:
                    return read_wide(wide)
                pixels = read(ImageOps.exif_transpose(im))  # else Pillow's error, in one line
                note(f"{name} has 16-bit colour that cannot be decoded at 16 bits (damaged data, "
                     f"or a codec missing): read at 8")
                return pixels
            return read(ImageOps.exif_transpose(im))
    except InputError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError,  # SyntaxError: a broken PNG chunk
            Image.DecompressionBombError, ValueError) as e:  # ValueError: a mode (LAB) that
        # Pillow cannot convert
        raise InputError(f"not a readable {'mask ' if kind == 'mask' else ''}image: {name} "
                         f"({_why(e)})")


def _name(source: str | Path | BinaryIO, kind: str):
    """What to call a file in a message: its path, an upload's file name, else its kind."""
    return source if isinstance(source, (str, Path)) else getattr(source, "name", kind)


def _why(error: Exception) -> str:
    """Pillow's exception -> what it means for the file, in a few words."""
    if isinstance(error, UnidentifiedImageError):
        return "not an image format this reads"
    if isinstance(error, Image.DecompressionBombError):
        return "too many pixels to decode safely"
    if isinstance(error, SyntaxError):
        return "damaged"
    if isinstance(error, ValueError):
        return str(error)  # Pillow's own words: "conversion from LAB to RGB not supported"
    return "truncated or damaged"  # OSError: Pillow's word for a file that ends too soon


def _unit(im: Image.Image) -> np.ndarray:
    """-> (H, W, 3) float32 in [0, 1]. 16-bit greyscale is read at its 16 bits (Pillow's own
    conversion clips it at 255: a 16-bit scan would read as white)."""
    if im.mode in WIDE_MODES:
        grey = np.asarray(im).astype(np.float32).clip(0, 65535) / 65535
        return np.repeat(grey[..., None], 3, axis=-1)
    if im.mode == "CMYK" and im.info.get("icc_profile"):  # print colours: to sRGB through
        im = _to_srgb(im)                                  # their own profile
    return np.asarray(im.convert("RGB")).astype(np.float32) / 255.0


def _to_srgb(im: Image.Image) -> Image.Image:
    """A CMYK image with its ICC profile -> RGB in sRGB (perceptual), as colour-managed
    viewers show it; Pillow's plain conversion where the profile is unusable."""
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(im.info["icc_profile"]))
        return ImageCms.profileToProfile(im, source, ImageCms.createProfile("sRGB"),
                                         outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        return im.convert("RGB")


def _unit_wide(pixels: np.ndarray) -> np.ndarray:
    """(H, W, 3 or 4) uint16 -> (H, W, 3) float32 in [0, 1]."""
    return pixels[..., :3].astype(np.float32) / 65535


def read_image(source: str | Path | BinaryIO | bytes) -> torch.Tensor:
    """An image file (a path, an open binary file, or the file's bytes) -> (3, H, W) float
    in [0, 1], RGB, upright by its EXIF orientation (`impaint.inpaint` takes `[None]` of it)."""
    pixels = _decode(source, "image", _unit, _unit_wide)
    return torch.from_numpy(pixels).permute(2, 0, 1).contiguous()


def read_mask(source: str | Path | BinaryIO | bytes, invert: bool = False) -> torch.Tensor:
    """Mask file (white = hole, unless `invert`; a path, an open binary file or the file's
    bytes) -> (1, H, W) float, 1 = known (`impaint.inpaint` takes `[None]` of it).

    A mask with transparent pixels (alpha < 128) is read by its alpha instead: painted
    (opaque) = hole, whatever the paint's colour. Painting tools export strokes on a
    transparent layer that way, and their red or black strokes would otherwise read as "no
    hole". Unless its opaque pixels are themselves a black-and-white mask (both, and 95 % of
    them near-black or near-white grey): a mask with a transparent margin (a canvas grown) is
    read as white = hole, transparent = known. The page's Open mask reads the same way."""
    def grey_alpha_spread(im: Image.Image) -> np.ndarray:  # -> (H, W, 3) uint8
        im = rgb(im) if im.mode in WIDE_MODES else im
        rgba = np.asarray(im.convert("RGBA"))[..., :3]
        spread = rgba.max(-1) - rgba.min(-1)  # 0 for grey, 255 for pure red or yellow
        return np.dstack([np.asarray(im.convert("LA")), spread])

    grey, alpha, spread = np.moveaxis(_decode(source, "mask", grey_alpha_spread), -1, 0)
    if grey.max() == 1 and (alpha == 255).all():  # saved from a 0/1 array: all but black
        raise InputError(f"the mask {_name(source, 'mask')} holds only 0s and 1s, which read "
                         "as black (no hole): save the hole as white (255)")
    # >= 128: anti-aliased or JPEG masks still work
    painted = alpha >= 128
    shades = grey[painted]
    extreme = (spread[painted] < 32) & ((shades < 32) | (shades >= 224))
    black_and_white = ((shades < 128).any() and (shades >= 128).any()
                       and extreme.sum() >= 0.95 * painted.sum())
    white = painted if (~painted).any() and not black_and_white else painted & (grey >= 128)
    known = white if invert else ~white
    return torch.from_numpy(known.astype(np.float32))[None]
