"""End-to-end training: masked image -> encoder -> Z -> MLP at pixel centres -> loss.

Determinism: the data order of epoch e comes from seed + e, and the masks and flips of step s
from seed + s, so a resumed run draws exactly the batches the uninterrupted run would have.
"""

from __future__ import annotations

import csv
import math
import multiprocessing
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
from tqdm import tqdm

from . import distributed
from .checkpoint import load_optimizer_state, read_checkpoint, save_checkpoint
from .data import ImageTensorDataset, has_splits, open_dataset
from .losses import inpainting_loss
from .masks import MixtureMask, mask_batch
from .metrics import psnr_from_mse
from .model import ModelConfig, build_model, compose, count_parameters, downsample


class TrainingError(RuntimeError):
    """Training cannot go on (NaN loss, bad config); the last good checkpoint is kept."""


@dataclass
class TrainConfig:
    data: str = ""  # CelebA root (official layout) or a folder of images
    out: str = "runs/celeba32"  # run folder: checkpoints, log.csv, curve.png
    size: int = 32  # images are centre-cropped and resized to size x size
    steps: int = 12000  # optimiser steps in total (the LR schedule spans them)
    time_budget: float = 0.0  # > 0: train for this many seconds, the LR schedule following the
    # clock instead of the step count (steps is then an upper bound); for a fixed slot on a GPU
    batch: int = 64  # images per step
    lr: float = 2e-3  # peak AdamW learning rate
    weight_decay: float = 1e-4  # AdamW decoupled weight decay
    warmup: int = 300  # linear LR warm-up steps, then cosine decay to lr * min_lr_ratio
    min_lr_ratio: float = 0.02  # final LR as a fraction of the peak
    alpha: float = 1.0  # weight of the MSE on missing pixels
    beta: float = 0.01  # weight of the total variation of the composed image
    kl_weight: float = 1e-3  # weight of KL(posterior || prior) for a stochastic latent
    adv_weight: float = 0.0  # > 0: add a PatchGAN hinge loss with this weight (gan.py)
    mse_on: str = "hole"  # "hole": the seed's MSE on missing pixels; "all": on every pixel
    p_min: float = 0.1  # training hole ratio ~ U(p_min, p_max)
    p_max: float = 0.9
    mask_families: tuple[str, ...] = ("random", "box", "strokes")  # the training mixture
    full_prob: float = 0.02  # fraction of fully masked training images (learns the mean face)
    flip: bool = True  # random horizontal flips
    # > 1: train the decoder off its pixel grid. Images are loaded at size x render_scale, the
    # model sees them area-downsampled to `size`, and the loss is taken on its render at the
    # full size: queries between Z's pixel centres, which rendering at --scale K relies on.
    render_scale: int = 1
    seed: int = 0  # seeds data order, masks, flips and initial weights
    valid_every: int = 500  # steps between valid evaluations and checkpoints
    valid_images: int = 500  # valid images used for the curve (fixed masks, seeded)
    limit: int = 0  # use at most this many training images (0 = all); for quick tries
    device: str = "auto"  # "auto" (CUDA when present, else CPU), "cpu", "cuda"
    amp: bool = True  # bf16 autocast: ~2x faster on CPUs with AVX-512 bf16 and on GPUs
    channels_last: bool = True  # NHWC memory layout, faster convolutions with oneDNN
    compile: bool = False  # torch.compile: measured *slower* for training on our 2-core CPU
    # Trained probabilistic by default: at equal compute it matched or beat MSE training on
    # valid PSNR (see the README's Uncertainty section), and every fill comes with its σ.
    model: ModelConfig = field(default_factory=lambda: ModelConfig(probabilistic=True))


def apply_overrides(cfg: TrainConfig, overrides: list[str]) -> TrainConfig:
    """Apply `key=value` strings (`model.width=64` reaches into the model config)."""
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not key=value")
        key, raw = item.split("=", 1)
        target, name = (cfg.model, key[6:]) if key.startswith("model.") else (cfg, key)
        types = {f.name: f.type for f in fields(target)}
        if name not in types or name == "model":
            raise ValueError(f"unknown config key {key!r}")
        current = getattr(target, name)
        setattr(target, name, _parse_like(current, raw, key))
    return cfg


