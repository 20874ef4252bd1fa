"""The page, its files and the JSON/HTTP API under it: an ASGI app around one loaded model.

Stack: Starlette + uvicorn, the well-kept ASGI toolkit under FastAPI and its reference server:
small (no pydantic, and no API page that would pull scripts from a CDN); python-multipart
parses the uploads. The model is loaded once and runs in this process, on a bounded pool of
worker threads; a request that finds every worker busy and the queue full gets 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import ipaddress
import logging
import math
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from urllib.parse import urlsplit

import torch
from PIL import Image
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..inference.averaged import auto_averaged
from ..inference.files import averaging
from ..inference.fill import check_pair, check_scale
from ..inference.image_files import (InputError, Original, encode, heif_support, read_image,
                                     read_mask, read_original)
from ..inference.onnx_backend import InferenceError
from ..inference.options import FLIPS
from ..inference.pipeline import coarse_of, inpaint_pyramid, inpaint_with_std
from ..inference.pyramid import Pyramid
from ..model import count_parameters
from .limits import Limits

STATIC = Path(__file__).parent / "static"
SCALES = (1, 2, 4)
FIRST_GUESS_S = 10.0  # Retry-After's time a request, before one has been timed
MAX_ROUNDS = 16  # re-fill rounds a request may ask (2 model passes each; the page asks 8)
# Reading a request's body may take this long: a client that stalls mid-upload holds a slot
# of the pool, so without it a few stalled uploads would lock everyone out (408).
BODY_SECONDS = 60
log = logging.getLogger("impaint.serve")
# Everything the page loads comes from this server: the browser refuses anything else.
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:",
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


class ApiError(Exception):
    """An answer other than 200: a status and a one-line message for the user."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.headers = status, headers


def error_response(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": " ".join(message.split())}, status, headers)


class InferencePool:
    """A fixed number of worker threads and a bounded queue in front of them."""

    def __init__(self, workers: int, queue: int):
        self.workers, self.capacity = workers, workers + queue
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="impaint-infer")
        self.busy = 0  # requests holding a slot: read by the event loop only
        # running mean of a worker's time on one request, for Retry-After; None until the
        # first one is done (a guess of 1 s told clients to come back 8 s too soon)
        self.mean_s: float | None = None
        self.running = 0  # work on the workers now, including a cut-off request's (a thread
        self.lock = threading.Lock()  # cannot be stopped): the server waits for none

    def acquire(self) -> None:
        if self.busy >= self.capacity:
            # the queue ahead, `workers` at a time, at a worker's mean time on one request
            mean = FIRST_GUESS_S if self.mean_s is None else self.mean_s
            retry = max(1, math.ceil(mean * self.busy / self.workers))
            ahead = f"{self.busy} request{'s' if self.busy != 1 else ''}"
            raise ApiError(503, f"the server is busy ({ahead} running or waiting); try again "
                                f"in {retry} s", {"Retry-After": str(retry)})
        self.busy += 1

    def release(self) -> None:
        self.busy -= 1

    async def run(self, fn, *args, timed: bool = True):
        """`fn(*args)` on a worker. With `timed`, its time there (not the wait for one, which
        the queue's length already counts) goes into the mean if it succeeds: a request that
        fails at once, or a preview, would pull the mean far below a fill's time."""
        def work():
            start = time.perf_counter()
            with self.lock:
                self.running += 1
            try:
                out = fn(*args)
                if timed:
                    took = time.perf_counter() - start
                    self.mean_s = took if self.mean_s is None else 0.8 * self.mean_s + 0.2 * took
                return out
            finally:
                with self.lock:
                    self.running -= 1
        return await asyncio.get_running_loop().run_in_executor(self.executor, work)


def own_hosts(host: str) -> list[str]:
    """The Host headers this server answers, listening on `host`: this machine's own names,
    and `host` as given and as resolved. Another name is a site that DNS rebound to this
    address, whose page could then read the API (400). Any, on every interface (0.0.0.0, ::):
    the machine's names on the network are not known there."""
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).is_unspecified:
            return ["*"]
    names = {"localhost", "127.0.0.1", "::1", host}
    with contextlib.suppress(OSError, UnicodeError):
        names |= {info[4][0] for info in socket.getaddrinfo(host, None)}
    return sorted(f"[{name}]" if ":" in name else name for name in names)  # as in a Host


