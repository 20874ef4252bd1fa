"""Where the images come from: CelebA in its official layout, any folder of images, a folder
with train/ and valid/ subfolders, or a safetensors file of decoded images; `open_dataset`
picks by what `root` is.

Image files are decoded once into one uint8 tensor (N, 3, size, size), cached on disk
(decoded.py; one file is read by image.py). Every name this module held before that split is still
importable from it.
"""

from __future__ import annotations

import os
from pathlib import Path

from .decoded import (DataError, ImageTensorDataset, decode_all, is_tensor_file, tensor_file,
                      tensor_file_dataset)
# The old path: names that lived here before the split, imported from here by users and code.
from .decoded import (CACHE_VERSION, default_cache_dir, quiet,  # noqa: F401
                      tensor_file_count, warn_skipped)
from .image import WIDE_MODES, load_square, rgb  # noqa: F401

SPLITS = {"train": 0, "valid": 1, "test": 2}
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
CELEBA_WIDTH = 178  # the original aligned CelebA width; the default crop is 140 of it


def celeba_files(root: str | Path, split: str) -> list[Path]:
    """Files of `split` listed in list_eval_partition.txt that exist under img_align_celeba/."""
    root = Path(root)
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose from {sorted(SPLITS)}")
    if not root.is_dir():
        raise DataError(f"CelebA root not found: {root}")
    partition = root / "list_eval_partition.txt"
    if not partition.is_file():
        raise DataError(f"missing partition file: {partition}")
    image_dir = root / "img_align_celeba"
    present = set(os.listdir(image_dir)) if image_dir.is_dir() else set()
    files = []
    for line in partition.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] == str(SPLITS[split]) and parts[0] in present:
            files.append(image_dir / parts[0])
    if not files:
        raise DataError(f"no images of split {split!r} found under {image_dir}")
    return files


def folder_files(root: str | Path) -> list[Path]:
    root = Path(root)
    if root.is_file():  # one picture, or a data file of another kind
        raise DataError(f"{root} is a file: give a folder of images, a CelebA root or a "
                        f".safetensors set of decoded images")
    if not root.is_dir():
        raise DataError(f"image folder not found: {root}")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise DataError(f"no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) found under {root}")
    return files


class CelebA(ImageTensorDataset):
    def __init__(self, root: str | Path, split: str = "train", size: int = 32,
                 crop: int = 140, cache_dir: Path | None = None, limit: int | None = None):
        # `limit`: the split's first images, the same whatever the limit (decode_all).
        files = celeba_files(root, split)
        super().__init__(decode_all(files, size, crop / CELEBA_WIDTH, f"celeba {split}",
                                    cache_dir, limit=limit))


class ImageFolder(ImageTensorDataset):
    """Any folder of images, searched recursively; each centre-cropped to a square."""

    def __init__(self, root: str | Path, size: int = 32, cache_dir: Path | None = None,
                 limit: int | None = None):
        super().__init__(decode_all(folder_files(root), size, None, "folder", cache_dir,
                                    limit=limit))


def is_celeba(root: str | Path) -> bool:
    """Whether `root` is CelebA in its official layout: its splits listed in a partition file
    (read first, whatever subfolders it has)."""
    return (Path(root) / "list_eval_partition.txt").exists()


def has_split_folders(root: str | Path) -> bool:
    """Whether the folder `root` keeps its splits in train/ and valid/ subfolders (the photos'
    layout, BSDS500's): read whole, its valid images would be trained on."""
    root = Path(root)
    return (root / "train").is_dir() and (root / "valid").is_dir()


def has_splits(root: str | Path) -> bool:
    """Whether `root` names its own train/valid splits (else a folder's tenth is held out)."""
    root = Path(root)
    if root.suffix == ".safetensors":
        with tensor_file(root) as f:
            return "valid" in f.keys()
    return is_celeba(root) or has_split_folders(root)


def _split_folder(root: Path, split: str) -> Path:
    """The `split` subfolder of a folder with split subfolders, or a one-line error."""
    if not (root / split).is_dir():
        raise DataError(f"{root} has no {split}/ folder (its splits: "
                        f"{', '.join(s for s in SPLITS if (root / s).is_dir())})")
    return root / split


def split_files(root: str | Path, split: str) -> list[Path]:
    """The image files of `split` in a CelebA root or a folder with split subfolders."""
    root = Path(root)
    if is_celeba(root) or not has_split_folders(root):
        return celeba_files(root, split)  # CelebA's list first, as open_dataset reads it
    return folder_files(_split_folder(root, split))


def open_dataset(root: str | Path, split: str = "train", size: int = 32,
                 cache_dir: Path | None = None, limit: int | None = None) -> ImageTensorDataset:
    """CelebA if `root` has a partition file, decoded tensors if it is a .safetensors file,
    the `split` subfolder of a folder with train/ and valid/ ones, else an image folder."""
    if is_tensor_file(root):
        return tensor_file_dataset(root, split, size, limit)
    if is_celeba(root):
        return CelebA(root, split, size, cache_dir=cache_dir, limit=limit)
    if has_split_folders(root):  # a split with no folder: said in one line
        return ImageFolder(_split_folder(Path(root), split), size, cache_dir=cache_dir,
                           limit=limit)
    return ImageFolder(root, size, cache_dir=cache_dir, limit=limit)
