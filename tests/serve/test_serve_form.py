"""Reading and checking a request's form (form.py): the caps on uploads, sides, renders and
samples answer 413, from the images' headers and before the wait for a worker."""

import threading
import time

import httpx
import numpy as np
import pytest
from PIL import Image

import impaint.serve.work as serve_work
from impaint.model import ImplicitInpainter, ModelConfig
from impaint.serve import Limits
from impaint.serve.app import create_app
from impaint.serve.server import running

from .conftest import (assert_one_line_error, box_mask, encode, held_fills, mask_png,
                       noise_image, post)


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
    def render(*args, **kwargs):
        raise RuntimeError("rendered")  # the work itself: gigabytes, minutes
    monkeypatch.setattr(serve_work, "inpaint_with_std", render)
    model = ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16, depth=1))
    with running(create_app(model, limits=Limits(max_render=8192))) as url:
        flat = encode(np.full((2100, 2100, 3), 128, np.uint8))  # a few KB
        hole = np.zeros((2100, 2100), bool)
        hole[100:300, 100:300] = True
        assert_one_line_error(post(url, flat, mask_png(hole), scale=2), 413,
                              "2100×2100 is 4.4 Mpx; the output scale ×2 or ×4 takes at "
                              "most 4.2 Mpx")


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
