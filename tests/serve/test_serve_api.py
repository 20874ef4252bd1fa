"""The app's routes and a request's path through them (app.py): the page and /api/info,
one-line errors for every bad request, a request cut off, stalled or dropped; the server
survives each."""

import mimetypes
import re
import threading
import time

import httpx
import numpy as np
import pytest

import impaint.serve.app as serve_app
import impaint.serve.server as serve_server
import impaint.serve.work as serve_work
from impaint.model import ImplicitInpainter, ModelConfig
from impaint.serve import Limits
from impaint.serve.app import create_app
from impaint.serve.server import running

from .conftest import (assert_one_line_error, box_mask, encode, held_fills, mask_png,
                       noise_image, post)


def test_info_describes_the_model(shipped_url):
    info = httpx.get(f"{shipped_url}/api/info").json()
    assert info["parameters"] == 441_702 and info["probabilistic"] and not info["stochastic"]
    assert info["backend"] == "torch"
    assert info["scales"] == [1, 2, 4]
    assert info["limits"]["max_upload_bytes"] == 20_000_000


def test_an_app_is_made_from_a_shipped_name_or_a_file_too(tiny_checkpoint):
    with running(create_app(str(tiny_checkpoint))) as url:
        info = httpx.get(f"{url}/api/info").json()
    assert info["model"] == str(tiny_checkpoint) and info["config"]["width"] == 8


def test_the_page_loads_only_its_own_files(shipped_url):
    page = httpx.get(shipped_url)
    assert page.status_code == 200 and "default-src 'self'" in \
        page.headers["content-security-policy"]
    scripts, todo = set(), ["main.js"]  # the entry and every module it imports, and theirs
    while todo:
        name = todo.pop()
        r = httpx.get(f"{shipped_url}/static/{name}")
        assert r.status_code == 200 and "http://" not in r.text and "https://" not in r.text
        # ES modules: a browser runs them only if served with a JavaScript type
        assert r.headers["content-type"].startswith("text/javascript"), name
        scripts.add(name)
        todo += set(re.findall(r'^import [^;]* from "\./(\w+\.js)";', r.text, re.M)) - scripts
    assert scripts == {"main.js", "state.js", "api.js", "mask.js", "result.js", "files.js"}
    r = httpx.get(f"{shipped_url}/static/style.css")
    assert r.status_code == 200 and "http://" not in r.text and "https://" not in r.text
    assert '<script type="module" src="/static/main.js">' in page.text
    assert "http" not in page.text.replace("http-equiv", "")


def test_the_scripts_are_javascript_whatever_the_system_mime_table_says():
    """Windows' registry at times types .js as text/plain, and `mimetypes` reads it: a
    module served so would be refused, and the page would do nothing."""
    before = mimetypes.guess_type("x.js")[0]
    mimetypes.add_type("text/plain", ".js")
    try:
        model = ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16, depth=2))
        with running(create_app(model)) as url:
            r = httpx.get(f"{url}/static/state.js")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    finally:
        mimetypes.add_type(before or "text/javascript", ".js")


def bad_request(case):
    image, mask = encode(noise_image()), mask_png(box_mask())
    fields = {}
    if case == "not_image":
        image = b"plain text, not an image"
    elif case == "mask_size":
        mask = mask_png(box_mask(20, 20))
    elif case == "no_hole":
        mask = mask_png(np.zeros((40, 56), bool))
    elif case == "no_known":
        mask = mask_png(np.ones((40, 56), bool))
    elif case == "bad_scale":
        fields["scale"] = 3
    elif case == "bad_flips":
        fields["flips"] = 3
    elif case == "bad_rounds":
        fields["rounds"] = 17
    elif case == "bad_view":
        fields["view"] = "x-ray"
    elif case == "no_samples":
        fields["sample"] = 1
    elif case == "unknown_field":
        fields["Scale"] = 2
    return image, mask, fields


