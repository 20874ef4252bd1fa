"""One process's training run: `Run`, what the training steps update, and `set_up`, which
builds it (data, model, optimiser, DDP wrapper, the optional adversary), from the checkpoint
when resuming.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..data import ImageTensorDataset, has_splits, open_dataset
from ..model import (ModelConfig, build_model, count_parameters, load_optimizer_state,
                     read_checkpoint)
from ..precision import native_bf16
from . import distributed
from .batches import valid_set
from .config import TrainConfig, TrainingError, config_to_dict
from .gan import Adversary
from .run_folder import init_path


@dataclass
class Run:
    """One process's training run: what `set_up` builds and the steps update."""

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
    amp: bool = False  # bf16 autocast: cfg.amp, where the device has native bf16 (set_up)
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


def set_up(cfg: TrainConfig, device: torch.device, tensors: dict[str, torch.Tensor],
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
        budget = f" or {cfg.time_budget:,.0f} s" if cfg.time_budget > 0 else ""
        print(f"impaint train: {images.shape[0]} train images at {cfg.size}px, "
              f"{count_parameters(model):,} parameters, device {device}, batch {cfg.batch}"
              f"{ranks}, steps {start_step}->{cfg.steps}{budget}, {_precision(run)}")
    return run


def _precision(run: Run) -> str:
    if run.amp:
        return "bf16"
    if run.cfg.amp:
        return f"fp32 (this {'GPU' if run.device.type == 'cuda' else 'CPU'} has no native bf16)"
    return "fp32"


def _initial_model(cfg: TrainConfig, start_step: int) -> torch.nn.Module:
    """A fresh model, or with `cfg.init` (a new run only, `check_init`ed) one with that
    checkpoint's weights; its model config replaces `cfg.model`, so the run's checkpoints
    describe what they hold."""
    if not cfg.init or start_step:
        return build_model(cfg.model)
    tensors, state = read_checkpoint(init_path(cfg))
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
