"""Writing images back of their input's kind (`write_image`, `encode`): Pillow's writers, and
ours for 16-bit colour, which Pillow does not write (OpenCV's PNG with the input's chunks
added, tifffile's TIFF); what an output format loses of its input (`output_notes`), and the
check, before any work, that an output can be written at all (`check_writable`).
"""

from __future__ import annotations

import io
import struct
import tempfile
import zlib
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image

from ..outputs import check_output, written_atomically
from .image_original import (ALPHA_SUFFIXES, JPEG_SUFFIXES, MAX_JPEG_EXIF, WIDE_SUFFIXES,
                             Original, icc_space)
from .image_read import InputError


def check_format(path: Path) -> None:
    """A one-line error for an output format the image writer does not write."""
    if path.suffix.lower() not in OUTPUT_SUFFIXES:  # GIF's palette, ICO's 256 px: not these
        raise InputError(f"cannot write {path.name}: name the output .png, .jpg, .webp or "
                         ".tif (PNG is lossless: known pixels exact)")


def check_writable(path: Path) -> None:
    """A one-line error, before any work, for an output the image writer cannot make: a
    folder's name, an unknown format, a folder that cannot be created or written in."""
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a folder (name a file in it, e.g. "
                         f"{path / 'filled.png'})")
    check_format(path)
    check_output(path, "file")  # a place under a file, or one this user cannot write in
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


def check_image(image) -> torch.Tensor:
    """What the writers take, (3, H, W) float in [0, 1] (a batch of one: its image), or a
    one-line error: a 0-255 float image came out all but white, a batch as a deep error."""
    if isinstance(image, torch.Tensor) and image.dim() == 4 and image.shape[0] == 1:
        image = image[0]
    if not (isinstance(image, torch.Tensor) and image.dim() == 3 and image.shape[0] == 3
            and image.is_floating_point()):
        got = (f"{tuple(image.shape)} {image.dtype}" if isinstance(image, torch.Tensor)
               else type(image).__name__)
        raise InputError(f"an image to write is a (3, H, W) float tensor in [0, 1], got {got}")
    low, high = image.aminmax()
    if low < -0.1 or high > 1.1:  # an overshoot (bicubic's, a fill's) is clamped, not this
        hint = " (a 0-255 image: image / 255)" if high > 2 else ""
        raise InputError(f"an image to write has values in [0, 1], got {float(low):.3g} to "
                         f"{float(high):.3g}{hint}")
    return image.detach().float()  # numpy takes no bf16, nor a tensor that needs a gradient


def write_image(image: torch.Tensor, path: str | Path, original: Original = Original()) -> Path:
    """(3, H, W) float in [0, 1] -> an image file (format from the suffix), of the input's
    kind as far as the format holds it (JPEG: no alpha, no 16 bits)."""
    path = Path(path)
    image = check_image(image)
    check_format(path)  # the rest of check_writable: the callers', once, before any work
    path.parent.mkdir(parents=True, exist_ok=True)
    with written_atomically(path) as tmp:  # Ctrl-C or a full disk: no half-written image
        _save(image, original, tmp, path.suffix)
    return path


def encode(image: torch.Tensor, original: Original, suffix: str = ".png") -> bytes:
    """`write_image`, into bytes (the server's responses); `suffix` names the format."""
    image = check_image(image)
    check_format(Path(f"image{suffix}"))
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
            if original.icc and icc_space(original.icc) != b"RGB ":  # a grey one: not on RGB
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
