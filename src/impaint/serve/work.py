"""The work of one request, on a worker of the pool (its form checked before): decode the
uploads, inpaint (or preview), and encode the answer as PNG."""

from __future__ import annotations

import io
import threading

import torch

from ..inference.averaged import auto_averaged
from ..inference.files import averaging
from ..inference.fill import check_pair
from ..inference.image_files import (InputError, Original, encode, read_image, read_mask,
                                     read_original)
from ..inference.pipeline import coarse_of, counted, inpaint_pyramid, inpaint_with_std
from ..inference.pyramid import Pyramid


class ClientLeft(Exception):
    """The client disconnected: its work stops at its next model pass (nobody would read the
    answer, and the next request would wait behind it)."""


def stopper(left: threading.Event | None):
    """A pass's callback that raises ClientLeft once `left` is set (None: never)."""
    def check() -> None:
        if left is not None and left.is_set():
            raise ClientLeft
    return check


def png_bytes(image: torch.Tensor, original: Original = Original()) -> bytes:
    """(3, H, W) in [0, 1] (and what the input file was: its alpha, greyscale) -> PNG:
    lossless, so the known pixels arrive exactly."""
    return encode(image, original, ".png")


def run_inpaint(model, image_file: io.BytesIO, mask_file: io.BytesIO, scale: int, view: str,
                sample: int, fill=None, flips: int | None = None, rounds: int | None = None,
                left: threading.Event | None = None) -> bytes:
    """The work of one request, in a worker thread (its sizes checked before): decode, check,
    infer, encode. Once `left` is set (the client gone) it stops at the next model pass."""
    check_left = stopper(left)
    check_left()  # gone while this waited in the queue
    cfg = averaging(flips, rounds)  # neither asked: by the image's size, as `impaint inpaint`
    image, mask = read_image(image_file), read_mask(mask_file)
    check_pair(image, mask, image_file.name, hint="masks are white = hole, black = known")
    if cfg is None:  # a sample is one draw, never averaged
        cfg = Pyramid() if sample else auto_averaged(image.shape[-2:])
    if sample:
        from ..model import sample_completions
        if model.latent is None:
            raise InputError("this model has no stochastic latent: it gives one completion")
        if scale != 1 or cfg.averaged:
            raise InputError("samples are drawn at ×1 without flips or rounds only")
        if view == "sigma":
            raise InputError("a sample is one draw: it has no σ heat map (view=result)")
        return png_bytes(sample_completions(model, image[None], mask[None], 1, sample)[0, 0],
                         read_original(image_file))
    if fill is not None and scale == 1:  # a single-scale backend (inference/onnx_backend)
        out, std = inpaint_pyramid(counted(fill, check_left), image[None], mask[None], cfg,
                                   counted(coarse_of(fill), check_left))
    else:
        out, std = inpaint_with_std(model, image[None], mask[None], scale, cfg,
                                    on_pass=check_left)
    if view == "sigma":
        from ..plots import sigma_image
        if std is None:
            raise InputError("this model predicts no σ: there is no heat map to show")
        return png_bytes(sigma_image(std[0]))
    return png_bytes(out[0], read_original(image_file))


def run_preview(image_file: io.BytesIO, left: threading.Event | None = None) -> bytes:
    """An image the browser cannot show (TIFF, HEIC, 16-bit) -> an 8-bit PNG of it, upright,
    for the page to paint on; the page still sends the original file to be inpainted. Not
    decoded if `left` is set: its client left while it waited."""
    stopper(left)()
    return png_bytes(read_image(image_file))
