"""impaint: implicit image inpainting. Mask convention: 1 = known pixel, 0 = missing.

The package, lowest layer first (a module imports only its own layer and those below; see
tests/test_layout.py): plots, progress, precision, notes and outputs (figures, progress
bars, where bf16 pays, warnings on the input, checks of what a command writes; leaves),
model/ (the network and its checkpoints), data/ (data sets, mask generators, crops),
train/, inference/ (files in and out, the demo), serve/ (the web page and its API),
evaluation/, studies/ (ablation, reproduction, resolution, scales, bench), and cli.py on
top, which nothing imports. `impaint.masks` and `impaint.checkpoint` are the old paths of
`impaint.data.masks` and `impaint.model.checkpoint`, kept working.
"""

import lazy_loader

# The public names, each imported on first use (lazy_loader, scikit-image's way): `import
# impaint` and the CLI's `impaint --help` load no torch until something needs it.
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "data.masks": ["MASKS", "make_mask"],
    # Any size: the multi-scale pipeline; Pyramid its settings, auto_averaged the CLI's averaging.
    "inference.pipeline": ["Pyramid", "auto_averaged", "inpaint", "inpaint_with_std"],
    "model": ["ImplicitInpainter", "ModelConfig", "compose", "load_model", "save_checkpoint"],
    "notes": ["ImpaintWarning"],  # notes on the input (an animation's first frame read, ...)
})
__version__ = "0.1.0"
