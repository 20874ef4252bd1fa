"""What tests share: tiny configs and made-up images (imported as `tests.helpers`)."""

import os
import subprocess
import sys

import numpy as np
import torch
from PIL import Image

from impaint.model import ImplicitInpainter, ModelConfig
from impaint.train import TrainConfig

# Wider at half resolution, like the default configuration.
TINY = ModelConfig(width=8, coarse_width=12, hidden=16, depth=2)


def save_mask(path, hole):
    """hole: bool (H, W); written white = hole, the file convention."""
    Image.fromarray((hole * 255).astype(np.uint8)).save(path)


def make_images(folder, n, size=(40, 48), seed=0, start=0):
    """Smooth random colour images (gradients + a disc), saved as JPEG (lossy: a test that
    needs exact pixels saves its own PNG)."""
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


# A box hole and a smooth picture, as tensors: the pipeline's tests (tests/inference).
def box_mask(h, w, top, left, bh, bw):
    mask = torch.ones(1, 1, h, w)
    mask[..., top:top + bh, left:left + bw] = 0
    return mask


def smooth_image(h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 4, 4, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear")


# A random image and mask, as tensors: the ONNX export's and backends' tests (tests/inference).
def pair(b, h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, h, w, generator=g), (torch.rand(b, 1, h, w, generator=g) > 0.5).float()



def tiny_config(data, out, steps=2, **kw):
    """A training run of a few seconds: TINY at 16 px, batch 8, fp32."""
    return TrainConfig(data=str(data), out=str(out), steps=steps, batch=8, size=16,
                       valid_every=2, valid_images=8, amp=False, channels_last=False,
                       warmup=1, model=TINY, **kw)


STOCHASTIC = ModelConfig(width=8, coarse_width=12, hidden=16, depth=2, latent_dim=4)


def stochastic_model():
    model = ImplicitInpainter(STOCHASTIC)
    torch.nn.init.normal_(model.latent.inject.weight, std=1.0)  # make the latent matter
    return model


def run_python(code: str, **env) -> str:
    """`code` in a fresh interpreter (conftest's `int8_graph` says why); its stdout."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout
