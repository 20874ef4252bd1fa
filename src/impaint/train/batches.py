"""What each training step sees: batches drawn as pure functions of (seed, step).

The data order of epoch e comes from seed + e, and the masks and flips of step s from seed + s,
so a resumed run draws exactly the batches the uninterrupted run would have, and every DDP rank
draws the same global batch (then keeps its own slice).
"""

from __future__ import annotations

import multiprocessing
import os

import torch

from ..data import ImageTensorDataset
from ..data.masks import MixtureMask, mask_batch
from ..model import downsample
from .config import TrainConfig


def make_batch(cfg: TrainConfig, images: torch.Tensor, epoch_order: torch.Tensor,
               step: int, gen: MixtureMask) -> tuple[torch.Tensor, torch.Tensor]:
    """The images and masks of `step`, a pure function of (seed, step)."""
    n = images.shape[0]
    per_epoch = max(1, n // cfg.batch)
    pos = (step % per_epoch) * cfg.batch
    idx = epoch_order[pos:pos + cfg.batch]
    batch = images[idx].float() / 255.0  # (B, 3, S, S)
    rng = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
    if cfg.flip:
        flip = torch.rand(batch.shape[0], generator=rng) < 0.5
        batch[flip] = batch[flip].flip(-1)
    side = batch.shape[-1]  # size x render_scale
    masks = mask_batch(gen, batch.shape[0], side, side, rng)
    return batch, masks


class StepBatches(torch.utils.data.Dataset):
    """Item `step` is `batch_for(step)`: a whole batch, drawn by step number."""

    def __init__(self, batch_for, steps: range):
        self.batch_for, self.steps = batch_for, steps

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, i: int):
        return self.batch_for(self.steps[i])


def prefetched(batch_for, steps: range, device: torch.device) -> torch.utils.data.DataLoader:
    """The batches of `steps`: on a GPU drawn ahead by a worker process, on a CPU in turn.

    The CPU's step already keeps every core busy, and a concurrent drawer stalls its threads:
    on the 2-core CPU, 261 img/s drawing in turn, 231 from a worker process, 234 from a
    thread (313 with no masks to draw). A GPU's step leaves the CPU idle, so there forked
    workers (they share the decoded images, no pickling) hide the drawing entirely; several,
    because one draws about 75 batches of 64 masks (64 px) a second, while an H200 trains
    about 55 batches a second at 32 px: one worker would be close to the limit."""
    ahead = device.type == "cuda" and "fork" in multiprocessing.get_all_start_methods()
    workers = min(4, max(1, (os.cpu_count() or 2) // 2)) if ahead else 0
    return torch.utils.data.DataLoader(
        StepBatches(batch_for, steps), batch_size=None, shuffle=False,
        num_workers=workers, prefetch_factor=4 if ahead else None,
        multiprocessing_context="fork" if ahead else None)


def epoch_order(cfg: TrainConfig, n: int, epoch: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed + 7919 * epoch))


def valid_set(cfg: TrainConfig, valid: ImageTensorDataset) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed valid subset with fixed mixture masks, so the curve compares like with like."""
    images = valid.images[:cfg.valid_images].float() / 255.0
    rng = torch.Generator().manual_seed(12345)
    gen = MixtureMask(cfg.p_min, cfg.p_max, cfg.mask_families, full_prob=0.0)
    side = images.shape[-1]  # size x render_scale
    return images, mask_batch(gen, images.shape[0], side, side, rng)


def model_input(img: torch.Tensor, mask: torch.Tensor, scale: int):
    """What the model sees of a batch drawn at size x scale: the batch itself at scale 1."""
    return (img, mask) if scale == 1 else downsample(img, mask, scale)