@pytest.mark.parametrize("case,fragment", [
    ("not_image", "not a readable image: photo"),
    ("mask_size", "differs from photo size"),
    ("no_hole", "no hole: nothing to inpaint (masks are white = hole"),
    ("no_known", "hides every pixel"),
    ("bad_scale", "scale must be one of 1, 2, 4"),
    ("bad_flips", "flips must be one of 1, 2, 4, 8"),
    ("bad_rounds", "rounds must be 0 to 16; got 17"),
    ("bad_view", "view must be"),
    ("no_samples", "no stochastic latent"),
    ("unknown_field", "unknown field 'Scale': this endpoint takes image, mask, scale"),
])
def test_bad_requests_get_a_one_line_400(shipped_url, case, fragment):
    image, mask, fields = bad_request(case)
    assert_one_line_error(post(shipped_url, image, mask, **fields), 400, fragment)
    assert httpx.get(f"{shipped_url}/api/info").status_code == 200  # still serving


def test_missing_fields_and_unknown_paths(shipped_url):
    r = httpx.post(f"{shipped_url}/api/inpaint", files={"image": ("a.png", b"x")})
    assert_one_line_error(r, 400, "missing the mask file")
    r = httpx.post(f"{shipped_url}/api/inpaint", data={"scale": ["2", "4"]},
                   files={"image": ("a.png", encode(noise_image())),
                          "mask": ("m.png", mask_png(box_mask()))})
    assert_one_line_error(r, 400, "the scale field is given 2 times: give it once")
    r = httpx.post(f"{shipped_url}/api/inpaint", files={
        "image": ("a.png", encode(noise_image())), "mask": ("m.png", mask_png(box_mask())),
        "scale": ("s.txt", b"2")})
    assert_one_line_error(r, 400, "the scale field holds a file: send it as text")
    assert_one_line_error(httpx.get(f"{shipped_url}/api/nothing"), 404, "Not Found")
    r = httpx.get(f"{shipped_url}/api/inpaint")
    assert_one_line_error(r, 405, "Method Not Allowed")
    assert r.headers["allow"] == "POST"
    # a trailing slash: JSON, not a bare redirect (another Host is refused before: 400)
    r = httpx.get(f"{shipped_url}/api/info/")
    assert_one_line_error(r, 404, "Not Found")
    assert "location" not in r.headers


def test_what_is_not_a_multipart_upload_is_told_how_to_send_one(shipped_url):
    png = encode(noise_image())
    for sent in ({"content": png, "headers": {"content-type": "image/png"}},
                 {"data": {"image": "photo.png"}},  # curl --data: a urlencoded form
                 {"json": {"image": "photo.png"}}):
        r = httpx.post(f"{shipped_url}/api/inpaint", **sent)
        assert_one_line_error(r, 400, "send the image and mask as multipart/form-data")
    r = httpx.post(f"{shipped_url}/api/inpaint", data={"image": "photo.png"},
                   files={"mask": ("mask.png", mask_png(box_mask()))})
    assert_one_line_error(r, 400, "the image field holds text, not a file")
    # a media type is case-insensitive, and is itself: not one that starts like it
    form = httpx.Request("POST", f"{shipped_url}/api/inpaint", files={
        "image": ("a.png", png), "mask": ("m.png", mask_png(box_mask()))})
    media, boundary = form.headers["content-type"].split(";")
    for sent, status in ((media.upper(), 200), (media.title(), 200), (media + "x", 400)):
        r = httpx.post(f"{shipped_url}/api/inpaint", content=form.read(),
                       headers={"content-type": sent + ";" + boundary}, timeout=60)
        assert r.status_code == status, (sent, r.text)
    assert "send the image and mask as multipart/form-data" in r.json()["error"]


def test_stopping_mid_request_answers_a_one_line_503(monkeypatch):
    release = held_fills(monkeypatch)
    monkeypatch.setattr(serve_server, "GRACE_SECONDS", 0.5)
    model = ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16, depth=2))
    app = create_app(model)
    answers = []
    with running(app) as url:
        thread = threading.Thread(target=lambda: answers.append(
            post(url, encode(noise_image()), mask_png(box_mask()))))
        thread.start()
        deadline = time.monotonic() + 20
        while app.state.pool.busy < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
    # what Ctrl-C does: the server stops, and cancels the request once its grace is over
    thread.join(10)
    release.set()
    assert_one_line_error(answers[0], 503, "the server is stopping")
    assert answers[0].headers["retry-after"] == "10"


