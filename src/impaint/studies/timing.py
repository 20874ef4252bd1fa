"""What the bench times, and how: a best-of-rounds timer, the matmul ceiling, the model and
inputs every row builds (the default configuration or a checkpoint's; mixture masks), one
training step, one inference call, and a training step's FLOPs. `impaint bench` (bench.py)
prints the rows; `impaint ablate` times its variants' training steps with the same step.
"""

from __future__ import annotations

import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..data.masks import MixtureMask, mask_batch
from ..model import ImplicitInpainter, compose, inpaint_with_std
from ..precision import native_bf16
from ..train import TrainConfig
from ..train.losses import inpainting_loss


def _timeit(fn, repeats: int, warmup: int = 2, rounds: int = 3) -> float:
    """Seconds per call, best of a few rounds (the least disturbed one)."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(repeats):
            fn()
        best = min(best, (time.perf_counter() - t) / repeats)
    return best


def matmul_gflops(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    return 2 * n**3 / _timeit(lambda: a @ b, repeats) / 1e9


def _inputs(batch: int, size: int, channels_last: bool):
    rng = torch.Generator().manual_seed(0)
    img = torch.rand(batch, 3, size, size, generator=rng)
    mask = mask_batch(MixtureMask(full_prob=0.0), batch, size, size, rng)
    if channels_last:
        img = img.contiguous(memory_format=torch.channels_last)
        mask = mask.contiguous(memory_format=torch.channels_last)
    return img, mask


def default_model(checkpoint: str | None = None) -> ImplicitInpainter:
    """The model `impaint train` trains by default (and the shipped one's configuration), or
    a fresh copy of `checkpoint` (a file or a shipped name): the speed of its configuration,
    a wider model's, say (`impaint bench --checkpoint`). In the plain (NCHW) layout either
    way, as `load_model`'s channels-last is one of the things the rows compare."""
    if checkpoint is None:
        return ImplicitInpainter(TrainConfig().model)
    from ..model import load_model
    return load_model(checkpoint).to(memory_format=torch.contiguous_format)


def fast_dtype() -> str:
    """The fast configuration's precision: bf16 only where the CPU computes it
    (impaint.precision); emulated, it trains ~18x slower than fp32, and nothing uses it."""
    return "bf16" if native_bf16() else "fp32"


def fast_name() -> str:
    return f"{fast_dtype()}+channels_last"


def train_step_fn(model, batch: int, size: int, fast: bool):
    """One AdamW step of the real loss, with or without the fast configuration (channels_last,
    and bf16 where the CPU has it)."""
    if fast:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    img, mask = _inputs(batch, size, fast)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast and native_bf16()):
            pred, sigma = model(img, mask, with_sigma=True, holes_of=mask)  # as train.py
        pred = pred.float()
        loss, _ = inpainting_loss(pred, compose(img, mask, pred), img, mask, 1.0, 0.01, sigma)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def train_flops_per_image(size: int, batch: int = 64, checkpoint: str | None = None) -> float:
    """FLOPs of one training step per image, on the same masks as the timed step (the decoder
    runs on their holes only, so the count depends on them)."""
    model = default_model(checkpoint)
    img, mask = _inputs(batch, size, False)
    with FlopCounterMode(display=False) as counter:
        model(img, mask, holes_of=mask).sum().backward()
    return counter.get_total_flops() / batch


def inference_fn(model, batch: int, size: int, fast: bool, every_pixel: bool = False):
    """`inpaint_with_std` (mean and σ, decoding the holes only), or with `every_pixel` the
    model's forward (decoding every pixel, as training does), composed the same way."""
    img, mask = _inputs(batch, size, fast)

    @torch.no_grad()
    def run():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast and native_bf16()):
            if not every_pixel:
                return inpaint_with_std(model, img, mask)
            pred, sigma = model(img, mask, with_sigma=True)
        return compose(img, mask, pred.float()), sigma
    return run
