"""Using a trained model: image and mask files in, filled images out, and the demo.

Above train/ (it needs a checkpoint, never the training loop), below evaluation/. Mask files
follow the common convention, white = hole (`invert_mask` reads white = known); inside the
library 1 = known. The demo's comparison with OpenCV Telea uses two leaf modules of
evaluation/ (baselines, metrics), which import nothing of impaint.

pipeline.py     any size: the multi-scale pipeline around a single-scale fill (entry points)
pyramid.py      its settings (Pyramid) and a single-scale fill's contract (SingleScale, Traits)
levels.py       its levels: how many the holes need, pulled down, carried up, their detail
refine.py       a finer level: planned, then its band re-filled by the model, in tiles
averaged.py     averaged fills: test-time flips, re-fill rounds, auto_averaged (the CLI's)
image_files.py  read and write image and mask files: the one import path for the three below
image_read.py   decode image and mask files (formats, EXIF orientation, 16 bits, HEIC)
image_original.py  what an output keeps of its input file (alpha, grey, bits, profile, EXIF)
image_write.py  write and encode images back of their input's kind
fill.py         inpaint_image: one image tensor through the pipeline, its checks first
files.py        inpaint_paths (`impaint inpaint`): a file or a folder through the pipeline
onnx_export.py  export to ONNX: the graph, export_onnx, the cache of exports
onnx_backend.py the backends that run a fill: PyTorch, onnxruntime, OpenVINO (load_backend)
options.py      the options a user picks by name (flips, backends), torch-free
quantize.py     int8 graphs for OpenVINO (NNCF)
demo.py         the shipped model on bundled faces (`impaint demo`)
"""

import lazy_loader

# Each name imported on first use (as impaint/__init__.py does): the CLI's help lists the
# options (options.py) without loading torch.
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "files": ["inpaint_paths"],
    "image_files": ["InputError", "read_image", "read_mask", "write_image"],
})