def test_stalled_and_dropped_uploads_free_their_slot(monkeypatch):
    import logging
    import socket

    logged = []
    handler = logging.Handler()
    handler.emit = logged.append
    monkeypatch.setattr(serve_app, "BODY_SECONDS", 0.5)
    model = ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16, depth=2))
    app = create_app(model, limits=Limits(workers=1, queue=0))
    head = (b"POST /api/inpaint HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n"
            b"Content-Type: multipart/form-data; boundary=XYZ\r\n\r\n--XYZ\r\n")
    logging.getLogger("impaint.serve").addHandler(handler)
    try:
        with running(app) as url:
            port = int(url.rsplit(":", 1)[1])
            with socket.create_connection(("127.0.0.1", port), timeout=10) as stalled:
                stalled.sendall(head)  # and then nothing: 408 once BODY_SECONDS have passed
                answer = b""
                while b'"}' not in answer:  # the headers, then the JSON body
                    chunk = stalled.recv(4096)  # socket.timeout after 10 s of silence
                    if not chunk:
                        break  # closed: what came is what the asserts below see
                    answer += chunk
                answer = answer.decode()
            assert answer.startswith("HTTP/1.1 408") and "the upload took longer than" in answer
            # the dropped upload must end by its disconnect, not by a 408 of a slow machine
            monkeypatch.setattr(serve_app, "BODY_SECONDS", 60)
            with socket.create_connection(("127.0.0.1", port), timeout=10) as dropped:
                dropped.sendall(head)
            deadline = time.monotonic() + 20
            while (not logged or app.state.pool.busy) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert app.state.pool.busy == 0  # both slots given back
            assert post(url, encode(noise_image()), mask_png(box_mask())).status_code == 200
    finally:
        logging.getLogger("impaint.serve").removeHandler(handler)
    # one line, no traceback, at a level `impaint serve` prints (its log shows warnings)
    assert [(r.levelno, r.getMessage(), r.exc_info) for r in logged] == [
        (logging.WARNING, "a client disconnected mid-upload", None)]


def test_a_backend_that_fails_on_an_image_says_why_in_one_line(tiny_checkpoint):
    """A runtime's failure on one image (an InferenceError: OpenVINO's, onnxruntime's) is its
    own line to the page, not "the request failed (InferenceError)"; the server goes on."""
    from impaint.checkpoint import load_model
    from impaint.inference.onnx_backend import InferenceError

    def fill(image, mask):
        raise InferenceError(f"openvino failed on a {tuple(image.shape)} image: no kernel")

    with running(create_app(load_model(tiny_checkpoint), fill=fill)) as url:
        data, hole = encode(noise_image()), box_mask()
        r = post(url, data, mask_png(hole))
        assert r.status_code == 500
        assert r.json()["error"].startswith("openvino failed on a (1, 3, ")
        assert "no kernel; the server is still running" in r.json()["error"]
        assert httpx.get(f"{url}/api/info").status_code == 200


def test_a_client_that_leaves_stops_its_fill_and_frees_the_worker(monkeypatch):
    """A page that opens another image drops its fill: the server stops it at its next pass
    (one worker: the next request would wait a minute behind it)."""
    passes = []

    def minute_long(model, image, mask, scale, cfg, on_pass=None):
        for _ in range(1200):  # a minute of passes, unless stopped
            time.sleep(0.05)
            passes.append(1)
            on_pass()
        raise AssertionError("the fill was not stopped")
    monkeypatch.setattr(serve_work, "inpaint_with_std", minute_long)
    model = ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16, depth=2))
    app = create_app(model, limits=Limits(workers=1, queue=1))
    with running(app) as url:
        files = {"image": ("a.png", encode(noise_image())),
                 "mask": ("m.png", mask_png(box_mask()))}
        with pytest.raises(httpx.ReadTimeout):  # the client gives up, and closes
            httpx.post(f"{url}/api/inpaint", files=files, timeout=1)
        deadline = time.monotonic() + 10
        while (app.state.pool.running or app.state.pool.busy) and time.monotonic() < deadline:
            time.sleep(0.02)  # the slot is given back on the event loop, after the thread
        assert app.state.pool.running == 0 and app.state.pool.busy == 0
        stopped_at = len(passes)
        time.sleep(0.3)
        assert stopped_at < 200 and len(passes) == stopped_at  # stopped, not still running
