"""Running the app (server.py, `impaint serve`): the warnings and errors before the model
loads, the printed URL that takes connections, and Ctrl-C with a fill still running."""

import threading

import httpx
import pytest

import impaint.serve.server as serve_server
from impaint.cli import main
from impaint.model import ImplicitInpainter, ModelConfig
from impaint.serve.app import create_app
from impaint.serve.server import running


def stub_model_load(monkeypatch) -> list[tuple]:
    """`impaint serve` with a tiny model, stopped once its app is made; -> what it served:
    (host, the checkpoint it loaded, the app) each time. Loading the model prints a line, so
    that the order of the output shows when it ran."""
    import sys

    import impaint.model

    def load(checkpoint):
        print("loading the model", file=sys.stderr)
        loaded.append(checkpoint)
        return ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16, depth=1))
    loaded, served = [], []
    monkeypatch.setattr(impaint.model, "load_model", load)
    monkeypatch.setattr(serve_server, "run_until_stopped", lambda app, sock: served.append(
        (sock.getsockname()[0], loaded[-1], app)))
    return served


@pytest.mark.parametrize("host,warned", [("0.0.0.0", True), ("127.0.0.1", False),
                                         ("127.1", False), ("localhost", False)])
def test_serve_warns_off_this_machine_before_loading_the_model(monkeypatch, capsys, host,
                                                               warned):
    served = stub_model_load(monkeypatch)
    assert main(["serve", "--host", host, "--port", "0"]) == 0 and len(served) == 1
    err = capsys.readouterr().err.splitlines()
    warning = [f"impaint: warning: listening on {host}, not only on this machine: the page has "
               "no authentication, so anyone who can reach this port can use it"] if warned else []
    assert err[:len(warning) + 1] == warning + ["loading the model"]
    assert not [line for line in err[len(warning):] if "warning" in line]


def test_serve_gives_the_app_its_caps_and_serves_the_general_model_by_default(monkeypatch):
    """Each cap flag of `impaint serve` reaches the app it serves (its /api/info, which the
    page reads, and its pool), none left at its default or given to another; with no
    --checkpoint it loads and names `general`, the model for photos, not the 32-px faces'."""
    from dataclasses import asdict

    from impaint.serve import Limits

    served = stub_model_load(monkeypatch)
    assert main(["serve", "--port", "0", "--max-upload-mb", "2.5", "--max-side", "640",
                 "--max-render", "320", "--workers", "3", "--queue", "5"]) == 0
    (_, checkpoint, app), = served
    given = Limits(max_upload_mb=2.5, max_side=640, max_render=320, workers=3, queue=5)
    with running(app) as url:
        info = httpx.get(f"{url}/api/info").json()
    assert checkpoint == info["model"] == "general"
    assert info["limits"] == {**asdict(given), "max_upload_bytes": 2_500_000}
    assert (app.state.pool.workers, app.state.pool.capacity) == (3, 3 + 5)


def test_serve_says_it_cannot_listen_before_loading_the_model(monkeypatch, capsys):
    import socket

    served = stub_model_load(monkeypatch)
    assert main(["serve", "--host", "192.0.2.1", "--port", "0"]) == 2  # not this machine's
    assert capsys.readouterr().err.splitlines() == [
        "impaint: error: cannot listen on 192.0.2.1:0: Cannot assign requested address"]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"impaint: error: cannot listen on 127.0.0.1:{port}: Address already in use"]
    assert served == []


def test_on_every_interface_the_url_is_one_a_browser_opens():
    with running(create_app(ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16,
                                                          depth=1)), "tiny"), "0.0.0.0") as url:
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/api/info").json()["model"] == "tiny"


def test_the_printed_address_takes_connections_before_the_server_runs():
    """Between the URL printed and uvicorn's start (its app made, its loop set up: a fraction
    of a second on a loaded machine) a client that connects waits, rather than being refused."""
    import socket

    with serve_server.bind("127.0.0.1", 0) as sock:
        socket.create_connection(sock.getsockname()[:2], timeout=5).close()


def test_serve_prints_its_url_and_serves(tiny_checkpoint, tmp_path):
    import subprocess
    import sys
    err = tmp_path / "stderr.txt"  # a file: a pipe nobody reads could fill and stall it
    with err.open("w") as err_file:
        proc = subprocess.Popen([sys.executable, "-m", "impaint.cli", "serve", "--port", "0",
                                 "--checkpoint", str(tiny_checkpoint)], stdout=subprocess.PIPE,
                                stderr=err_file, text=True)
    try:
        lines = []  # read on a thread: a child that stalls before its URL fails the test
        reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()),
                                  daemon=True)
        reader.start()
        reader.join(60)
        assert lines, f"no URL printed in 60 s; stderr: {err.read_text()}"
        line = lines[0]
        assert line.startswith("impaint serve: http://127.0.0.1:"), (line, err.read_text())
        url = line.split()[2]
        assert httpx.get(f"{url}/api/info").json()["model"] == str(tiny_checkpoint)
    finally:
        proc.terminate()
        proc.wait(10)


SERVE_THEN_CTRL_C = """
import os, signal, sys, threading, time
import httpx
import impaint.serve.app as serve_app
import impaint.serve.server as server
import impaint.serve.work as serve_work
from impaint.model import ImplicitInpainter, ModelConfig
from tests.serve.conftest import box_mask, encode, mask_png, noise_image

def passes(*args, on_pass=None, **kw):  # a fill of minutes, in passes it may be stopped at
    for _ in range(1200):
        time.sleep(0.1)
        if STOPS:
            on_pass()
    raise AssertionError("not stopped")

STOPS = sys.argv[1] == "stops"  # else a pass that never ends (a minute-long one)
serve_work.inpaint_with_std = passes
server.GRACE_SECONDS, server.STOP_SECONDS = 0.5, 1.0
app = serve_app.create_app(ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16,
                                                         depth=2)))
sock = server.bind("127.0.0.1", 0)
url = server.url_of(sock)

def client():
    threading.Thread(target=lambda: httpx.post(
        f"{url}/api/inpaint", timeout=60, files={"image": ("a.png", encode(noise_image())),
        "mask": ("m.png", mask_png(box_mask()))})).start()
    while not app.state.pool.running:
        time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, the fill still running

threading.Timer(2, client).start()
try:
    server.run_until_stopped(app, sock)
except KeyboardInterrupt:  # as a library call: Ctrl-C raised on; the CLI exits with 130
    print("KeyboardInterrupt raised on", flush=True)
    sys.exit(130)
"""


@pytest.mark.parametrize("fill", ["stops", "never"])
def test_ctrl_c_with_a_fill_running_stops_the_server_at_once(tmp_path, fill):
    """The fill cut off is told to stop at its next pass, which the server waits for, and
    Ctrl-C goes on to serve()'s caller; a pass that does not end in STOP_SECONDS is dropped
    and the process leaves at once (a thread inside torch at exit aborted it: exit 134)."""
    import subprocess
    import sys
    from pathlib import Path

    # the timeout fails the test (TimeoutExpired) if the server waits for the 120-s fill
    done = subprocess.run([sys.executable, "-c", SERVE_THEN_CTRL_C, fill], capture_output=True,
                          text=True, timeout=90, cwd=Path(__file__).parents[2])
    assert done.returncode == 130, done.stderr
    assert "a request was cut off: the server is stopping" in done.stderr  # answered 503
    dropped = "a fill still running was dropped" in done.stderr
    raised = "KeyboardInterrupt raised on" in done.stdout
    assert (dropped, raised) == ((False, True) if fill == "stops" else (True, False))
    assert "Traceback" not in done.stderr
