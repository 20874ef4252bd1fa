"""The HTTP API under the page: results, one-line errors, caps, a full queue; the server
survives every bad request."""

import io
import threading
import time

import httpx
import numpy as np
import pytest
from PIL import Image

import impaint.serve.app as serve_app
import impaint.serve.server as serve_server
from impaint.cli import main
from impaint.model import ImplicitInpainter, ModelConfig
from impaint.serve import Limits
from impaint.serve.app import create_app
from impaint.serve.server import running

from .conftest import decode, encode, noise_image


def box_mask(h=40, w=56) -> np.ndarray:
    hole = np.zeros((h, w), bool)
    hole[10:25, 15:40] = True
    return hole


def post(url, image: bytes, mask: bytes, **fields) -> httpx.Response:
    files = {"image": ("photo", image), "mask": ("mask.png", mask)}
    return httpx.post(f"{url}/api/inpaint", files=files,
                      data={k: str(v) for k, v in fields.items()}, timeout=60)


def mask_png(hole: np.ndarray) -> bytes:
    return encode((hole * 255).astype(np.uint8))  # white = hole


def assert_one_line_error(r: httpx.Response, status: int, fragment: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    message = r.json()["error"]
    assert fragment in message and "\n" not in message and "Traceback" not in message


def test_info_describes_the_model(shipped_url):
    info = httpx.get(f"{shipped_url}/api/info").json()
    assert info["parameters"] == 441_702 and info["probabilistic"] and not info["stochastic"]
    assert info["backend"] == "torch"
    assert info["scales"] == [1, 2, 4]
    assert info["limits"]["max_upload_bytes"] == 20_000_000


def test_the_page_loads_only_its_own_files(shipped_url):
    page = httpx.get(shipped_url)
    assert page.status_code == 200 and "default-src 'self'" in \
        page.headers["content-security-policy"]
    for name in ("app.js", "style.css"):
        r = httpx.get(f"{shipped_url}/static/{name}")
        assert r.status_code == 200 and "http://" not in r.text and "https://" not in r.text
    assert "http" not in page.text.replace("http-equiv", "")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_known_pixels_are_the_inputs(shipped_url, fmt):
    data = encode(noise_image(), fmt)
    hole = box_mask()
    r = post(shipped_url, data, mask_png(hole))
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    out, original = decode(r.content), decode(data)  # the file as any decoder reads it
    assert out.shape == original.shape
    assert np.array_equal(out[~hole], original[~hole])
    assert (out[hole] != original[hole]).any(-1).mean() > 0.9


def test_transparency_comes_back(shipped_url):
    rgb = noise_image()
    alpha = np.random.default_rng(1).integers(0, 256, rgb.shape[:2], dtype=np.uint8)
    hole = box_mask()
    r = post(shipped_url, encode(np.dstack([rgb, alpha])), mask_png(hole))
    with Image.open(io.BytesIO(r.content)) as im:
        out = np.asarray(im)
    assert out.shape == (40, 56, 4) and np.array_equal(out[..., 3], alpha)
    assert np.array_equal(out[..., :3][~hole], rgb[~hole])


def test_a_greyscale_image_comes_back_greyscale_with_its_colour_profile(shipped_url):
    from PIL import ImageCms

    grey = noise_image()[..., 1]
    hole = box_mask()
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buf = io.BytesIO()
    Image.fromarray(grey).save(buf, format="PNG", icc_profile=icc)
    r = post(shipped_url, buf.getvalue(), mask_png(hole))
    with Image.open(io.BytesIO(r.content)) as im:
        assert im.mode == "L" and im.info.get("icc_profile") == icc
        out = np.asarray(im)
    assert np.array_equal(out[~hole], grey[~hole]) and not np.array_equal(out[hole], grey[hole])


def test_16_bit_colour_comes_back_at_16_bits(shipped_url):
    import cv2

    wide = noise_image().astype(np.uint16) * 257 + 100  # values 8 bits cannot hold
    hole = box_mask()
    r = post(shipped_url, cv2.imencode(".png", wide[..., ::-1])[1].tobytes(), mask_png(hole))
    out = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_UNCHANGED)[..., ::-1]
    assert out.dtype == np.uint16 and np.array_equal(out[~hole], wide[~hole])
    assert not np.array_equal(out[hole], wide[hole])