def check_origin(request: Request) -> None:
    """403 for a POST from another site's page: a browser sends any page's form here (no
    CORS check stops one), but says whose page it is in Origin. curl sends none."""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc.lower() != \
            request.headers.get("host", "").lower():
        raise ApiError(403, f"this server answers its own page only, not from {origin[:60]}: "
                            f"open the page at its address")


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


def describe(model, name: str, limits: Limits, backend: str = "torch") -> dict:
    cfg = model.cfg
    return {"model": name, "backend": backend, "parameters": count_parameters(model),
            "image_size": getattr(model, "checkpoint_state", {}).get("image_size"),
            "probabilistic": bool(cfg.probabilistic), "stochastic": model.latent is not None,
            "config": cfg.to_dict(), "scales": list(SCALES), "flips": list(FLIPS),
            "max_rounds": MAX_ROUNDS,
            "limits": {**asdict(limits), "max_upload_bytes": int(limits.max_upload_mb * 1e6)}}


def png_bytes(image: torch.Tensor, original: Original = Original()) -> bytes:
    """(3, H, W) in [0, 1] (and what the input file was: its alpha, greyscale) -> PNG:
    lossless, so the known pixels arrive exactly."""
    return encode(image, original, ".png")


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


def run_inpaint(model, image_file: io.BytesIO, mask_file: io.BytesIO, scale: int, view: str,
                sample: int, fill=None, flips: int | None = None, rounds: int | None = None
                ) -> bytes:
    """The work of one request, in a worker thread (its sizes checked before): decode, check,
    infer, encode."""
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
        out, std = inpaint_pyramid(fill, image[None], mask[None], cfg, coarse_of(fill))
    else:
        out, std = inpaint_with_std(model, image[None], mask[None], scale, cfg)
    if view == "sigma":
        from ..plots import sigma_image
        if std is None:
            raise InputError("this model predicts no σ: there is no heat map to show")
        return png_bytes(sigma_image(std[0]))
    return png_bytes(out[0], read_original(image_file))


def run_preview(image_file: io.BytesIO) -> bytes:
    """An image the browser cannot show (TIFF, HEIC, 16-bit) -> an 8-bit PNG of it, upright,
    for the page to paint on; the page still sends the original file to be inpainted."""
    return png_bytes(read_image(image_file))


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


async def answer(request: Request, pool: InferencePool, limits: Limits, parse, work,
                 timed: bool = True) -> Response:
    """One API request: 413 or 503 before reading the body where it must; the form's
    fields by `parse` (-> `work`'s arguments; the images' sizes checked from their headers,
    so that a 413 does not wait for a worker); `work` in the pool (`timed`: for
    Retry-After) -> a PNG; every failure a one-line JSON error."""
    max_bytes = int(limits.max_upload_mb * 1e6)
    try:
        check_origin(request)
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "multipart/form-data":  # media types are case-insensitive (RFC 9110)
            raise ApiError(400, "send the image and mask as multipart/form-data (curl -F "
                                "image=@photo.png -F mask=@hole.png)")
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > max_bytes:
            raise ApiError(413, f"upload larger than {limits.max_upload_mb:g} MB")
        pool.acquire()
    except ApiError as e:
        return error_response(e.status, str(e), e.headers)
    try:
        request = Request(request.scope, limited_receive(request.receive, max_bytes))
        try:
            # files beyond image and mask are refused by check_fields, in its words
            form = await asyncio.wait_for(request.form(max_files=8, max_fields=8),
                                          BODY_SECONDS)
        except asyncio.TimeoutError:
            raise ApiError(408, f"the upload took longer than {BODY_SECONDS} s")
        try:
            args = await parse(form)
        finally:
            await form.close()
        return Response(await pool.run(work, *args, timed=timed), media_type="image/png")
    except asyncio.CancelledError:  # Ctrl-C: uvicorn cancels what is still running
        # after its grace period; the page gets a line it can show, the log no traceback
        log.warning("a request was cut off: the server is stopping")
        return error_response(503, "the server is stopping: try again once it is back",
                              {"Retry-After": "10"})
    except ClientDisconnect:  # gone before its upload arrived: nobody reads an answer
        log.warning("a client disconnected mid-upload")
        return error_response(400, "the client disconnected")
    except ApiError as e:
        return error_response(e.status, str(e), e.headers)
    except (InputError, HTTPException) as e:  # HTTPException: a malformed multipart body
        return error_response(400, str(getattr(e, "detail", e)))
    except InferenceError as e:  # the backend's runtime failed on this image: its one line
        log.warning("%s", e)
        return error_response(500, f"{e}; the server is still running")
    except Exception as e:  # a bug or no memory: the user gets one line, the log the rest
        log.exception("%s failed", work.__name__)
        return error_response(500, f"the request failed ({type(e).__name__}); "
                                   "the server is still running")
    finally:
        pool.release()


