"""The training loop: masked image -> encoder -> Z -> decoder at pixel centres -> loss.

`train` is the whole run; `_fit` reads as its steps: `_set_up` (data, model, optimiser, DDP,
the optional adversary, all from the checkpoint when resuming), `_open_log`, then for each
step `_train_step` and, every `valid_every` steps on rank 0, `_validate_and_save`. The batches
are pure functions of (seed, step) (batches.py), so a resumed run, killed at any moment,
ends with the weights of the uninterrupted run, bit for bit.
"""

from __future__ import annotations

import csv
import math
import os
import signal
import sys
import time
from collections.abc import Collection
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..data import ImageTensorDataset, has_splits, open_dataset
from ..data.masks import MixtureMask
from ..evaluation.metrics import psnr_from_mse
from ..model import (CheckpointError, ModelConfig, build_model, compose, count_parameters,
                     load_optimizer_state, read_checkpoint, save_checkpoint,
                     checkpoint_path)
from ..plots import training_curve
from ..precision import native_bf16, pick_device  # pick_device: train's API too
from ..progress import bar as progress_bar
from . import distributed
from .batches import epoch_order, make_batch, model_input, prefetched, valid_set
from .config import (TrainConfig, TrainingError, check_config, config_from_dict,
                     config_to_dict, lr_at)
from .gan import Adversary
from .losses import inpainting_loss


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
    if resume and overwrite:
        raise TrainingError("--resume continues the run in --out and --overwrite replaces it: "
                            "give one of them")
    problem = _run_folder_problem(cfg, resume, overwrite)  # this machine's view; reads only
    tensors, state = {}, {}
    if problem is None:  # a bad config stops every rank here, before they wait for each other
        cfg, tensors, state = _resumed(cfg, resume, given)
        check_config(cfg, distributed.world_size())
        if cfg.init and not resume:
            _check_init(cfg, given)
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
        return _fit(cfg, device, tensors, state, progress)


RUN_FILES = ("last.safetensors", "best.safetensors", "log.csv", "curve.png")


def _run_folder_problem(cfg: TrainConfig, resume: bool, overwrite: bool) -> str | None:
    """Why training must not start in cfg.out, as one line; None if it may."""
    out = Path(cfg.out)
    last, best = out / "last.safetensors", out / "best.safetensors"
    # A run stopped before its first last.safetensors: best holds no optimizer state, so
    # neither --resume nor a plain rerun goes on; one message for both, not each other.
    if best.exists() and not last.exists() and not overwrite:
        return (f"{out} holds best.safetensors but no last.safetensors to resume from: "
                f"--overwrite starts the run again, or --set init={best} with another --out "
                f"starts one from its weights")
    if resume:
        return None if last.exists() else (f"--resume: no checkpoint in {out} (no "
                                           f"last.safetensors); leave out --resume to start "
                                           f"a new run there")
    held = [out / name for name in RUN_FILES[:2] if (out / name).exists()]
    if overwrite or not held:
        return None
    try:
        state = read_checkpoint(held[0])[1]
        what = f"{held[0].name} at step {state.get('step', 0):,}"
        total = state.get("train_config", {}).get("steps")
        what += f" of {total:,}" if total else ""
    except CheckpointError:
        what = f"an unreadable {held[0].name}"
    return (f"{out} already holds a run ({what}): add --resume to continue it, or "
            f"--overwrite to replace it")


