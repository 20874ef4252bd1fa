"""The training loop: masked image -> encoder -> Z -> decoder at pixel centres -> loss.

`train` is the whole run: first the checks of run_folder.py (may it write in --out, does
--resume or init= agree with the settings given), then `_fit`, which reads as its steps:
`set_up` (run.py: data, model, optimiser, DDP, the optional adversary, all from the
checkpoint when resuming), `_open_log`, then for each step `_train_step` and, every
`valid_every` steps on rank 0, `_validate_and_save`; Ctrl-C stops it after a whole step
(stopping.py). The batches are pure functions of (seed, step) (batches.py), so a resumed run,
killed at any moment, ends with the weights of the uninterrupted run, bit for bit.
"""

from __future__ import annotations

import csv
import math
import os
import time
from collections.abc import Collection
from pathlib import Path
from typing import Callable

import torch

from ..data.masks import MixtureMask
from ..evaluation.metrics import psnr_from_mse
from ..model import compose, save_checkpoint
from ..plots import training_curve
from ..precision import pick_device  # pick_device: train's API too
from ..progress import bar as progress_bar, redrawn
from . import distributed
from .batches import epoch_order, make_batch, model_input, prefetched
from .config import (TrainConfig, TrainingError, check_config, check_types, lr_at,
                     normalised)
from .losses import inpainting_loss
from .run import Run, set_up
from .run_folder import (RUN_FILES, check_init, resumed, run_folder_problem,
                         run_steps)  # run_steps: train's API too
from .stopping import TrainingStopped, stop_on_signal


LOG_FIELDS = ["step", "epoch", "lr", "loss", "mse", "tv", "images_per_s", "valid_psnr_hole"]


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


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True,
          overwrite: bool = False, given: Collection[str] | None = None) -> Path:
    """Train (or resume) into cfg.out; returns the path of the last checkpoint.

    `given` names the settings the caller set (`batch`, `model.width`): resuming refuses
    each that differs from the run's, even one set to its default. None: the settings away
    from their defaults count as given.

    A run already in cfg.out is never replaced silently: without `resume` (continue it) or
    `overwrite` (replace it), training stops before touching any file. Under torchrun (or
    `distributed.launch`) every process calls this and they train one model with DDP:
    cfg.batch is the global batch, each rank computes on its slice, rank 0 writes; every
    rank agrees on the run folder before any of them goes on."""
    check_types(cfg)  # before cfg.out is read
    cfg = normalised(cfg)
    if resume and overwrite:
        raise TrainingError("--resume continues the run in --out and --overwrite replaces it: "
                            "give one of them")
    problem = run_folder_problem(cfg, resume, overwrite)  # this machine's view; reads only
    tensors, state = {}, {}
    if problem is None:  # a bad config stops every rank here, before they wait for each other
        cfg, tensors, state = resumed(cfg, resume, given)
        check_config(cfg, distributed.world_size())
        if cfg.init and not resume:
            check_init(cfg, given)
        if state.get("step", 0) == cfg.steps:  # a finished run, resumed: nothing to train
            if distributed.rank() == 0:
                print(f"impaint train: {cfg.out} is already at step {cfg.steps:,}, its last: "
                      f"nothing to train (--steps above {cfg.steps:,} trains it further)")
            return Path(cfg.out) / "last.safetensors"
        spent = state.get("elapsed_seconds", 0.0)
        if 0 < cfg.time_budget <= spent:  # resumed with its budget spent: nothing to train
            if distributed.rank() == 0:
                print(f"impaint train: {cfg.out} has spent its time budget ({spent:,.0f} of "
                      f"{cfg.time_budget:,.0f} s) at step {state['step']:,}: a larger "
                      f"--time-budget trains it further (0: none, on to its --steps)")
            return Path(cfg.out) / "last.safetensors"
    with distributed.process_group(pick_device(cfg.device)) as device:
        problem = distributed.agree(problem, device)
        if problem:
            raise TrainingError(problem)
        # Training seeds torch's global generators (the seed's order of draws); the caller's
        # own draws go on after it as if it had not run, on the CPU and on this GPU.
        gpus = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=gpus):
            return _fit(cfg, device, tensors, state, progress)


