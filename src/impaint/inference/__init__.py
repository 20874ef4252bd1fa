"""Using a trained model: image and mask files in, filled images out, and the demo.

Above train/ (it needs a checkpoint, never the training loop), below evaluation/. Mask files
follow the common convention, white = hole (`invert_mask` reads white = known); inside the
library 1 = known. The demo's comparison with OpenCV Telea uses two leaf modules of
evaluation/ (baselines, metrics), which import nothing of impaint.

files.py  read / check / write images and masks, inpaint_paths (`impaint inpaint`)
demo.py   the shipped model on bundled faces (`impaint demo`)
"""

from .files import InputError, inpaint_paths, read_image, read_mask, write_image

__all__ = ["InputError", "inpaint_paths", "read_image", "read_mask", "write_image"]
