"""Image files in and out: decoding (EXIF orientation, 16-bit greyscale and colour, HEIC with
the optional pillow-heif), mask files (white = hole, or painted on a transparent layer), and
what an output keeps of its input file (`Original`: alpha, greyscale, bit depth, colour
profile).

Pillow reads 16-bit greyscale but turns 16-bit colour into 8 bits as it opens the file, so
16-bit colour PNG and TIFF files are decoded and encoded by OpenCV: their known pixels come
back at their own 16-bit values. pillow-heif's Pillow plugin reads a 10- or 12-bit HEIC at 8
bits too: such files are decoded by pillow-heif itself, at their own bits.

Every bad file becomes an `InputError` with a one-line reason, never a traceback.
"""

from __future__ import annotations

import functools
import io
import struct
import sys
import tempfile
import warnings
import zlib
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
    return ";16" in _rawmode(im)


def _rawmode(im: Image.Image) -> str:
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


def _wide_colour_pixels(source: str | Path | BinaryIO, im: Image.Image) -> np.ndarray | None:
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
    (H, W, 3 or 4) uint16, where one is given (a mask's 8 bits are enough)."""
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
                print(f"impaint: note: {name} holds {frames} frames (an animation or pages): "
                      f"the first is read", file=sys.stderr)
            if read_wide is not None and wide_colour(im):
                wide = _wide_colour_pixels(source, im)
                if wide is not None:
                    return read_wide(wide)
                pixels = read(ImageOps.exif_transpose(im))  # else Pillow's error, in one line
                print(f"impaint: note: {name} has 16-bit colour that cannot be decoded at 16 "
                      f"bits (damaged data, or a codec missing): read at 8", file=sys.stderr)
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


def read_image(source: str | Path | BinaryIO) -> torch.Tensor:
    """-> (3, H, W) float in [0, 1]."""
    pixels = _decode(source, "image", _unit, _unit_wide)
    return torch.from_numpy(pixels).permute(2, 0, 1).contiguous()


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


def read_original(source: str | Path | BinaryIO) -> Original:
    """The input's `Original` (read after `read_image`, which has already turned an
    unreadable file into its one-line error)."""
    if not isinstance(source, (str, Path)):
        source.seek(0)
    with Image.open(source) as im:
        grey = _grey(im)  # first: its raw mode is gone once the pixels are loaded
        # 16-bit colour only where it decodes at 16 bits (else read_image read its 8)
        pixels = _wide_colour_pixels(source, im) if wide_colour(im) else None
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
    return im.mode in GREY_MODES or _rawmode(im).startswith("LA;16")


def _profile_for(im: Image.Image) -> bytes | None:
    """The file's ICC profile if it describes RGB or grey colours, as the output's are; None
    for a CMYK or Lab one, which an RGB output must not carry (read_image has converted such
    pixels to sRGB through it)."""
    icc = im.info.get("icc_profile") or None
    return icc if _icc_space(icc) in (b"RGB ", b"GRAY") else None


def _icc_space(icc: bytes | None) -> bytes | None:
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


def read_mask(source: str | Path | BinaryIO, invert: bool = False) -> torch.Tensor:
    """Mask file (white = hole, unless `invert`) -> (1, H, W) float, 1 = known.

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


def check_writable(path: Path) -> None:
    """A one-line error, before any work, for an output the image writer cannot make: a
    folder's name, an unknown format, a folder that cannot be created or written in."""
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a folder (name a file in it, e.g. "
                         f"{path / 'filled.png'})")
    if path.suffix.lower() not in OUTPUT_SUFFIXES:  # GIF's palette, ICO's 256 px: not these
        raise InputError(f"cannot write {path.name}: name the output .png, .jpg, .webp or "
                         ".tif (PNG is lossless: known pixels exact)")
    existing = next(p for p in path.absolute().parents if p.exists())
    if not existing.is_dir():
        raise InputError(f"cannot write {path}: {existing} is a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror or type(e).__name__}")
    try:
        with tempfile.TemporaryFile(dir=path.parent):  # can a file be made there at all?
            pass
    except OSError as e:
        raise InputError(f"cannot write in {path.parent}: no file can be made there "
                         f"({e.strerror or type(e).__name__})")


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
    _save(image, original, path, path.suffix)
    return path


def encode(image: torch.Tensor, original: Original, suffix: str = ".png") -> bytes:
    """`write_image`, into bytes (the server's responses)."""
    buf = io.BytesIO()
    _save(image, original, buf, suffix)
    return buf.getvalue()


def _save(image: torch.Tensor, original: Original, target: Path | BinaryIO, suffix: str):
    """`write_image`'s work, into a file or an open binary file: Pillow's writers, or ours
    for 16-bit colour, which Pillow does not write."""
    original = original.fit(suffix)
    if original.bits == 16 and (not original.grey or original.alpha is not None):
        if original.grey:  # Pillow writes no 16-bit grey with alpha: RGBA with R = G = B
            image = image.mean(0, keepdim=True).expand(3, -1, -1)
            if original.icc and _icc_space(original.icc) != b"RGB ":  # a grey one: not on RGB
                original = replace(original, icc=None)
        data = encode_wide_colour(image, original, suffix)
        if isinstance(target, Path):
            target.write_bytes(data)
        else:
            target.write(data)
        return
    to_pil(image, original).save(target, format=Image.registered_extensions()[suffix.lower()],
                                 **profile(original), **LOSSY_QUALITY.get(suffix.lower(), {}))


def encode_wide_colour(image: torch.Tensor, original: Original, suffix: str) -> bytes:
    """(3, H, W) float in [0, 1] -> a 16-bit colour PNG or TIFF file's bytes, with the input's
    alpha and colour profile, and its EXIF in a PNG (Pillow writes no 16-bit colour: OpenCV
    writes the PNG, its chunks added here, and tifffile the TIFF, zlib-compressed)."""
    import cv2

    pixels = (image.clamp(0, 1).permute(1, 2, 0).numpy() * 65535.0 + 0.5).astype(np.uint16)
    if original.alpha is not None:
        k = pixels.shape[0] // original.alpha.shape[0]
        alpha = original.alpha.astype(np.uint16) * (1 if original.alpha.dtype == np.uint16
                                                     else 257)
        pixels = np.dstack([pixels, alpha.repeat(k, 0).repeat(k, 1)])
    if suffix.lower() != ".png":
        import tifffile

        buf = io.BytesIO()
        tifffile.imwrite(buf, pixels, photometric="rgb", compression="zlib",
                         extrasamples=["unassalpha"] if pixels.shape[2] == 4 else None,
                         iccprofile=original.icc)
        return buf.getvalue()
    ok, data = cv2.imencode(".png", cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGRA
                                                 if pixels.shape[2] == 4 else cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError(f"cannot encode a 16-bit PNG of {pixels.shape[1]}x{pixels.shape[0]} px")
    return _png_with(data.tobytes(), original)


def _png_with(png: bytes, original: Original) -> bytes:
    """A PNG file's bytes with the input's ICC profile (iCCP) and EXIF (eXIf) chunks added
    after its header chunk (8-byte signature + 25-byte IHDR), where both belong."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    extra = b""
    if original.icc is not None:  # name, NUL, compression method 0, zlib stream
        extra += chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(original.icc))
    if original.exif is not None:  # raw TIFF-structured EXIF, without Pillow's "Exif\0\0"
        extra += chunk(b"eXIf", original.exif.removeprefix(b"Exif\x00\x00"))
    return png[:33] + extra + png[33:]


# Pillow's default JPEG quality, 75, visibly blurs a photo's known pixels; 95 keeps them
# within a grey level or two (PNG keeps them exact).
LOSSY_QUALITY = {".jpg": {"quality": 95}, ".jpeg": {"quality": 95}, ".webp": {"quality": 95}}
# What an output may be: formats that hold the image as it is (or say what they lose), not
# GIF's 256-colour palette or an icon's 256 px that Pillow would also write.
OUTPUT_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff"}


def output_notes(original: Original, suffix: str) -> list[str]:
    """What an output of this format loses of the input (`read_original`), one line each."""
    suffix, name = suffix.lower(), suffix[1:].upper()
    notes = []
    if suffix in LOSSY_QUALITY:
        notes.append(f"{name} is lossy (quality {LOSSY_QUALITY[suffix]['quality']}): the known "
                     f"pixels move (a few levels, up to ~16 at sharp edges); a .png output "
                     f"keeps them exact")
    if original.alpha is not None and suffix not in ALPHA_SUFFIXES:
        notes.append(f"{name} has no transparency: the input's alpha is dropped (a .png "
                     f"keeps it)")
    if original.bits == 16 and suffix not in WIDE_SUFFIXES:
        notes.append(f"{name} holds 8 bits: the input's 16 are rounded (a .png keeps them)")
    if suffix in JPEG_SUFFIXES and len(original.exif or b"") > MAX_JPEG_EXIF:
        notes.append(f"the input's EXIF ({len(original.exif) // 1000} kB) is larger than a JPEG "
                     f"holds: dropped (a .png keeps it)")
    return notes


def profile(original: Original) -> dict:
    """Pillow's `save` arguments that embed the input's colour profile and EXIF, if any."""
    return {key: value for key, value in (("icc_profile", original.icc),
                                          ("exif", original.exif)) if value is not None}


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) float in [0, 1] -> (H, W, 3) uint8; a pixel read from an 8-bit file comes
    back to its own value exactly."""
    scaled = image.clamp(0, 1).mul_(255.0).add_(0.5)  # one float copy (a 67-Mpx render: 0.8 GB)
    return np.ascontiguousarray(scaled.permute(1, 2, 0).numpy().astype(np.uint8))
