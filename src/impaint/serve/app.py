"""The page, its files and the JSON/HTTP API under it: an ASGI app around one loaded model.

Stack: Starlette + uvicorn, the well-kept ASGI toolkit under FastAPI and its reference server:
small (no pydantic, and no API page that would pull scripts from a CDN); python-multipart
parses the uploads. The model is loaded once and runs in this process, on a bounded pool of
worker threads; a request that finds every worker busy and the queue full gets 503.

This module holds the routes (`create_app`) and the path of one API request through them
(`answer`); the steps live beside it: the one-line errors in errors.py, the Host and Origin
checks in guards.py, reading and checking the form in form.py, the pool and its queue in
pool.py, the work on a worker in work.py. Every name this module held before that split is
still importable from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mimetypes
import threading
from dataclasses import asdict
from pathlib import Path

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..inference.image_files import InputError, heif_support
from ..inference.onnx_backend import InferenceError
from ..inference.options import FLIPS
from ..model import count_parameters, load_model
from .errors import ApiError, error_response
from .form import INPAINT_FIELDS, check_fields, check_size, form_int, limited_receive, read_upload
from .guards import HostCheck, check_origin, own_hosts
from .limits import Limits
from .pool import InferencePool
from .work import ClientLeft, run_inpaint, run_preview
# The old path: names that lived here before the split, imported from here by users and code.
from .pool import FIRST_GUESS_S  # noqa: F401
from .work import png_bytes  # noqa: F401

STATIC = Path(__file__).parent / "static"
SCALES = (1, 2, 4)
MAX_ROUNDS = 16  # re-fill rounds a request may ask (2 model passes each; the page asks 8)
# Reading a request's body may take this long: a client that stalls mid-upload holds a slot
# of the pool, so without it a few stalled uploads would lock everyone out (408).
BODY_SECONDS = 60
log = logging.getLogger("impaint.serve")
# Everything the page loads comes from this server: the browser refuses anything else.
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:",
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def describe(model, name: str, limits: Limits, backend: str = "torch") -> dict:
    cfg = model.cfg
    return {"model": name, "backend": backend, "parameters": count_parameters(model),
            "image_size": getattr(model, "checkpoint_state", {}).get("image_size"),
            "probabilistic": bool(cfg.probabilistic), "stochastic": model.latent is not None,
            "config": cfg.to_dict(), "scales": list(SCALES), "flips": list(FLIPS),
            "max_rounds": MAX_ROUNDS,
            "limits": {**asdict(limits), "max_upload_bytes": int(limits.max_upload_mb * 1e6)}}


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
    receive = request.receive  # the connection's own: after the body, its disconnect
    try:
        request = Request(request.scope, limited_receive(receive, max_bytes))
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
        left = threading.Event()  # set when the client goes: the work stops at its next pass
        watcher = asyncio.create_task(watch_disconnect(receive, left))
        try:
            png = await pool.run(work, *args, left, timed=timed)
        finally:  # cut off (the server stopping) or answered: a fill on its way stops
            left.set()
            watcher.cancel()
        return Response(png, media_type="image/png")
    except asyncio.CancelledError:  # Ctrl-C: uvicorn cancels what is still running
        # after its grace period; the page gets a line it can show, the log no traceback
        log.warning("a request was cut off: the server is stopping")
        return error_response(503, "the server is stopping: try again once it is back",
                              {"Retry-After": "10"})
    except ClientDisconnect:  # gone before its upload arrived: nobody reads an answer
        log.warning("a client disconnected mid-upload")
        return error_response(400, "the client disconnected")
    except ClientLeft:  # gone while its fill ran (a page that opened another image)
        log.info("a client left: its fill was stopped")
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


async def watch_disconnect(receive, left: threading.Event) -> None:
    """Set `left` when the client disconnects. Run once the body is read: the connection's
    next message is then its disconnect (cancelled when the answer is ready)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    left.set()


def create_app(model, name: str = "model", limits: Limits | None = None, fill=None,
               host: str = "127.0.0.1") -> Starlette:
    """The ASGI app around one loaded model (or what `load_model` takes: a file, a shipped
    name), for a server listening on `host`; `fill`, if given, runs its x1 fills
    (`impaint.inference.onnx_backend.load_backend`). In a notebook, whose event loop is
    running, serve it from a thread: `with impaint.serve.server.running(app) as url: ...`."""
    if isinstance(model, (str, Path)):
        model, name = load_model(model), str(model)
    limits = limits or Limits()
    # the multipart parser logs each malformed body it refuses: the client's 400 says it
    logging.getLogger("python_multipart").setLevel(logging.ERROR)
    # The page's scripts are ES modules, which a browser runs only if served as JavaScript;
    # StaticFiles types a file by `mimetypes`, which on Windows reads the registry, where .js
    # is at times text/plain (a classic script ran all the same, a module is refused).
    mimetypes.add_type("text/javascript", ".js")
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
        middleware=[Middleware(HostCheck, allowed=own_hosts(host))])
    app.router.redirect_slashes = False  # /api/inpaint/ is a JSON 404, not a bare redirect
    app.state.pool = pool
    return app