def test_preview_shows_what_the_browser_cannot(shipped_url):
    """TIFF (and HEIC, 16-bit) -> an 8-bit PNG, upright, for the page's canvas."""
    import cv2

    wide = noise_image().astype(np.uint16) * 257 + 100
    tiff = cv2.imencode(".tiff", wide[..., ::-1])[1].tobytes()
    r = httpx.post(f"{shipped_url}/api/preview", files={"image": ("scan.tif", tiff)}, timeout=60)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert np.array_equal(decode(r.content), (wide / 257).round().astype(np.uint8))
    r = httpx.post(f"{shipped_url}/api/preview", files={"image": ("notes.tif", b"not an image")})
    assert_one_line_error(r, 400, "not a readable image: notes.tif")
    r = httpx.post(f"{shipped_url}/api/preview", files={"picture": ("a.png", tiff)})
    assert_one_line_error(r, 400, "missing the image file")


@pytest.mark.parametrize("scale", [2, 4])
def test_output_scale(shipped_url, scale):
    r = post(shipped_url, encode(noise_image()), mask_png(box_mask()), scale=scale)
    assert decode(r.content).shape == (40 * scale, 56 * scale, 3)


def test_flips_average_mirror_images_and_keep_known_pixels(shipped_url):
    data, hole = encode(noise_image()), box_mask()
    plain, flipped = (decode(post(shipped_url, data, mask_png(hole), flips=n).content)
                      for n in (1, 8))
    assert np.array_equal(flipped[~hole], decode(data)[~hole])
    assert (flipped[hole] != plain[hole]).any()
    assert httpx.get(f"{shipped_url}/api/info").json()["flips"] == [1, 2, 4, 8]


def test_without_flips_or_rounds_the_averaging_goes_by_the_images_size(shipped_url):
    """40x56 px: 8 flips and 8 rounds (`auto_averaged`), as `impaint inpaint` does."""
    data = encode(noise_image())
    hole = np.random.default_rng(1).random((40, 56)) < 0.5
    auto, best, plain = (decode(post(shipped_url, data, mask_png(hole), **fields).content)
                         for fields in ({}, {"flips": 8, "rounds": 8}, {"flips": 1}))
    assert np.array_equal(auto, best) and (auto[hole] != plain[hole]).any()


def test_rounds_refill_scattered_holes_and_keep_known_pixels(shipped_url):
    data = encode(noise_image())
    hole = np.random.default_rng(0).random((40, 56)) < 0.5  # scattered: one pass, re-filled
    plain, rounds = (decode(post(shipped_url, data, mask_png(hole), rounds=n).content)
                     for n in (0, 4))
    assert np.array_equal(rounds[~hole], decode(data)[~hole])
    assert (rounds[hole] != plain[hole]).any()
    assert httpx.get(f"{shipped_url}/api/info").json()["max_rounds"] == 16


def test_sigma_heat_map(shipped_url):
    hole = box_mask()
    r = post(shipped_url, encode(noise_image()), mask_png(hole), view="sigma")
    heat = decode(r.content)
    assert heat.shape == (40, 56, 3)
    known = heat[~hole]
    assert (known == known[0]).all()  # σ = 0: one colour
    assert (heat[hole] != known[0]).any(-1).all()