def _resumed(cfg: TrainConfig, resume: bool, given: Collection[str] | None = None
             ) -> tuple[TrainConfig, dict, dict]:
    """(config, checkpoint tensors, checkpoint state): the run's own, when resuming."""
    if not resume:
        return cfg, {}, {}
    tensors, state = read_checkpoint(Path(cfg.out) / "last.safetensors")
    saved = config_from_dict(state["train_config"])
    clashes = _clashes(cfg, saved, given)
    if clashes:  # a run goes on as it was set up; a silently ignored --batch misleads
        raise TrainingError(f"--resume continues {cfg.out} as it was set up, and it differs "
                            f"in {', '.join(clashes)}: leave those out, or start a new run "
                            f"from its weights (--set init={Path(cfg.out) / 'last.safetensors'})")
    done = state.get("step", 0)
    if cfg.steps < done:  # would train nothing and say nothing
        raise TrainingError(f"--steps {cfg.steps:,} is below the {done:,} steps {cfg.out} has "
                            f"trained: give more to train it further, or leave --steps out")
    # Another --data is allowed (the same images moved, or on another machine), but where the
    # run's own folder is still here it is other images: said, since best.safetensors then
    # compares valid PSNRs of two sets.
    if (cfg.data and Path(saved.data).exists() and distributed.rank() == 0
            and Path(cfg.data).resolve() != Path(saved.data).resolve()):
        print(f"impaint train: note: --data {cfg.data} is not the run's own ({saved.data}): "
              f"it goes on with these images, and validates on them")
    # Keep the run's own settings, but let the user extend `steps` or change the device.
    saved.steps, saved.device, saved.out = cfg.steps, cfg.device, cfg.out
    # 0 is the default, so "not given" to an API caller; --time-budget 0 turns it off.
    saved.time_budget = (cfg.time_budget if given is not None and "time_budget" in given
                         else cfg.time_budget or saved.time_budget)
    saved.data = cfg.data or saved.data
    return saved, tensors, state


def run_steps(out: str | Path) -> int | None:
    """The steps the run in `out` was set up for (`--resume` without `--steps` keeps them);
    None without a readable last.safetensors (train() then says why)."""
    try:
        return read_checkpoint(Path(out) / "last.safetensors")[1]["train_config"]["steps"]
    except (CheckpointError, KeyError):
        return None


RESUME_MAY_CHANGE = {"steps", "time_budget", "data", "device", "out"}


def _differing(given: dict, saved: dict, default: dict, whose: str, prefix: str = "",
               named: Collection[str] | None = None) -> list[str]:
    """`name value (whose: saved value)` for each setting given that differs from `saved`'s:
    those `named` (with `prefix`), or where None, those away from their defaults."""
    return [f"{prefix}{k} {v} ({whose}: {saved.get(k)})" for k, v in given.items()
            if (v != default[k] if named is None else prefix + k in named)
            and v != saved.get(k)]


def _clashes(cfg: TrainConfig, saved: TrainConfig, given: Collection[str] | None = None
             ) -> list[str]:
    """The settings (`batch 64 (the run's: 32)`) given against the resumed run's."""
    default = config_to_dict(TrainConfig())
    cfg_d, saved_d = config_to_dict(cfg), config_to_dict(saved)
    top = {k: v for k, v in cfg_d.items() if k != "model" and k not in RESUME_MAY_CHANGE}
    return (_differing(top, saved_d, default, "the run's", named=given)
            + _differing(cfg_d["model"], saved_d["model"], default["model"], "the run's",
                         "model.", named=given))


