"""A request's multipart form, read and checked before any work: its body's size as it
arrives, its fields (known ones, each once, whole numbers in range), its files, and its
images' sizes from their headers alone (413 without waiting for a worker)."""

from __future__ import annotations

import io
import math

from PIL import Image
from starlette.datastructures import UploadFile

from ..inference.fill import check_scale
from ..inference.image_files import InputError
from .errors import ApiError
from .limits import Limits


def limited_receive(receive, max_bytes: int):
    """The request's body, cut off with 413 once it passes `max_bytes` (a body that lies
    about, or leaves out, its Content-Length is counted as it arrives)."""
    received = 0

    async def wrapped():
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > max_bytes:
            raise ApiError(413, f"upload larger than {max_bytes / 1e6:g} MB")
        return message
    return wrapped


def check_size(upload: io.BytesIO, what: str, scale: int, limits: Limits, sample: int = 0
               ) -> None:
    """413 when the image (or its output at `scale`, or a sample of it) is too large, from
    its header alone: milliseconds, so that it runs before the wait for a worker."""
    try:
        with Image.open(upload) as im:  # reads the header only
            w, h = im.size
    except Image.DecompressionBombError:
        raise ApiError(413, f"the {what} has too many pixels")
    except Exception:
        return  # not an image: read_image says so, with the reason
    finally:
        upload.seek(0)  # for the decoder
    if max(w, h) > limits.max_side:
        raise ApiError(413, f"the {what} is {w}×{h}; this server takes at most "
                            f"{limits.max_side} px per side (impaint serve --max-side)")
    if scale > 1 and max(w, h) * scale > limits.max_render:
        smaller = "×2 or ×1" if scale == 4 and max(w, h) * 2 <= limits.max_render else "×1"
        raise ApiError(413, f"{w}×{h} at ×{scale} would be {w * scale}×{h * scale}; this server "
                            f"renders at most {limits.max_render} px per side at ×2 and ×4 "
                            f"(impaint serve --max-render): choose {smaller}")
    try:  # what `impaint inpaint --scale` refuses for memory, whatever --max-render allows
        check_scale(scale, (h, w), "the output scale")
    except InputError as e:
        raise ApiError(413, str(e))
    if sample and w * h > limits.max_sample_pixels:
        side = math.isqrt(limits.max_sample_pixels)
        square = f" ({side}×{side})" if side * side == limits.max_sample_pixels else ""
        raise ApiError(413, f"the {what} is {w}×{h} ({w * h:,} px); this server draws samples "
                            f"on at most {limits.max_sample_pixels:,} px{square}, as a sample "
                            "is decoded whole, not in tiles: crop or downscale it, or ask for "
                            "the mean (sample=0)")


def form_int(form, key: str, default: int | None, allowed) -> int | None:
    raw = form.get(key)
    if raw is None:
        return default
    if isinstance(raw, UploadFile):
        raise ApiError(400, f"the {key} field holds a file: send it as text (curl -F {key}=1)")
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ApiError(400, f"{key} must be a whole number, not {str(raw)[:20]!r}")
    if value not in allowed:
        raise ApiError(400, f"{key} must be one of {', '.join(map(str, allowed))}; got {value}"
                       if len(allowed) < 10 else
                       f"{key} must be {allowed[0]} to {allowed[-1]}; got {value}")
    return value


INPAINT_FIELDS = ("image", "mask", "scale", "view", "sample", "flips", "rounds")


def check_fields(form, known: tuple[str, ...]) -> None:
    """400 for a field the API does not take, or one given twice: a misspelt `Scale=2`, or
    `scale=2` and `scale=4`, would else be ignored or one of them taken without a word."""
    unknown = [k for k in form.keys() if k not in known]
    if unknown:
        raise ApiError(400, f"unknown field {unknown[0][:40]!r}: this endpoint takes "
                            f"{', '.join(known)}")
    twice = [k for k in form.keys() if len(form.getlist(k)) > 1]
    if twice:
        raise ApiError(400, f"the {twice[0]} field is given {len(form.getlist(twice[0]))} "
                            f"times: give it once")


async def read_upload(form, key: str) -> io.BytesIO:
    """The uploaded file, in memory, named as the user's file (for error messages)."""
    item = form.get(key)
    if isinstance(item, str):  # a part without a filename: text, not a file
        raise ApiError(400, f"the {key} field holds text, not a file: send it as a file "
                            f"(curl -F {key}=@photo.png)")
    if not isinstance(item, UploadFile):
        raise ApiError(400, f"missing the {key} file (multipart field '{key}')")
    upload = io.BytesIO(await item.read())
    upload.name = item.filename or key
    return upload