def test_samples_of_a_stochastic_model():
    cfg = ModelConfig(width=8, coarse_width=12, hidden=16, depth=2, latent_dim=4)
    model = ImplicitInpainter(cfg)
    data, hole = encode(noise_image()), box_mask()
    with running(create_app(model, "stochastic")) as url:
        assert httpx.get(f"{url}/api/info").json()["stochastic"]
        one, two = (decode(post(url, data, mask_png(hole), sample=k).content) for k in (1, 2))
        assert np.array_equal(one[~hole], two[~hole])
        assert not np.array_equal(one[hole], two[hole])
        assert_one_line_error(post(url, data, mask_png(hole), view="sigma"), 400, "no σ")
        assert_one_line_error(post(url, data, mask_png(hole), sample=1, scale=2), 400, "×1")
        assert_one_line_error(post(url, data, mask_png(hole), sample=1, flips=2), 400,
                              "without flips or rounds")
        assert_one_line_error(post(url, data, mask_png(hole), sample=1, rounds=2), 400,
                              "without flips or rounds")
        assert_one_line_error(post(url, data, mask_png(hole), sample=1, view="sigma"), 400,
                              "a sample is one draw: it has no σ")
        # a sample keeps what the file was, as the mean does: its alpha, its 16-bit grey
        rgb = noise_image()
        alpha = np.random.default_rng(1).integers(0, 256, rgb.shape[:2], dtype=np.uint8)
        r = post(url, encode(np.dstack([rgb, alpha])), mask_png(hole), sample=1)
        with Image.open(io.BytesIO(r.content)) as im:
            out = np.asarray(im)
        assert out.shape == (40, 56, 4) and np.array_equal(out[..., 3], alpha)
        assert np.array_equal(out[..., :3][~hole], rgb[~hole])
        grey = noise_image()[..., 0].astype(np.uint16) * 257 + 100  # values 8 bits cannot hold
        buf = io.BytesIO()
        Image.fromarray(grey).save(buf, format="PNG")
        r = post(url, buf.getvalue(), mask_png(hole), sample=1)
        with Image.open(io.BytesIO(r.content)) as im:
            assert im.mode.startswith("I")
            out = np.asarray(im)
        assert np.array_equal(out[~hole], grey[~hole])


def test_samples_have_their_own_pixel_cap():
    """A sample is decoded whole, not in the pipeline's tiles: its image has a lower cap."""
    cfg = ModelConfig(width=8, coarse_width=12, hidden=16, depth=2, latent_dim=4)
    with running(create_app(ImplicitInpainter(cfg), limits=Limits(max_sample_pixels=45 * 45))
                 ) as url:
        data, hole = encode(noise_image()), mask_png(box_mask())
        assert_one_line_error(post(url, data, hole, sample=1), 413,
                              "the image is 56×40 (2,240 px); this server draws samples on at "
                              "most 2,025 px (45×45)")
        assert post(url, data, hole).status_code == 200  # the mean goes in tiles
        small = encode(noise_image(40, 40))
        assert post(url, small, mask_png(box_mask(40, 40)), sample=1).status_code == 200


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


def test_caps_answer_413():
    model = ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16, depth=2))
    limits = Limits(max_upload_mb=0.2, max_side=64, max_render=48)
    with running(create_app(model, limits=limits)) as url:
        big = encode(noise_image(200, 200))  # 120 KB of noise + 40 KB: over 0.2 MB
        assert_one_line_error(post(url, big, big), 413, "larger than 0.2 MB")
        wide = encode(noise_image(10, 80))
        assert_one_line_error(post(url, wide, mask_png(box_mask(10, 80))), 413, "80×10")
        small, hole = encode(noise_image(20, 20)), box_mask(20, 20)
        assert_one_line_error(post(url, small, mask_png(hole), scale=4), 413,
                              "at ×4 would be 80×80")
        assert "choose ×2 or ×1" in post(url, small, mask_png(hole), scale=4).json()["error"]
        assert post(url, small, mask_png(hole), scale=2).status_code == 200
        # Renders at x2 / x4 have their own, lower cap; x1 goes up to max_side.
        assert_one_line_error(post(url, encode(noise_image(30, 30)), mask_png(box_mask(30, 30)),
                                   scale=2), 413, "at most 48 px per side at ×2 and ×4 "
                              "(impaint serve --max-render): choose ×1")
        large, hole = encode(noise_image(60, 60)), box_mask(60, 60)
        assert post(url, large, mask_png(hole)).status_code == 200


