"""The run folder (--out) and what a run goes on from, checked before training starts.

May training write in --out (`run_folder_problem`: a run there is never replaced silently);
does the run that --resume continues agree with the settings given (`resumed`), and does
init='s checkpoint (`check_init`)? All of it only reads, on every rank, so a bad folder or
config stops each process before they wait for each other (loop.train).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from ..model import CheckpointError, ModelConfig, read_checkpoint, checkpoint_path
from ..notes import note
from . import distributed
from .config import TrainConfig, TrainingError, config_from_dict, config_to_dict


RUN_FILES = ("last.safetensors", "best.safetensors", "log.csv", "curve.png")


def run_folder_problem(cfg: TrainConfig, resume: bool, overwrite: bool) -> str | None:
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


def resumed(cfg: TrainConfig, resume: bool, given: Collection[str] | None = None
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
    # A run goes on to its own steps, unless steps are given (an API caller's, given None:
    # cfg's, the default being a setting like any other).
    steps = saved.steps if given is not None and "steps" not in given else cfg.steps
    done = state.get("step", 0)
    if steps < done:  # would train nothing and say nothing
        raise TrainingError(f"--steps {steps:,} is below the {done:,} steps {cfg.out} has "
                            f"trained: give more to train it further, or leave --steps out")
    # Another --data is allowed (the same images moved, or on another machine), but where the
    # run's own folder is still here it is other images: said, since best.safetensors then
    # compares valid PSNRs of two sets.
    if (cfg.data and Path(saved.data).exists() and distributed.rank() == 0
            and Path(cfg.data).resolve() != Path(saved.data).resolve()):
        note(f"--data {cfg.data} is not the run's own ({saved.data}): it goes on with these "
             f"images, and validates on them")
    # Keep the run's own settings, but let the user extend `steps` or change the device.
    saved.steps, saved.device, saved.out = steps, cfg.device, cfg.out
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


def init_path(cfg: TrainConfig) -> Path:
    """The checkpoint a new run starts from (`init=`; "shipped": the shipped model's)."""
    return checkpoint_path(None if cfg.init == "shipped" else cfg.init)


def check_init(cfg: TrainConfig, given: Collection[str] | None = None) -> None:
    """A new run from `cfg.init` trains that checkpoint's model as it is: a model setting
    `given` (see `train`) that differs from it is refused, not silently dropped; before the
    data is decoded (minutes, the first time), not after."""
    state = read_checkpoint(init_path(cfg))[1]
    clashes = _differing(cfg.model.to_dict(), ModelConfig.from_dict(state["model_config"])
                         .to_dict(), TrainConfig().model.to_dict(), "its", "model.", given)
    if clashes:
        raise TrainingError(f"init={cfg.init} trains its own model as it is, and these "
                            f"settings differ from it: {', '.join(clashes)}")
