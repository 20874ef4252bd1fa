"""What the model learns from: image data sets and the mask generators.

Above model/ (the decode cache is written with model.checkpoint's atomic safetensors writer),
below train/. Images are decoded once to uint8 (N, 3, size, size) tensors; masks are float
(H, W) tensors, 1 = known, 0 = missing, drawn by seeded callables ``gen(h, w, torch.Generator)``.

datasets.py  where images come from: CelebA (official layout), image folders, split subfolders
decoded.py   decoded uint8 tensors: the decode cache, .safetensors image files, the Dataset
image.py     one image file -> 8-bit RGB, a centred square
masks.py     random / box / strokes / full / mixture generators
crops.py     random-scale, random-position crops: training data for any size (`impaint crops`)

`impaint.data` keeps the names it had as one module (``from impaint.data import
open_dataset``); the mask generators are ``impaint.data.masks`` (old path ``impaint.masks``).
"""

from .datasets import (CELEBA_WIDTH, IMAGE_EXTENSIONS, SPLITS, CelebA, ImageFolder, celeba_files,
                       folder_files, has_split_folders, has_splits, open_dataset)
from .decoded import (DataError, ImageTensorDataset, decode_all, default_cache_dir,
                      tensor_file_dataset)
from .image import load_square

__all__ = ["CELEBA_WIDTH", "IMAGE_EXTENSIONS", "SPLITS", "CelebA", "DataError", "ImageFolder",
           "ImageTensorDataset", "celeba_files", "decode_all", "default_cache_dir",
           "folder_files", "has_split_folders", "has_splits", "load_square", "open_dataset",
           "tensor_file_dataset"]
