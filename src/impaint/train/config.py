"""The training configuration: a dataclass with a comment on each field, saved inside every
checkpoint (so `--resume` and `load_model` need nothing else), and `key=value` overrides.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from ..model.config import ModelConfig


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
    # Linear LR warm-up steps, then cosine decay to lr * min_lr_ratio; at most a tenth of
    # `steps`, so a short run (300 steps) decays too instead of ending at the peak.
    warmup: int = 300
    min_lr_ratio: float = 0.02  # final LR as a fraction of the peak
    alpha: float = 1.0  # weight of the MSE on missing pixels
    beta: float = 0.01  # weight of the total variation of the composed image
    nll_beta: float = 0.0  # > 0: β-NLL for a probabilistic model (losses.gaussian_nll_hole)
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
    # A checkpoint to start from (fine-tuning): its weights and model config, not its optimiser
    # or step count. "shipped" = the default shipped model; "celeba32" / "general" by name.
    init: str = ""
    valid_every: int = 500  # steps between valid evaluations and checkpoints
    valid_images: int = 500  # valid images used for the curve (fixed masks, seeded)
    limit: int = 0  # use at most this many training images (0 = all); for quick tries
    device: str = "auto"  # "auto" (CUDA when present, else CPU), "cpu", "cuda"
    # bf16 autocast where the device has native bf16 (AVX-512 BF16 / AMX CPUs, Ampere+ GPUs:
    # ~2x faster); fp32 elsewhere, where emulated bf16 is far slower (impaint.precision)
    amp: bool = True
    channels_last: bool = True  # NHWC memory layout, faster convolutions with oneDNN
    compile: bool = False  # torch.compile: measured *slower* for training on our 2-core CPU
    # Trained probabilistic by default: at equal compute it matched or beat MSE training on
    # valid PSNR (see docs/uncertainty.md), and every fill comes with its σ.
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
    """The config as JSON takes it (into a checkpoint): a path given as a Path, as a str."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()}


def config_from_dict(d: dict) -> TrainConfig:
    d = dict(d)
    model = ModelConfig.from_dict(d.pop("model"))
    known = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: tuple(v) if isinstance(v, list) else v
                          for k, v in d.items() if k in known}, model=model)