def _parse_like(current, raw: str, key: str):
    try:
        if isinstance(current, bool):
            if raw.lower() not in {"true", "false", "1", "0", "yes", "no"}:
                raise ValueError
            return raw.lower() in {"true", "1", "yes"}
        if isinstance(current, tuple):
            items = [s for s in raw.split(",") if s]
            return tuple(type(current[0])(s) if current else s for s in items)
        return type(current)(raw)
    except ValueError:
        raise ValueError(f"bad value {raw!r} for {key} (expected {type(current).__name__})")


def config_to_dict(cfg: TrainConfig) -> dict:
    return asdict(cfg)


def config_from_dict(d: dict) -> TrainConfig:
    d = dict(d)
    model = ModelConfig.from_dict(d.pop("model"))
    known = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: tuple(v) if isinstance(v, list) else v
                          for k, v in d.items() if k in known}, model=model)


def lr_at(cfg: TrainConfig, step: int, elapsed: float = 0.0) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay over the rest of the run: of the
    steps, or with a `time_budget` of whichever runs out first, its seconds or the steps (a
    fast GPU can reach the step cap long before the clock; its LR must have decayed too)."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    if cfg.time_budget > 0:
        t = min(1.0, max(t, elapsed / cfg.time_budget))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError("--device cuda asked for, but no CUDA device is available")
    return torch.device(name)


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


@torch.no_grad()
def valid_psnr_hole(model, images, masks, device, amp: bool, batch: int = 250,
                    scale: int = 1) -> float:
    """PSNR over all hole pixels of the valid subset (one MSE, then dB); with `scale` > 1 on
    the render at the images' size from their downsampled version, as trained."""
    model.eval()
    sq, count = 0.0, 0.0
    for i in range(0, images.shape[0], batch):
        img, m = images[i:i + batch].to(device), masks[i:i + batch].to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            pred = model(*model_input(img, m, scale), holes_of=m, scale=scale)  # hole only
        pred = pred.float().clamp(0, 1)
        hole = 1 - m
        sq += float((((pred - img) ** 2) * hole).sum())
        count += float(hole.sum()) * img.shape[1]
    model.train()
    return psnr_from_mse(sq / max(count, 1.0))


LOG_FIELDS = ["step", "epoch", "lr", "loss", "mse", "tv", "images_per_s", "valid_psnr_hole"]


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True) -> Path:
    """Train (or resume) into cfg.out; returns the path of the last checkpoint.

    Under torchrun (or `distributed.launch`) every process calls this and they train one model
    with DDP: cfg.batch is the global batch, each rank computes on its slice, rank 0 writes."""
    last_ckpt = Path(cfg.out) / "last.safetensors"
    tensors, state = {}, {}
    if resume and last_ckpt.exists():
        tensors, state = read_checkpoint(last_ckpt)
        saved = config_from_dict(state["train_config"])
        # Keep the run's own settings, but let the user extend `steps` or change the device.
        saved.steps, saved.device, saved.out = cfg.steps, cfg.device, cfg.out
        saved.time_budget = cfg.time_budget or saved.time_budget
        saved.data = cfg.data or saved.data
        cfg = saved
    elif resume:
        raise TrainingError(f"--resume: no checkpoint at {last_ckpt}")
    if not cfg.data:
        raise TrainingError("no training data: pass --data ROOT")
    for family in cfg.mask_families:
        if family not in {"random", "box", "strokes"}:
            raise ValueError(f"unknown mask family {family!r} in mask_families; "
                             "choose from box, random, strokes")
    if not (isinstance(cfg.render_scale, int) and cfg.render_scale >= 1):
        raise ValueError(f"render_scale must be a positive integer, got {cfg.render_scale!r}")
    if cfg.mse_on not in {"hole", "all"}:
        raise ValueError(f"mse_on must be 'hole' or 'all', got {cfg.mse_on!r}")
    if cfg.batch % (world := distributed.world_size()):
        raise TrainingError(f"batch {cfg.batch} is not a multiple of the {world} processes")
    with distributed.process_group(pick_device(cfg.device)) as device:
        return _fit(cfg, device, tensors, state, progress)