def _fit(cfg: TrainConfig, device: torch.device, tensors: dict[str, torch.Tensor], state: dict,
         progress: bool) -> Path:
    """The training loop; from the checkpoint (`tensors`, `state`) if one is given."""
    run = set_up(cfg, device, tensors, state)
    log_file, log = _open_log(run)
    per_epoch = max(1, run.images.shape[0] // cfg.batch)
    batches = iter(prefetched(_batch_drawer(run), range(run.start_step, cfg.steps), device))
    # Updated by hand, not iterated: tqdm's iterator counts in a local variable between
    # redraws, so a line written in between (`step N: ...`) showed a stale count in a log.
    # In a log the last step's `step N:` line has just redrawn the bar at N/total: closing
    # it there would write that line twice.
    bar = progress_bar(initial=run.start_step, total=cfg.steps, leave=redrawn(),
                       disable=not (progress and run.main), desc="train", unit="step")
    run.model.train()
    run.t0, elapsed_before = time.perf_counter(), run.elapsed
    stopped = False
    try:
        with stop_on_signal(run):  # Ctrl-C: stop after a whole step, saved
            for step in range(run.start_step, cfg.steps):
                lr = lr_at(cfg, step, run.elapsed)
                loss_v, mse_v, tv_v, stopped = _train_step(run, step, next(batches), lr,
                                                           elapsed_before)
                run.seen += cfg.batch  # the global batch, over all ranks
                speed = run.seen / (time.perf_counter() - run.t0)
                bar.set_postfix(loss=f"{loss_v:.4f}", img_s=f"{speed:.0f}", refresh=False)
                bar.update()
                row = {"step": step + 1, "epoch": f"{(step + 1) / per_epoch:.3f}",
                       "lr": f"{lr:.3e}", "loss": f"{loss_v:.5f}",
                       "mse": f"{mse_v:.5f}", "tv": f"{tv_v:.5f}",
                       "images_per_s": f"{speed:.1f}", "valid_psnr_hole": ""}
                done = stopped or step + 1 == cfg.steps or (cfg.time_budget > 0 and
                                                            run.elapsed >= cfg.time_budget)
                # Rank 0 validates and saves; the others wait for it in the next all-reduce.
                if (step + 1) % cfg.valid_every == 0 or done:
                    run.saved_step = step + 1  # on every rank: what a NaN's message names
                    if run.main:
                        row["valid_psnr_hole"] = _validate_and_save(run, step + 1, bar, loss_v,
                                                                    speed)
                log.writerow(row)
                log_file.flush()
                if done:
                    break
    finally:
        del batches  # stops the worker process
        log_file.close()
        bar.close()
    if run.main:
        training_curve(Path(cfg.out) / "log.csv", Path(cfg.out) / "curve.png")
    distributed.barrier()  # every rank returns once the checkpoint is written
    if stopped:
        raise TrainingStopped(f"stopped at step {step + 1:,} of {cfg.steps:,}: "
                              f"{run.last_ckpt} is saved")
    return run.last_ckpt


def _open_log(run: Run):
    """(file, csv writer) of log.csv, the first file a run writes. A new run first removes
    an old run's files; on resume the rows logged after the checkpoint are dropped: those
    steps are trained again. Only rank 0 logs; the others write to os.devnull,
    so the loop needs no rank tests."""
    out = Path(run.cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if run.main and not run.start_step:  # a new run (maybe --overwrite): none of the old one
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
    log_path = out / "log.csv"
    kept = []
    if run.main and run.start_step and log_path.exists():
        with open(log_path, newline="") as old:
            kept = [r for r in csv.DictReader(old) if int(r["step"]) <= run.start_step]
    log_file = open(log_path if run.main else os.devnull, "w", newline="")
    log = csv.DictWriter(log_file, LOG_FIELDS)
    log.writeheader()
    log.writerows(kept)
    return log_file, log


def _batch_drawer(run: Run) -> Callable[[int], tuple]:
    """step -> this rank's (images, masks, loss masks, hole values of the global batch)."""
    cfg, images = run.cfg, run.images
    rank, world = distributed.rank(), distributed.world_size()
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

    return batch_for


def _train_step(run: Run, step: int, batch: tuple, lr: float, elapsed_before: float
                ) -> tuple[float, float, float, bool]:
    """One optimiser step at learning rate `lr`: -> the global batch's (loss, mse, tv) and
    whether any rank was asked to stop (all stop after this step). Updates `run.elapsed`; a
    non-finite loss stops every rank at this step."""
    cfg, device, world = run.cfg, run.device, distributed.world_size()
    img, mask, loss_mask, holes = batch
    img, mask, loss_mask = img.to(device), mask.to(device), loss_mask.to(device)
    if cfg.channels_last:
        img = img.contiguous(memory_format=torch.channels_last)
        mask = mask.contiguous(memory_format=torch.channels_last)
    for group in run.opt.param_groups:
        group["lr"] = lr
    if getattr(run.model, "latent", None) is not None:
        # The posterior's noise (torch's global generator), a function of (seed, step, rank)
        # like the batches: a resumed run draws the same at each step as one never stopped.
        torch.manual_seed((cfg.seed * 1_000_003 + step) * 4_099 + distributed.rank())
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=run.amp):
        # σ: None unless probabilistic; KL: None without a stochastic latent.
        # The loss sees the composed image and the scored pixels only: decoding
        # just those (the holes, by default) skips most of the decoder's work.
        pred, sigma, kl = run.step_fn(*model_input(img, mask, cfg.render_scale),
                                      with_kl=True, holes_of=loss_mask, scale=cfg.render_scale)
    pred = pred.float()
    # DDP averages the ranks' gradients: dividing each rank's hole error by its share of
    # the global batch's hole values (not by its own) makes that the one-process gradient.
    composed = compose(img, mask, pred)
    loss, parts = inpainting_loss(pred, composed, img, loss_mask,
                                  cfg.alpha, cfg.beta, sigma, holes / world,
                                  cfg.nll_beta)
    if kl is not None:
        loss = loss + cfg.kl_weight * kl
    if run.adversary is not None:
        loss = loss + cfg.adv_weight * run.adversary.generator_loss(composed, mask)
    # The global batch's loss, on every rank: logged, and a NaN stops all ranks at once.
    # Elapsed time is averaged too, so every rank stops a time-budgeted run at one step.
    loss_v, mse_v, tv_v, run.elapsed, stop = distributed.mean(
        [float(loss.detach()), parts["mse"], parts["tv"],
         elapsed_before + time.perf_counter() - run.t0, float(run.stop_asked)], device)
    if not math.isfinite(loss_v):
        kept = (f"the last good checkpoint is {run.last_ckpt} (step {run.saved_step})"
                if run.saved_step else "no checkpoint of this run was saved yet")
        raise TrainingError(f"loss became {loss_v} at step {step}; stopped, {kept}")
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    run.opt.step()
    if run.adversary is not None:
        run.adversary.step(img, composed, mask)
    return loss_v, mse_v, tv_v, stop > 0


def _validate_and_save(run: Run, steps: int, bar, loss_v: float, speed: float) -> str:
    """Rank 0, after `steps` steps: valid PSNR on the hole, best.safetensors if it is the
    best so far, and last.safetensors (with the optimiser state, for --resume). -> the PSNR
    as logged."""
    cfg = run.cfg
    v = valid_psnr_hole(run.model, *run.valid, run.device, run.amp, scale=cfg.render_scale)
    bar.write(f"step {steps}: train loss {loss_v:.4f}, valid PSNR on the "
              f"hole {v:.2f} dB, {speed:.0f} img/s")
    # last first: the file --resume needs, with the best score this validation makes (a run
    # resumed from it must not take a worse model for a better one). A Ctrl-C meanwhile
    # waits for both (stop_on_signal).
    better = v > run.best
    run.best = max(run.best, v)
    run.saving = True
    try:
        save_checkpoint(run.last_ckpt, run.model, run.state_at(steps), run.opt,
                        run.adversary.state_tensors() if run.adversary else None)
        if better:
            save_checkpoint(Path(cfg.out) / "best.safetensors", run.model, run.state_at(steps))
    finally:
        run.saving = False
    return f"{v:.3f}"
