import io

import numpy as np
import pytest
from PIL import Image

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