FIRST_HEIC = """
import sys
import httpx
from impaint.model import ImplicitInpainter, ModelConfig
from impaint.serve import Limits
from impaint.serve.app import create_app
from impaint.serve.server import running

model = ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16, depth=1))
with running(create_app(model, limits=Limits(max_side=48))) as url:
    r = httpx.post(f"{url}/api/preview", timeout=60,
                   files={"image": ("face.heic", open(sys.argv[1], "rb").read())})
print(r.status_code, r.text)
"""


def test_the_first_heic_a_server_gets_is_held_to_its_caps(tmp_path):
    """Pillow reads a HEIC's header only once pillow-heif's opener is registered: a fresh
    server's first request (a fresh process) is sized like any other."""
    import subprocess
    import sys
    from pathlib import Path

    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.from_pillow(Image.fromarray(noise_image())).save(tmp_path / "face.heic")
    done = subprocess.run([sys.executable, "-c", FIRST_HEIC, str(tmp_path / "face.heic")],
                          capture_output=True, text=True, timeout=90,
                          cwd=Path(__file__).parents[2])
    assert done.stdout.startswith("413 ") and "the image is 56×40" in done.stdout, \
        done.stdout + done.stderr


def test_a_raised_render_cap_keeps_the_clis_memory_bound(monkeypatch):
    """--max-render above 4096 px lets a 2100-px side through at x2; `impaint inpaint
    --scale` refuses more than 2048x2048 px in (some 1 GB a megapixel), and so does the API."""
    def render(*args):
        raise RuntimeError("rendered")  # the work itself: gigabytes, minutes
    monkeypatch.setattr(serve_app, "inpaint_with_std", render)
    model = ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16, depth=1))
    with running(create_app(model, limits=Limits(max_render=8192))) as url:
        flat = encode(np.full((2100, 2100, 3), 128, np.uint8))  # a few KB
        hole = np.zeros((2100, 2100), bool)
        hole[100:300, 100:300] = True
        assert_one_line_error(post(url, flat, mask_png(hole), scale=2), 413,
                              "2100×2100 is 4.4 Mpx; the output scale ×2 or ×4 takes at "
                              "most 4.2 Mpx")


def held_fills(monkeypatch) -> threading.Event:
    """Every fill waits (up to 30 s) until the event returned is set."""
    release = threading.Event()
    real = serve_app.inpaint_with_std

    def slow(*args):
        release.wait(30)
        return real(*args)
    monkeypatch.setattr(serve_app, "inpaint_with_std", slow)
    return release