@dataclass
class Run:
    """One process's training run: what `_set_up` builds and the steps update."""

    cfg: TrainConfig
    device: torch.device
    images: torch.Tensor  # (N, 3, S, S) uint8 training images, S = size x render_scale
    valid: tuple  # (images, masks) of the fixed valid subset; (None, None) off rank 0
    model: torch.nn.Module
    opt: torch.optim.Optimizer
    step_fn: Callable  # the model as the training step calls it: DDP-wrapped, maybe compiled
    adversary: Adversary | None
    start_step: int
    best: float  # best valid PSNR on the hole so far
    elapsed: float  # training seconds so far, summed over resumes (for time_budget)
    t0: float = 0.0  # perf_counter() when this process's steps began
    seen: int = 0  # images trained on by all ranks since t0
    stop_asked: bool = False  # Ctrl-C or SIGTERM came: stop after this step (stop_on_signal)
    saving: bool = False  # checkpoints being written: a second Ctrl-C waits for them
    amp: bool = False  # bf16 autocast: cfg.amp, where the device has native bf16 (_set_up)
    saved_step: int | None = None  # the step of this run's last.safetensors (None: none yet)

    @property
    def main(self) -> bool:  # rank 0 alone validates and writes files
        return distributed.rank() == 0

    @property
    def last_ckpt(self) -> Path:
        return Path(self.cfg.out) / "last.safetensors"

    def state_at(self, step: int) -> dict:
        """The JSON state a checkpoint written after `step` steps carries."""
        cfg = config_to_dict(self.cfg)
        if cfg["data"]:  # absolute: evaluate knows the images it trained on from any folder
            cfg["data"] = str(Path(cfg["data"]).resolve())
        return {"step": step, "train_config": cfg,
                "model_config": self.cfg.model.to_dict(), "image_size": self.cfg.size,
                "parameters": count_parameters(self.model), "best_valid_psnr": self.best,
                "elapsed_seconds": self.elapsed}