def create_app(model, name: str = "model", limits: Limits | None = None, fill=None,
               host: str = "127.0.0.1") -> Starlette:
    """The ASGI app around one loaded model, for a server listening on `host`; `fill`, if
    given, runs its x1 fills (`impaint.inference.onnx_backend.load_backend`)."""
    limits = limits or Limits()
    # the multipart parser logs each malformed body it refuses: the client's 400 says it
    logging.getLogger("python_multipart").setLevel(logging.ERROR)
    model.eval()
    # pillow-heif's opener registered now, not by the first decode: until then check_size's
    # header read could not size a HEIC, and the first one was decoded at any size
    heif_support()
    pool = InferencePool(limits.workers, limits.queue)
    info = describe(model, name, limits, getattr(fill, "name", "torch"))  # what runs x1 fills

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    async def api_info(request: Request) -> Response:
        return JSONResponse(info)

    async def inpaint_fields(form) -> tuple:
        image, mask = await read_upload(form, "image"), await read_upload(form, "mask")
        check_fields(form, INPAINT_FIELDS)  # after: a missing file is the first thing to say
        scale = form_int(form, "scale", 1, SCALES)
        sample = form_int(form, "sample", 0, range(0, 2 ** 31))
        flips = form_int(form, "flips", None, FLIPS)  # neither: `auto_averaged`
        rounds = form_int(form, "rounds", None, range(MAX_ROUNDS + 1))
        view = form.get("view", "result")
        if isinstance(view, UploadFile) or view not in ("result", "sigma"):
            got = "a file" if isinstance(view, UploadFile) else repr(str(view)[:20])
            raise ApiError(400, f"view must be result or sigma, not {got}")
        check_size(image, "image", scale, limits, sample)  # here, not after the queue's wait
        check_size(mask, "mask", 1, limits)
        return model, image, mask, scale, view, sample, fill, flips, rounds

    async def preview_fields(form) -> tuple:
        image = await read_upload(form, "image")
        check_fields(form, ("image",))
        check_size(image, "image", 1, limits)
        return (image,)

    async def api_inpaint(request: Request) -> Response:
        return await answer(request, pool, limits, inpaint_fields, run_inpaint)

    async def api_preview(request: Request) -> Response:
        return await answer(request, pool, limits, preview_fields, run_preview, timed=False)

    async def not_found(request: Request, exc: HTTPException) -> Response:
        return error_response(exc.status_code, str(exc.detail), exc.headers)  # 405: Allow

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        pool.executor.shutdown(wait=False, cancel_futures=True)

    app = Starlette(routes=[
        Route("/", index),
        Route("/api/info", api_info),
        Route("/api/inpaint", api_inpaint, methods=["POST"]),
        Route("/api/preview", api_preview, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ], exception_handlers={HTTPException: not_found}, lifespan=lifespan,
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=own_hosts(host))])
    app.router.redirect_slashes = False  # /api/inpaint/ is a JSON 404, not a bare redirect
    app.state.pool = pool
    return app