def test_a_full_queue_answers_503_with_retry_after(monkeypatch):
    release = held_fills(monkeypatch)
    model = ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16, depth=2))
    app = create_app(model, limits=Limits(workers=1, queue=1))
    data, mask = encode(noise_image()), mask_png(box_mask())
    with running(app) as url:
        answers = []
        threads = [threading.Thread(target=lambda: answers.append(post(url, data, mask)))
                   for _ in range(2)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while app.state.pool.busy < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        r = post(url, data, mask)  # a worker busy, the queue full; no request timed yet
        assert_one_line_error(r, 503, "busy (2 requests running or waiting)")
        assert r.headers["retry-after"] == "20"  # two ahead, at a first guess of 10 s each
        app.state.pool.mean_s = 3.0  # a worker's mean time on one request
        r = post(url, data, mask)
        assert r.headers["retry-after"] == "6"  # two requests ahead, one worker
        release.set()
        for t in threads:
            t.join()
        assert [a.status_code for a in answers] == [200, 200]


def test_an_image_over_the_caps_is_refused_without_waiting_for_a_worker(monkeypatch):
    release = held_fills(monkeypatch)
    model = ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16, depth=2))
    app = create_app(model, limits=Limits(workers=1, queue=1, max_side=64))
    with running(app) as url:
        held = threading.Thread(target=post, args=(url, encode(noise_image()),
                                                   mask_png(box_mask())))
        held.start()
        deadline = time.monotonic() + 20
        while not app.state.pool.running and time.monotonic() < deadline:
            time.sleep(0.01)
        r = post(url, encode(noise_image(100, 100)), mask_png(box_mask(100, 100)))
        assert_one_line_error(r, 413, "the image is 100×100")
        r = httpx.post(f"{url}/api/preview", timeout=60,
                       files={"image": ("big.png", encode(noise_image(100, 100)))})
        assert_one_line_error(r, 413, "the image is 100×100")
        # answered while the held fill still holds the one worker (it cannot end before
        # release is set): a refusal that waited for the worker would have found it done
        assert held.is_alive() and app.state.pool.busy == 1 and app.state.pool.running == 1
        release.set()
        held.join()


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


def test_retry_after_counts_a_workers_time_not_the_wait_for_one(monkeypatch):
    """One worker, three requests of 0.2 s each on a fake clock: the last waits 0.4 s for
    the worker, but a worker's time on one request is what the queue's length multiplies.
    Each time taken is exactly 0.2 s, so the mean stays 0.2; timed from the hand-over to
    the pool, the waits would be counted (0.2, 0.4, 0.6 s: a mean of 0.312)."""
    import asyncio
    import types

    clock = [0.0]  # advanced by the work only: no real time is measured
    monkeypatch.setattr(serve_app, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    pool = serve_app.InferencePool(workers=1, queue=2)
    # the first request starts once all three are handed to the pool, so that a clock read
    # at the hand-over (the bug) reads 0 for each, whatever the threads' timing
    handed, all_handed = [], threading.Event()
    submit = pool.executor.submit

    def counted_submit(*args):
        handed.append(args)
        if len(handed) == 3:
            all_handed.set()
        return submit(*args)
    pool.executor.submit = counted_submit

    def fill():
        assert all_handed.wait(10)
        clock[0] += 0.2

    async def three():
        for _ in range(3):
            pool.acquire()
        try:
            await asyncio.gather(*(pool.run(fill) for _ in range(3)))
        finally:
            for _ in range(3):
                pool.release()

    asyncio.run(three())
    assert clock[0] == pytest.approx(0.6) and len(handed) == 3
    assert pool.mean_s == pytest.approx(0.2) and pool.busy == 0
    pool.executor.shutdown()


def test_retry_after_times_only_the_fills_that_succeed():
    """A preview, or a request that fails at once, would pull the mean down: the 503 would
    tell clients to come back too soon."""
    model = ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16, depth=2))
    app = create_app(model)
    data, hole = encode(noise_image()), mask_png(box_mask())
    with running(app) as url:
        app.state.pool.mean_s = 10.0  # as after fills of 10 s
        assert post(url, b"not an image", hole).status_code == 400
        assert post(url, data, mask_png(box_mask(20, 20))).status_code == 400
        r = httpx.post(f"{url}/api/preview", files={"image": ("a.png", data)}, timeout=60)
        assert r.status_code == 200 and app.state.pool.mean_s == 10.0
        assert post(url, data, hole).status_code == 200
        assert app.state.pool.mean_s < 10.0


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


def stub_model_load(monkeypatch) -> list[str]:
    """`impaint serve` with a tiny model, stopped once its app is made; -> the hosts served.
    Loading the model prints a line, so that the order of the output shows when it ran."""
    import sys

    import impaint.model

    def load(checkpoint):
        print("loading the model", file=sys.stderr)
        return ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16, depth=1))
    served = []
    monkeypatch.setattr(impaint.model, "load_model", load)
    monkeypatch.setattr(serve_server, "run_until_stopped",
                        lambda app, sock: served.append(sock.getsockname()[0]))
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


