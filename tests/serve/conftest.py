"""Shared by the serve tests: the shipped model's server, test images and masks, a POST to
the API, the check of a one-line error, and fills held until released."""

import io
import threading

import httpx
import numpy as np
import pytest
from PIL import Image

import impaint.serve.work as serve_work
from impaint.checkpoint import load_model
from impaint.serve.app import create_app
from impaint.serve.server import running


@pytest.fixture(scope="session")
def shipped_url():
    """The page and API around the shipped model, on a free port of 127.0.0.1."""
    with running(create_app(load_model(), "shipped CelebA-32 model")) as url:
        yield url


def noise_image(h: int = 40, w: int = 56, seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8 noise: no model fills a hole with exactly what was there."""
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def encode(arr: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


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


def held_fills(monkeypatch) -> threading.Event:
    """Every fill waits (up to 30 s) until the event returned is set."""
    release = threading.Event()
    real = serve_work.inpaint_with_std

    def slow(*args, **kwargs):
        release.wait(30)
        return real(*args, **kwargs)
    monkeypatch.setattr(serve_work, "inpaint_with_std", slow)
    return release
