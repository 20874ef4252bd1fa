"""Running the app: a socket on the chosen address, uvicorn in this process, the URL printed."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import sys
import threading
import time
from pathlib import Path

import uvicorn

from .app import create_app
from .limits import Limits


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: a free one), so the URL printed is the real one. It
    listens at once: a client that connects before uvicorn has started waits in the backlog
    (uvicorn's own size, 2048), where it was refused."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def url_of(sock: socket.socket) -> str:
    """The page's URL; on every interface (0.0.0.0, ::), this machine's own address, which a
    browser can open (http://0.0.0.0 is not an address to visit)."""
    host, port = sock.getsockname()[:2]
    if ipaddress.ip_address(host).is_unspecified:
        host = "::1" if ":" in host else "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


# On Ctrl-C, requests still running get this long to finish; then they are cut off (503),
# and their fills told to stop at their next model pass, which gets STOP_SECONDS to end.
GRACE_SECONDS = 5
STOP_SECONDS = 10


def make_server(app) -> uvicorn.Server:
    return uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                         timeout_graceful_shutdown=GRACE_SECONDS))


@contextlib.contextmanager
def running(app, host: str = "127.0.0.1", port: int = 0):
    """Serve `app` from a background thread while the block runs (tests, scripts); yields
    its URL. Port 0: a free one."""
    sock = bind(host, port)
    server = make_server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def is_local(sock: socket.socket) -> bool:
    """Whether a bound socket takes connections from this machine only: its address, as
    bound (127.1 and localhost are 127.0.0.1 there), is a loopback one."""
    return ipaddress.ip_address(sock.getsockname()[0]).is_loopback


def serve(checkpoint: str | Path | None = "general", host: str = "127.0.0.1", port: int = 8000,
          limits: Limits | None = None, backend: str = "torch") -> None:
    """Listen on `host`, load the model once, print the page's URL, serve until Ctrl-C, which
    raises KeyboardInterrupt as anywhere (as `impaint serve`, its default model too; a
    notebook: `create_app` and `running`).
    `backend`: what runs the x1 fills (see impaint.inference.onnx_backend); the PyTorch model
    renders the rest."""
    from ..model import load_model
    from ..inference.onnx_backend import load_backend

    if Path(str(checkpoint)).suffix.lower() in (".onnx", ".xml"):
        raise ValueError(f"{Path(str(checkpoint)).name} is an exported graph: the page renders "
                         "x2 / x4 with the PyTorch model, so serve takes the checkpoint (--backend "
                         "onnxruntime or openvino runs its x1 fills as a graph)")
    # bound first: a busy port, or an address this machine does not have, fails in one line
    # before the warning below and the model's load (seconds), not after them
    try:
        sock = bind(host, port)
    except OSError as e:
        raise ValueError(f"cannot listen on {host}:{port}: {e.strerror or e}")
    with sock:  # closed however this ends: a model that does not load, Ctrl-C
        if not is_local(sock):
            print(f"impaint: warning: listening on {host}, not only on this machine: the page "
                  "has no authentication, so anyone who can reach this port can use it",
                  file=sys.stderr, flush=True)
        model = load_model(checkpoint)
        fill = load_backend(backend, checkpoint, model)  # torch: this model, not a copy
        name = str(checkpoint) if checkpoint else "shipped CelebA-32 model"
        app = create_app(model, name, limits, fill, host)  # before the URL, which says "ready"
        print(f"impaint serve: {url_of(sock)}  (Ctrl-C to stop)", flush=True)
        run_until_stopped(app, sock)


def run_until_stopped(app, sock: socket.socket) -> None:
    """Serve until Ctrl-C (KeyboardInterrupt, raised on to the caller). A request still on a
    worker then is cut off with a 503 after GRACE_SECONDS and its fill told to stop: it ends
    at its next model pass, which this waits for (up to STOP_SECONDS). A pass that runs on
    past that cannot be stopped, and a process that exits with a thread inside torch
    aborts: the process then leaves at once (os._exit; the server writes no files)."""
    try:
        make_server(app).run(sockets=[sock])
    finally:
        pool = app.state.pool
        deadline = time.monotonic() + STOP_SECONDS
        while pool.running and time.monotonic() < deadline:
            time.sleep(0.05)
        if pool.running:
            print("impaint serve: stopped (a fill still running was dropped)", file=sys.stderr,
                  flush=True)
            os._exit(130)