def lr_at(cfg: TrainConfig, step: int, elapsed: float = 0.0) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay over the rest of the run: of the
    steps, or with a `time_budget` of whichever runs out first, its seconds or the steps (a
    fast GPU can reach the step cap long before the clock; its LR must have decayed too).
    The warm-up is at most a tenth of the run: of its steps, and under a budget of its
    seconds too (a slow CPU on a few minutes' budget otherwise ended still warming up)."""
    warmup = min(cfg.warmup, max(1, cfg.steps // 10))
    warmed = (step + 1) / warmup if warmup else 1.0  # warmup=0: none
    if cfg.time_budget > 0:
        warmed = max(warmed, elapsed / (cfg.time_budget / 10))
    if warmed < 1:
        return cfg.lr * warmed
    t = max(0, step - warmup) / max(1, cfg.steps - warmup)  # 0 on the warm-up's last step
    if cfg.time_budget > 0:
        t = min(1.0, max(t, elapsed / cfg.time_budget))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


def check_types(cfg: TrainConfig) -> None:
    """A one-line TypeError for a setting of another type than its field's, as code may give
    (`lr="1e-3"`, `model={"width": 16}`), rather than a deep error minutes into the run."""
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"the config must be a TrainConfig (TrainConfig(data=..., out=...)), "
                        f"got {type(cfg).__name__}")
    for f in fields(TrainConfig):
        value = getattr(cfg, f.name)
        default = f.default_factory() if f.name == "model" else f.default
        kinds = {ModelConfig: (ModelConfig,), bool: (bool,), float: (int, float), int: (int,),
                 str: (str, Path), tuple: (tuple, list)}[type(default)]
        if isinstance(value, str) and tuple in kinds:  # else read letter by letter
            raise TypeError(f"{f.name} is a list of names, e.g. ({value!r},), got the string "
                            f"{value!r}")
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            want = ("ModelConfig (ModelConfig(width=...); --set model.width=...)"
                    if f.name == "model" else " or ".join(k.__name__ for k in kinds))
            raise TypeError(f"{f.name} must be of type {want}, got {type(value).__name__} "
                            f"{value!r}")


def normalised(cfg: TrainConfig) -> TrainConfig:
    """A copy of `cfg` with its lists as tuples (its model's too), as a checkpoint's config
    reads back: `mask_families=["box"]` given in code is then the run's own on --resume."""
    def tuples(obj) -> dict:
        return {f.name: tuple(getattr(obj, f.name)) for f in fields(obj)
                if isinstance(getattr(obj, f.name), list)}
    return replace(cfg, model=replace(cfg.model, **tuples(cfg.model)), **tuples(cfg))


def check_config(cfg: TrainConfig, world: int = 1) -> None:
    """Raise on a config that cannot train (in `world` processes), before any work."""
    check_types(cfg)
    if not cfg.data:
        raise TrainingError("no training data: pass --data ROOT")
    for family in cfg.mask_families:
        if family not in {"random", "box", "strokes"}:
            raise ValueError(f"unknown mask family {family!r} in mask_families; "
                             "choose from box, random, strokes")
    from ..data.masks import MixtureMask  # here: `impaint train --help` loads no torch

    MixtureMask(cfg.p_min, cfg.p_max, cfg.mask_families, cfg.full_prob)  # p_min <= p_max...
    if not (isinstance(cfg.render_scale, int) and cfg.render_scale >= 1):
        raise ValueError(f"render_scale must be a positive integer, got {cfg.render_scale!r}")
    if cfg.mse_on not in {"hole", "all"}:
        raise ValueError(f"mse_on must be 'hole' or 'all', got {cfg.mse_on!r}")
    for key in ("steps", "batch", "size", "valid_every", "valid_images"):
        if not isinstance(getattr(cfg, key), int) or getattr(cfg, key) < 1:  # "100": from code
            raise ValueError(f"{key} must be a positive integer, got {getattr(cfg, key)}")
    # 8: the mask generators' smallest box and brush; 1024: the images are held decoded
    # (N x 3 x size² bytes: 42,000 at 1024 px, 132 GB)
    if not 8 <= cfg.size <= 1024:
        raise ValueError(f"size must be from 8 to 1024 px, got {cfg.size:,}")
    if not cfg.lr >= 0:  # 0 is a run that only evaluates (tests use it)
        raise ValueError(f"lr must be 0 or more, got {cfg.lr}")
    for key in ("limit", "time_budget"):  # 0 = all images, no time budget
        if not getattr(cfg, key) >= 0:
            raise ValueError(f"{key} must be 0 (off) or positive, got {getattr(cfg, key)}")
    # Weights of the loss and the optimiser's knobs: a negative one trains against its aim (or,
    # for adv_weight, silently without the adversary), a NaN one reads as "loss became nan".
    for key in ("weight_decay", "warmup", "alpha", "beta", "nll_beta", "kl_weight",
                "adv_weight"):
        if not (math.isfinite(getattr(cfg, key)) and getattr(cfg, key) >= 0):
            raise ValueError(f"{key} must be 0 or more, got {getattr(cfg, key)}")
    if not 0 <= cfg.seed < 2 ** 32:  # a step's generator is seeded with seed x 1,000,003 + step
        raise ValueError(f"seed must be from 0 to {2 ** 32 - 1}, got {cfg.seed}")
    if not 0 <= cfg.min_lr_ratio <= 1:
        raise ValueError(f"min_lr_ratio is the final LR as a fraction of the peak: from 0 to 1, "
                         f"got {cfg.min_lr_ratio}")
    model = cfg.model
    if model.channels != 3:  # every image is decoded to RGB
        raise ValueError(f"model.channels must be 3 (training images are RGB), got "
                         f"{model.channels}")
    for key in ("channels", "width", "hidden", "depth", "latent_stride"):
        if getattr(model, key) < 1:
            raise ValueError(f"model.{key} must be a positive integer, got "
                             f"{getattr(model, key)}")
    for key in ("coarse_width", "latent_dim"):  # 0 = as width / no stochastic latent
        if getattr(model, key) < 0:
            raise ValueError(f"model.{key} must be 0 or more, got {getattr(model, key)}")
    if model.arch == "unet":  # the gated U-Net baseline has only its plain fill
        extras = [name for name, on in (("probabilistic", model.probabilistic),
                                        ("latent_dim", model.latent_dim > 0),
                                        ("fourier", model.fourier)) if on]
        if extras:
            raise ValueError(f"model.arch=unet (the gated U-Net baseline) has no "
                             f"{', '.join(extras)}: add " + " ".join(
                                 f"--set model.{e}={'0' if e == 'latent_dim' else 'false'}"
                                 for e in extras))
    if min(model.dilations + model.strides, default=0) < 1:
        raise ValueError(f"model.dilations and model.strides must be positive integers, got "
                         f"{model.dilations} and {model.strides}")
    if model.arch == "implicit":
        model.check_strides()
    if cfg.out and Path(cfg.out).exists() and not Path(cfg.out).is_dir():
        raise TrainingError(f"--out {cfg.out} is a file: the run folder must be a folder")
    if cfg.batch % world:
        raise TrainingError(f"batch {cfg.batch} is not a multiple of the {world} processes")