def _fit(cfg: TrainConfig, device: torch.device, tensors: dict[str, torch.Tensor], state: dict,
         progress: bool) -> Path:
    """The training loop; from the checkpoint (`tensors`, `state`) if one is given."""
    start_step, best = state.get("step", 0), state.get("best_valid_psnr", -math.inf)
    elapsed = state.get("elapsed_seconds", 0.0)  # training time so far, for time_budget
    rank, world = distributed.rank(), distributed.world_size()
    main, out = rank == 0, Path(cfg.out)
    last_ckpt = out / "last.safetensors"
    torch.manual_seed(cfg.seed)
    with distributed.local_rank0_first():
        side = cfg.size * cfg.render_scale
        train_set = open_dataset(cfg.data, "train", side, limit=cfg.limit or None)
        if has_splits(cfg.data):
            valid, images = open_dataset(cfg.data, "valid", side), train_set.images
        else:  # a plain folder has no valid split: hold out its last tenth (at most 500)
            held = max(1, min(cfg.valid_images, train_set.images.shape[0] // 10))
            valid = ImageTensorDataset(train_set.images[-held:])
            images = train_set.images[:-held]
    if images.shape[0] < cfg.batch:
        raise TrainingError(f"only {images.shape[0]} training images for a batch of {cfg.batch}")
    v_images, v_masks = valid_set(cfg, valid) if main else (None, None)

    model = build_model(cfg.model).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if start_step:
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        load_optimizer_state(opt, tensors, state)
    # DDP wraps the step only: checkpoints hold `model` (no `module.` prefix), for any world size.
    step_fn = distributed.wrap(model, device)
    step_fn = torch.compile(step_fn) if cfg.compile else step_fn
    adversary = None
    if cfg.adv_weight > 0:
        if world > 1:
            raise TrainingError("the adversarial loss runs in one process only (--nproc 1)")
        from .gan import Adversary
        adversary = Adversary(cfg.model.channels, device, cfg.lr,
                              tensors if start_step else None)
    n_params = count_parameters(model)
    if main:
        ranks = f" ({world} processes x {cfg.batch // world})" if world > 1 else ""
        print(f"impaint train: {images.shape[0]} train images at {cfg.size}px, {n_params:,} "
              f"parameters, device {device}, batch {cfg.batch}{ranks}, "
              f"steps {start_step}->{cfg.steps}")

    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "log.csv"
    # On resume, drop the rows logged after the checkpoint: those steps are trained again.
    kept = [r for r in csv.DictReader(open(log_path)) if int(r["step"]) <= start_step] \
        if main and start_step and log_path.exists() else []
    # Only rank 0 logs; the others write to os.devnull, so the loop below needs no rank tests.
    log_file = open(log_path if main else os.devnull, "w", newline="")
    log = csv.DictWriter(log_file, LOG_FIELDS)
    log.writeheader()
    log.writerows(kept)

    gen = MixtureMask(cfg.p_min, cfg.p_max, cfg.mask_families, cfg.full_prob)
    per_epoch = max(1, images.shape[0] // cfg.batch)
    orders: dict[int, torch.Tensor] = {}
    mine = slice(rank * cfg.batch // world, (rank + 1) * cfg.batch // world)  # this rank's part

    def batch_for(step: int):
        epoch = step // per_epoch
        if epoch not in orders:
            orders.clear()
            orders[epoch] = epoch_order(cfg, images.shape[0], epoch)
        # Every rank draws the whole global batch (one seeded stream), then keeps its slice.
        img, mask = make_batch(cfg, images, orders[epoch], step, gen)  # (B, 3, S, S), (B, 1, S, S)
        loss_mask = mask if cfg.mse_on == "hole" else torch.zeros_like(mask)  # 0 = scored
        return (img[mine], mask[mine], loss_mask[mine],
                max(float((1 - loss_mask).sum()) * img.shape[1], 1.0))

    def state_at(step: int) -> dict:
        return {"step": step, "train_config": config_to_dict(cfg),
                "model_config": cfg.model.to_dict(), "image_size": cfg.size,
                "parameters": n_params, "best_valid_psnr": best, "elapsed_seconds": elapsed}

    batches = iter(prefetched(batch_for, range(start_step, cfg.steps), device))
    bar = tqdm(range(start_step, cfg.steps), initial=start_step, total=cfg.steps,
               disable=not (progress and main), desc="train", unit="step")
    model.train()
    t0, seen, elapsed_before = time.perf_counter(), 0, elapsed
    out_of_time = cfg.time_budget > 0 and elapsed >= cfg.time_budget
    try:
        for step in ([] if out_of_time else bar):
            img, mask, loss_mask, holes = next(batches)
            img, mask, loss_mask = img.to(device), mask.to(device), loss_mask.to(device)
            if cfg.channels_last:
                img = img.contiguous(memory_format=torch.channels_last)
                mask = mask.contiguous(memory_format=torch.channels_last)
            lr = lr_at(cfg, step, elapsed)
            for group in opt.param_groups:
                group["lr"] = lr
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.amp):
                # σ: None unless probabilistic; KL: None without a stochastic latent.
                # The loss sees the composed image and the scored pixels only: decoding
                # just those (the holes, by default) skips most of the decoder's work.
                pred, sigma, kl = step_fn(*model_input(img, mask, cfg.render_scale),
                                          with_kl=True, holes_of=loss_mask,
                                          scale=cfg.render_scale)
            pred = pred.float()
            # DDP averages the ranks' gradients: dividing each rank's hole error by its share of
            # the global batch's hole values (not by its own) makes that the one-process gradient.
            composed = compose(img, mask, pred)
            loss, parts = inpainting_loss(pred, composed, img, loss_mask,
                                          cfg.alpha, cfg.beta, sigma, holes / world)
            if kl is not None:
                loss = loss + cfg.kl_weight * kl
            if adversary is not None:
                loss = loss + cfg.adv_weight * adversary.generator_loss(composed, mask)
            # The global batch's loss, on every rank: logged, and a NaN stops all ranks at once.
            # Elapsed time is averaged too, so every rank stops a time-budgeted run at one step.
            loss_v, mse_v, tv_v, elapsed = distributed.mean(
                [float(loss.detach()), parts["mse"], parts["tv"],
                 elapsed_before + time.perf_counter() - t0], device)
            if not math.isfinite(loss_v):
                raise TrainingError(f"loss became {loss_v} at step {step}; stopped, the "
                                    f"last good checkpoint is {last_ckpt}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if adversary is not None:
                adversary.step(img, composed, mask)
            seen += img.shape[0] * world
            speed = seen / (time.perf_counter() - t0)
            bar.set_postfix(loss=f"{loss_v:.4f}", img_s=f"{speed:.0f}")
            row = {"step": step + 1, "epoch": f"{(step + 1) / per_epoch:.3f}",
                   "lr": f"{lr:.3e}", "loss": f"{loss_v:.5f}",
                   "mse": f"{mse_v:.5f}", "tv": f"{tv_v:.5f}",
                   "images_per_s": f"{speed:.1f}", "valid_psnr_hole": ""}
            done = step + 1 == cfg.steps or (cfg.time_budget > 0 and
                                             elapsed >= cfg.time_budget)
            # Rank 0 validates and saves; the others wait for it in the next all-reduce.
            if main and ((step + 1) % cfg.valid_every == 0 or done):
                v = valid_psnr_hole(model, v_images, v_masks, device, cfg.amp,
                                    scale=cfg.render_scale)
                row["valid_psnr_hole"] = f"{v:.3f}"
                bar.write(f"step {step + 1}: train loss {loss_v:.4f}, valid PSNR on the "
                          f"hole {v:.2f} dB, {speed:.0f} img/s")
                if v > best:
                    best = v
                    save_checkpoint(out / "best.safetensors", model, state_at(step + 1))
                save_checkpoint(last_ckpt, model, state_at(step + 1), opt,
                                adversary.state_tensors() if adversary else None)
            log.writerow(row)
            log_file.flush()
            if done:
                break
    finally:
        del batches  # stops the worker process
        log_file.close()
        bar.close()
    if main:
        from .plots import training_curve
        training_curve(log_path, out / "curve.png")
    distributed.barrier()  # every rank returns once the checkpoint is written
    return last_ckpt


if __name__ == "__main__":  # torchrun --nproc_per_node=N -m impaint.train (impaint train's args)
    import sys
    from impaint.cli import main
    sys.exit(main(["train", *sys.argv[1:]]))
