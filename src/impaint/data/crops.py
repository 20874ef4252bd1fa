"""Random-scale, random-position crops: training data for images of any size.

A model trained on centred 32-px faces has seen one scale of one kind of picture. The
multi-scale pipeline (`pipeline.py`) runs the model on views of a photo from its native pixels
up to a whole-image thumbnail, so its training set holds the same range: from each image, crops
whose side is log-uniform between `size` (native pixels) and the whole short side (a thumbnail),
anywhere in the image, each resized to `size` x `size` with antialiasing. Faces come out
unaligned and at every zoom; photos give texture at every scale.

A scale can be favoured: `max_zoom` caps the side at `max_zoom` x `size` (close-ups near native
resolution, what the pipeline's finest level and scattered holes see), `min_side` keeps only
images that large (CelebA's full-size images, not its half-size ones, whose pixels are already
twice as coarse), and `include` mixes an earlier set in, so one file holds both.

The crops are drawn once into a safetensors file of uint8 (N, 3, size, size) tensors, one per
split (`train`, `valid`): `impaint train --data crops.safetensors` reads it like any decoded
data set, and the training loop adds its flips and masks.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from safetensors import safe_open

from ..model.checkpoint import write_safetensors
from ..progress import bar as progress_bar
from .datasets import celeba_files, folder_files, has_split_folders
from .decoded import DataError, tensor_file_dataset, warn_skipped
from .image import rgb


def random_crops(image: Image.Image, n: int, size: int, rng: np.random.Generator,
                 max_zoom: float | None = None) -> np.ndarray:
    """`n` crops of `image`, side log-uniform in [size, short side] (at most `max_zoom` x size),
    resized. -> (n, size, size, 3)"""
    w, h = image.size
    short = min(w, h)
    top_side = short if max_zoom is None else min(short, max_zoom * size)
    lo, hi = math.log(min(size, short)), math.log(max(min(size, short), top_side))
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        side = min(math.exp(rng.uniform(lo, hi)), short)  # exp(log(n)) may exceed n
        left, top = rng.uniform(0, w - side), rng.uniform(0, h - side)
        # PIL widens its filter when shrinking: antialiased, as data.load_square.
        crop = image.resize((size, size), Image.Resampling.LANCZOS,
                            box=(left, top, left + side, top + side))
        out[i] = np.asarray(crop, np.uint8)
    return out


def _crops_of_file(job) -> np.ndarray | None:
    path, n, size, seed, max_zoom, min_side = job
    try:
        with Image.open(path) as im:
            if min(im.size) < min_side:
                return np.empty((0, size, size, 3), np.uint8)  # too small: skipped, not failed
            return random_crops(rgb(ImageOps.exif_transpose(im)), n, size,  # upright
                                np.random.default_rng(seed), max_zoom)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None  # unreadable (Pillow raises ValueError for some broken files): skipped


def crops_of(files: list[Path], per_image: int, size: int, seed: int, desc: str,
             workers: int | None = None, max_zoom: float | None = None,
             min_side: int = 0) -> torch.Tensor:
    """`per_image` crops of every readable file of at least `min_side` px a side -> (N, 3,
    size, size) uint8; a pure function of its arguments: each file draws from its own seed,
    in any process."""
    jobs = [(f, per_image, size, seed * 1_000_003 + i, max_zoom, min_side)
            for i, f in enumerate(files)]
    workers = workers or min(os.cpu_count() or 1, 4)
    with ProcessPoolExecutor(workers) as pool:
        parts = list(progress_bar(pool.map(_crops_of_file, jobs, chunksize=32),
                                  total=len(jobs), desc=f"cropping {desc}"))
    kept = [p for p in parts if p is not None]
    if not kept:
        raise DataError(f"none of the {len(files)} image(s) for {desc} could be read")
    unread = [f for f, p in zip(files, parts) if p is None]
    warn_skipped(len(unread), unread[0].name if unread else "")
    if not sum(len(p) for p in kept):
        raise DataError(f"none of the {len(files)} image(s) for {desc} is {min_side} px a side")
    return torch.from_numpy(np.concatenate(kept)).permute(0, 3, 1, 2).contiguous()


def build_crop_set(out: str | Path, size: int = 32, celeba: str | Path | None = None,
                   photos: str | Path | None = None, face_crops: int = 2, photo_crops: int = 64,
                   seed: int = 0, max_zoom: float | None = None, min_side: int = 0,
                   include: list[str | Path] = (), overwrite: bool = False) -> dict[str, int]:
    """Write out (.safetensors) with shuffled `train` and `valid` crops of CelebA's train/valid
    splits (`face_crops` per image) and of photos/train, photos/valid (`photo_crops` per
    image; a folder without those subfolders goes to train), plus every crop of the `include`
    sets. An existing `out` is replaced only with `overwrite`. -> images per split."""
    if Path(out).suffix != ".safetensors":  # what train reads as a crop set, by its name
        raise DataError(f"-o {out}: a crop set is a .safetensors file (e.g. "
                        f"{Path(out).with_suffix('.safetensors').name})")
    if seed < 0:  # numpy's generators take none
        raise DataError(f"--seed must be 0 or more, got {seed}")
    if Path(out).exists() and not overwrite:  # an hour of decoding, gone without a word
        raise DataError(f"{out} exists: give --overwrite to replace it, or another -o")
    if celeba is None and photos is None:
        raise DataError("nothing to crop: give --celeba and/or --photos")
    if not 8 <= size <= 1024 or face_crops < 1 or photo_crops < 1:  # 1024: as train's --size
        raise DataError("crop size must be from 8 to 1024 px, and crops per image at least 1")
    if max_zoom is not None and not (math.isfinite(max_zoom) and max_zoom >= 1):
        raise DataError(f"--max-zoom must be at least 1 (a crop is at least {size} px), "
                        f"got {max_zoom}")
    if len({Path(p).resolve() for p in include}) < len(include):  # its crops twice over
        raise DataError("--include names the same crop set twice")
    earlier = [_read_crop_set(p, size) for p in include]  # before any work: fail fast
    # Every source's files listed before any is cropped: a mistyped --photos was found only
    # after CelebA's train split had been (minutes).
    faces = {split: celeba_files(celeba, split) for split in ("train", "valid")} \
        if celeba is not None else {}
    # photos/train and photos/valid if it has both, else the whole folder is train (as
    # `impaint train` reads a folder: one with train/ alone has no valid split to keep out).
    pictures = {}
    if photos is not None and has_split_folders(photos):
        pictures = {split: folder_files(Path(photos) / split) for split in ("train", "valid")}
    elif photos is not None:
        pictures = {"train": folder_files(photos)}
    splits: dict[str, list[torch.Tensor]] = {"train": [], "valid": []}
    scale = {"max_zoom": max_zoom, "min_side": min_side}
    for split in splits:
        splits[split] += [e[split] for e in earlier if split in e]
        if split in faces:
            splits[split].append(crops_of(faces[split], face_crops, size,
                                          seed + 17 * (split == "valid"), f"celeba {split}",
                                          **scale))
        if split in pictures:
            splits[split].append(crops_of(pictures[split], photo_crops, size,
                                          seed + 1 + 17 * (split == "valid"),
                                          f"photos {split}", **scale))
    tensors = {}
    for split, parts in splits.items():
        if parts:
            images = torch.cat(parts)
            # Shuffled once, so the valid subset the training curve takes (its first 500)
            # mixes faces and photos.
            order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
            tensors[split] = images[order].contiguous()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_safetensors(Path(out), tensors)
    return {k: len(v) for k, v in tensors.items()}


def _read_crop_set(path: str | Path, size: int) -> dict[str, torch.Tensor]:
    """An earlier crop set to include: its train and valid crops, which must be of `size` px."""
    if not Path(path).is_file():
        raise DataError(f"crop set to include not found: {path}")
    try:
        with safe_open(path, "pt") as f:
            splits = [k for k in f.keys() if k in ("train", "valid")]
            shape = f.get_slice("train").get_shape() if "train" in splits else None
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise DataError(f"{path} is not a crop set (.safetensors): {e}") from None
    if "train" not in splits:
        raise DataError(f"{path} holds no train crops: not a crop set")
    if len(shape) == 4 and shape[-1] != size:
        raise DataError(f"{path} holds {shape[-1]}-px crops, and this set is {size} px: give "
                        f"--size {shape[-1]}, or include sets of {size} px")
    return {split: tensor_file_dataset(path, split, size).images for split in splits}
