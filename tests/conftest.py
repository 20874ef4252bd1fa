import numpy as np
import pytest
import torch
from PIL import Image

from impaint.checkpoint import save_checkpoint
from impaint.model import ImplicitInpainter, ModelConfig

# Wider at half resolution, like the default configuration.
TINY = ModelConfig(width=8, coarse_width=12, hidden=16, depth=2)


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path_factory, onnx_cache):
    # Tests never read or write the user's decoded-image cache.
    monkeypatch.setenv("IMPAINT_CACHE", str(tmp_path_factory.mktemp("cache")))
    # ONNX exports are keyed by the checkpoint's bytes, so tests can share them (and the tiny
    # checkpoint, seeded below, is the same in every test): one export, not one a test.
    monkeypatch.setattr("impaint.onnx_backend.onnx_cache_dir", lambda: onnx_cache)
    torch.manual_seed(0)


def make_images(folder, n, size=(40, 48), seed=0, start=0):
    """Smooth random colour images (gradients + a disc), saved as PNG."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    paths = []
    for i in range(n):
        a = rng.uniform(0, 1, (3, 3))
        img = a[:, 0, None, None] + a[:, 1, None, None] * xx + a[:, 2, None, None] * yy
        cy, cx, r = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.1, 0.3)
        img[:, (yy - cy) ** 2 + (xx - cx) ** 2 < r * r] *= 0.5
        arr = (np.clip(img / img.max(), 0, 1).transpose(1, 2, 0) * 255).astype(np.uint8)
        p = folder / f"{i + start:06d}.jpg"
        Image.fromarray(arr).save(p)
        paths.append(p)
    return paths


@pytest.fixture
def image_folder(tmp_path):
    make_images(tmp_path / "imgs", 24)
    return tmp_path / "imgs"


@pytest.fixture
def celeba_tree(tmp_path):
    """A tiny CelebA tree in the official layout: ids 1-30 train, 31-40 valid, 41-45 test;
    some listed files are absent (as in the shared subset)."""
    root = tmp_path / "celeba"
    images = root / "img_align_celeba"
    make_images(images, 45, size=(218, 178), start=1)
    lines = []
    for i in range(1, 46):
        name = f"{i:06d}.jpg"
        split = 0 if i <= 30 else 1 if i <= 40 else 2
        lines.append(f"{name} {split}")
    for j in range(46, 50):  # listed, not present
        lines.append(f"{j:06d}.jpg 0")
    (images / "000044.jpg").unlink()
    (root / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def tiny_checkpoint(tmp_path):
    model = ImplicitInpainter(TINY)
    path = tmp_path / "tiny.safetensors"
    save_checkpoint(path, model, {"model_config": TINY.to_dict(), "image_size": 32, "step": 0})
    return path
