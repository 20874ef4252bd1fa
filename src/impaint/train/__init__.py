"""Training: the config, the loop, its losses, the optional adversary, and DDP.

Above model/ and data/, below inference/. Determinism is the contract here: the batches of a
step are a pure function of (seed, step) (batches.py), so `--resume` after any stop, even a
killed process, ends with the weights of the uninterrupted run, and any number of DDP
processes trains the one-process model (`--batch` is the global batch). Ctrl-C or SIGTERM
stops a run after a whole step and saves it (`TrainingStopped`).

config.py       TrainConfig, --set overrides, the LR schedule   loop.py   train() in named steps
run_folder.py   may --out be written, do --resume, init= agree  run.py    Run and its set_up
batches.py      seeded batches, drawn ahead on a GPU            losses.py MSE(hole) + TV, NLL
distributed.py  DDP glue (gloo / NCCL), `--nproc`               gan.py    PatchGAN hinge loss
stopping.py     Ctrl-C / SIGTERM: stop after a whole step, saved

`python -m impaint.train ARGS` is `impaint train ARGS` (for torchrun; see __main__.py).
"""

import lazy_loader

# Each name imported on first use (as impaint/__init__.py does): `impaint train --help`
# shows TrainConfig's defaults without loading torch.
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "batches": ["epoch_order", "make_batch", "model_input", "prefetched", "valid_set"],
    "config": ["TrainConfig", "TrainingError", "apply_overrides", "check_config",
               "config_from_dict", "config_to_dict", "lr_at"],
    "loop": ["LOG_FIELDS", "pick_device", "train", "valid_psnr_hole"],
    "run_folder": ["run_steps"],
    "stopping": ["TrainingStopped"],
})