def _fit(cfg: TrainConfig, device: torch.device, tensors: dict[str, torch.Tensor], state: dict,
         progress: bool) -> Path:
    """The training loop; from the checkpoint (`tensors`, `state`) if one is given."""
    run = _set_up(cfg, device, tensors, state)
    log_file, log = _open_log(run)
    per_epoch = max(1, run.images.shape[0] // cfg.batch)
    batches = iter(prefetched(_batch_drawer(run), range(run.start_step, cfg.steps), device))
    # Updated by hand, not iterated: tqdm's iterator counts in a local variable between
    # redraws, so a line written in between (`step N: ...`) showed a stale count in a log.
    # In a log the last step's `step N:` line has just redrawn the bar at N/total: closing
    # it there would write that line twice.
    bar = progress_bar(initial=run.start_step, total=cfg.steps, leave=sys.stderr.isatty(),
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


class TrainingStopped(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM stopped a run after a whole step, which was saved. `go_on`
    says how to continue it: a command that trains inside (`impaint ablate`) says its own."""

    def __init__(self, where: str, go_on: str = "--resume continues the run"):
        super().__init__(where, go_on)  # both in args: the exception pickles across processes
        self.where, self.go_on = where, go_on

    def __str__(self) -> str:
        return f"{self.where}, {self.go_on}"


@contextmanager
def stop_on_signal(run: Run):
    """Within: SIGINT (Ctrl-C) and SIGTERM (a scheduler's stop) ask the loop to stop after
    the step in progress, which it validates and saves: interrupted mid-step, the optimiser
    could leave the weights half updated, and up to `valid_every` steps would be lost. A
    second Ctrl-C stops at once, but for the checkpoints being written, which it waits for.
    Off the main thread signals stay as they were."""
    def ask(signum, frame):
        if run.stop_asked and signum == signal.SIGINT and not run.saving:
            raise KeyboardInterrupt
        run.stop_asked = True

    before = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            before[sig] = signal.signal(sig, ask)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def _set_up(cfg: TrainConfig, device: torch.device, tensors: dict[str, torch.Tensor],
            state: dict) -> Run:
    """Data, model, optimiser, DDP wrapper and adversary; restored from the checkpoint if
    `state` has a step. The order is the seed's: weights are drawn right after the data."""
    start_step = state.get("step", 0)
    torch.manual_seed(cfg.seed)
    images, valid = _load_data(cfg)
    main = distributed.rank() == 0
    valid = valid_set(cfg, valid) if main else (None, None)
    model = _initial_model(cfg, start_step).to(device)
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
        if distributed.world_size() > 1:
            raise TrainingError("the adversarial loss runs in one process only (--nproc 1)")
        adversary = Adversary(cfg.model.channels, device, cfg.lr,
                              tensors if start_step else None)
    run = Run(cfg, device, images, valid, model, opt, step_fn, adversary, start_step,
              best=state.get("best_valid_psnr", -math.inf),
              elapsed=state.get("elapsed_seconds", 0.0),
              # Emulated bf16 is ~18x slower than fp32 on an AVX2 CPU (impaint.precision).
              amp=cfg.amp and native_bf16(device), saved_step=start_step or None)
    if main:
        world = distributed.world_size()
        ranks = f" ({world} processes x {cfg.batch // world})" if world > 1 else ""
        print(f"impaint train: {images.shape[0]} train images at {cfg.size}px, "
              f"{count_parameters(model):,} parameters, device {device}, batch {cfg.batch}"
              f"{ranks}, steps {start_step}->{cfg.steps}, {_precision(run)}")
    return run


def _precision(run: Run) -> str:
    if run.amp:
        return "bf16"
    if run.cfg.amp:
        return f"fp32 (this {'GPU' if run.device.type == 'cuda' else 'CPU'} has no native bf16)"
    return "fp32"


def _check_init(cfg: TrainConfig, given: Collection[str] | None = None) -> None:
    """A new run from `cfg.init` trains that checkpoint's model as it is: a model setting
    `given` (see `train`) that differs from it is refused, not silently dropped; before the
    data is decoded (minutes, the first time), not after."""
    state = read_checkpoint(checkpoint_path(None if cfg.init == "shipped" else cfg.init))[1]
    clashes = _differing(cfg.model.to_dict(), ModelConfig.from_dict(state["model_config"])
                         .to_dict(), TrainConfig().model.to_dict(), "its", "model.", given)
    if clashes:
        raise TrainingError(f"init={cfg.init} trains its own model as it is, and these "
                            f"settings differ from it: {', '.join(clashes)}")


def _initial_model(cfg: TrainConfig, start_step: int) -> torch.nn.Module:
    """A fresh model, or with `cfg.init` (a new run only, `_check_init`ed) one with that
    checkpoint's weights; its model config replaces `cfg.model`, so the run's checkpoints
    describe what they hold."""
    if not cfg.init or start_step:
        return build_model(cfg.model)
    tensors, state = read_checkpoint(checkpoint_path(None if cfg.init == "shipped" else cfg.init))
    cfg.model = ModelConfig.from_dict(state["model_config"])
    model = build_model(cfg.model)
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    return model


def _load_data(cfg: TrainConfig) -> tuple[torch.Tensor, ImageTensorDataset]:
    """(training images, valid set). A plain folder has no valid split: its last tenth (at
    most `valid_images`) is held out."""
    with distributed.local_rank0_first():  # one process per machine fills the decode cache
        side = cfg.size * cfg.render_scale
        train_set = open_dataset(cfg.data, "train", side, limit=cfg.limit or None)
        if has_splits(cfg.data):
            valid, images = open_dataset(cfg.data, "valid", side), train_set.images
        elif train_set.images.shape[0] < 2:  # its one image would go to validation
            has = f"--limit {cfg.limit} leaves" if cfg.limit else f"{cfg.data} has"
            raise TrainingError(f"{has} 1 image: training needs at least 2 (a tenth, at least "
                                f"one, is held out for validation)")
        else:
            held = max(1, min(cfg.valid_images, train_set.images.shape[0] // 10))
            valid = ImageTensorDataset(train_set.images[-held:])
            images = train_set.images[:-held]
    if images.shape[0] < cfg.batch:
        n = images.shape[0]
        raise TrainingError(f"only {n} training image{'s' if n != 1 else ''} for a batch of "
                            f"{cfg.batch}: more images, or --batch {n} or less")
    return images, valid


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
    kept = [r for r in csv.DictReader(open(log_path)) if int(r["step"]) <= run.start_step] \
        if run.main and run.start_step and log_path.exists() else []
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