def test_only_this_servers_own_names_and_page_are_answered():
    """A site rebound to 127.0.0.1 by DNS sends its own name as Host (400); a page of another
    site may POST a form here (no CORS check stops a form) but its Origin says so (403)."""
    model = ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16, depth=1))
    data, hole = encode(noise_image()), mask_png(box_mask())
    with running(create_app(model, "tiny")) as url:
        port = url.rsplit(":", 1)[1]
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
            assert httpx.get(f"{url}/api/info", headers={"Host": host}).status_code == 200
        r = httpx.get(f"{url}/api/info", headers={"Host": f"attacker.example:{port}"})
        assert r.status_code == 400 and "tiny" not in r.text
        for origin in ("http://attacker.example", "null", f"http://localhost:{port}"):
            r = httpx.post(f"{url}/api/inpaint", files={"image": ("a.png", data),
                                                        "mask": ("m.png", hole)},
                           headers={"Origin": origin})
            assert_one_line_error(r, 403, f"not from {origin}")
        r = httpx.post(f"{url}/api/preview", files={"image": ("a.png", data)},
                       headers={"Origin": "http://attacker.example"})
        assert_one_line_error(r, 403, "this server answers its own page only")
        r = httpx.post(f"{url}/api/inpaint", files={"image": ("a.png", data),
                                                    "mask": ("m.png", hole)},
                       headers={"Origin": url})  # the page itself
        assert r.status_code == 200
    # on every interface the machine's names on the network are not known: any Host
    with running(create_app(model, "tiny", host="0.0.0.0"), "0.0.0.0") as url:
        assert httpx.get(f"{url}/api/info", headers={"Host": "my-pc.lan"}).status_code == 200
    with running(create_app(model, "tiny", host="127.1"), "127.1") as url:
        port = url.rsplit(":", 1)[1]
        assert httpx.get(f"{url}/api/info", headers={"Host": f"127.1:{port}"}).status_code == 200


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


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_a_graph_fill_serves_x1_and_torch_the_rest(tiny_checkpoint, runtime):
    pytest.importorskip(runtime)
    from impaint.checkpoint import load_model
    from impaint.inference.onnx_backend import load_backend

    fill = load_backend(runtime, tiny_checkpoint)
    with running(create_app(load_model(tiny_checkpoint), fill=fill)) as url:
        assert httpx.get(f"{url}/api/info").json()["backend"] == runtime
        data, hole = encode(noise_image()), box_mask()
        out = decode(post(url, data, mask_png(hole)).content)
        assert np.array_equal(out[~hole], decode(data)[~hole])
        assert decode(post(url, data, mask_png(hole), scale=2).content).shape == (80, 112, 3)


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


SERVE_THEN_CTRL_C = """
import os, signal, threading, time
import httpx
import impaint.serve.app as serve_app
import impaint.serve.server as server
from impaint.model import ImplicitInpainter, ModelConfig
from tests.serve.conftest import encode, noise_image
from tests.serve.test_serve_api import box_mask, mask_png

serve_app.inpaint_with_std = lambda *args: time.sleep(120)  # a fill that takes minutes
server.GRACE_SECONDS = 0.5
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
server.run_until_stopped(app, sock)
"""


def test_ctrl_c_with_a_fill_running_stops_the_server_at_once(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    # the timeout fails the test (TimeoutExpired) if the server waits for the 120-s fill
    done = subprocess.run([sys.executable, "-c", SERVE_THEN_CTRL_C], capture_output=True,
                          text=True, timeout=90, cwd=Path(__file__).parents[2])
    assert done.returncode == 130, done.stderr
    assert "a request was cut off: the server is stopping" in done.stderr  # answered 503
    assert "a fill still running was dropped" in done.stderr
    assert "Traceback" not in done.stderr
