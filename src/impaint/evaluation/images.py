"""Which images `evaluate` and `scales` score: a CelebA split or a folder, at their own size
(--native) or resized, less those a checkpoint trained on; and the refusals of options that
would score the wrong ones (--limit, --native with --size, an -o inside the images read)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data.decoded import is_tensor_file

MIN_SIZE = 16  # px: the smallest evaluation images (the masks' brush and box sizes round off)
# px: the largest. The images are held decoded (N x 3 x S² bytes: 2,000 at 1024 px, 6.3 GB);
# larger ones are scored at their own size (--native), each as it is read.
MAX_SIZE = 1024


def native_images(root, split: str, folder: bool, limit: int | None, skip: int = 0):
    """The first `limit` images of a CelebA split or a folder (after its first `skip`), as
    they are on disk (no crop, no resize) -> ImageTensorDataset (N, 3, H, W); they must all
    have one size."""
    from PIL import Image, ImageOps

    from ..data import ImageTensorDataset, has_splits
    from ..data.datasets import DataError, folder_files, split_files
    from ..data.image import rgb

    files = (split_files(root, split) if not folder and has_splits(root) else
             folder_files(root))[skip:][:limit]
    arrays = []
    for f in files:
        with Image.open(f) as im:
            try:
                arrays.append(np.asarray(rgb(ImageOps.exif_transpose(im)), np.uint8))  # upright
            except ValueError as e:  # a float image: said with its name
                raise DataError(f"{f}: {e}") from None
        if arrays[-1].shape != arrays[0].shape:
            raise DataError(f"--native needs images of one size: {files[0].name} is "
                            f"{arrays[0].shape[1]}x{arrays[0].shape[0]}, {f.name} "
                            f"{arrays[-1].shape[1]}x{arrays[-1].shape[0]} (use --size)")
    if arrays and min(arrays[0].shape[:2]) < MIN_SIZE:  # as --size: masks round off below
        raise DataError(f"--native: the images are {arrays[0].shape[1]}x{arrays[0].shape[0]}, "
                        f"under {MIN_SIZE} px a side (use --size {MIN_SIZE} or more)")
    return ImageTensorDataset(torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous())


def check_out_outside(out, root, split: str, folder: bool) -> None:
    """-o inside the folder whose images are read (all of it, subfolders too) would have its
    grids and masks scored as images by the next run, and move a checkpoint's held-out part."""
    from ..data.datasets import has_split_folders, is_celeba

    root = Path(root)
    if is_tensor_file(root) or not root.is_dir() or not folder and is_celeba(root):  # its list
        return
    read = root / split if not folder and has_split_folders(root) else root
    if Path(out).resolve().is_relative_to(read.resolve()):
        raise ValueError(f"-o {out} lies inside {read}, whose images are read: the next run "
                         f"would score its grids as images; choose an -o outside it")


def check_native_size(native: bool, size: int | None) -> None:
    """--native and --size: the images at their own size, or resized to one; not both."""
    if native and size is not None:
        raise ValueError(f"--native scores the images at their own size: leave out --size "
                         f"{size}")


def check_limit(limit: int | None) -> None:
    """--limit, as every command takes it: a number of images, 0 (or None) for all."""
    if limit is not None and limit < 0:
        raise ValueError(f"--limit must be 0 (all) or a number of images, got {limit}")


def check_size(size: int | None, native: bool = False) -> None:
    """--size (None: not given), before any work: the images are decoded at it."""
    if size is not None and not native and not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"--size must be from {MIN_SIZE} to {MAX_SIZE} px, got {size:,} "
                         f"(--native scores images at their own size)")


def evaluation_images(root, split: str, size: int, folder: bool, native: bool,
                      limit: int | None, skip: int = 0):
    """The images `evaluate` and `scales` score: at their own size (`native`), else
    square-cropped and resized to `size`; a CelebA split, or a folder (`folder`, or no
    partition file), less its first `skip` images (those a checkpoint trained on)."""
    from ..data import ImageFolder, ImageTensorDataset, has_splits, open_dataset

    check_limit(limit)
    limit = limit or None  # 0: all, as every command's --limit
    check_size(size, native)
    if split != "valid" and (folder or not has_splits(root)):  # else silently the whole folder
        raise ValueError(f"--split {split} picks a split of CelebA (or of a folder with train/ "
                         f"and valid/ subfolders); {root} is read as a plain folder, all of it")
    if native:
        return native_images(root, split, folder, limit, skip)
    if skip:  # a plain set: decoded whole (as train decodes it), then the held-out part
        whole = (open_dataset(root, "train", size) if is_tensor_file(root)  # what train read
                 else ImageFolder(root, size))
        return ImageTensorDataset(whole.images[skip:][:limit])
    return (ImageFolder(root, size, limit=limit) if folder else
            open_dataset(root, split, size, limit=limit))


def held_out_start(root, limit: int | None = None, valid_images: int = 500) -> int:
    """Where the part of the plain set `root` (a folder, or a file of decoded images without
    splits) that `impaint train` holds out starts: it trains on all but the last tenth (at
    most `valid_images`) of the first `limit` images. A folder's files, not its decoded
    images: an unreadable file (train skips it) makes this at most a little larger, never
    smaller, so no training image is scored."""
    from ..data.datasets import folder_files
    from ..data.decoded import tensor_file_count

    total = tensor_file_count(root, "train") if is_tensor_file(root) else len(folder_files(root))
    n = min(limit or total, total)
    return n - max(1, min(valid_images, n // 10))


def scored_images(command: str, root, split: str, size: int, folder: bool, native: bool,
                  limit: int | None, models: dict):
    """(`evaluation_images`, less the images any of `models` trained on (saying so), how
    many of the folder's first images were left out for that)."""
    skip, trained = trained_on(models, root, folder)
    if skip:
        print(f"impaint {command}: {', '.join(trained)} trained on the first {skip:,} images "
              f"of {root}: scoring only the ones held out of training, after them")
    return evaluation_images(root, split, size, folder, native, limit, skip), skip


def trained_on(models: dict, root, folder: bool = False) -> tuple[int, list[str]]:
    """(how many of the first images of the plain set `root` (a folder, a file of decoded
    images) the checkpoints trained on, their names). `impaint train` on one trains on all
    but its last tenth (at most `valid_images`) of its first `limit` images; scoring those
    would be scoring training images. A set with splits (CelebA, train/ and valid/
    subfolders) trained on is scored on another split, but read whole (`folder`) it would
    hold the training images: refused. Graphs carry no training record and count as trained
    elsewhere."""
    from ..data import has_splits

    trained = {name: cfg for name, model in models.items()
               if (cfg := (getattr(model, "checkpoint_state", None) or {}).get("train_config"))
               and cfg.get("data") and Path(cfg["data"]).resolve() == Path(root).resolve()}
    if not trained or not (Path(root).is_dir() or is_tensor_file(root)):
        return 0, []
    if has_splits(root):
        if folder:
            raise ValueError(f"--folder reads {root} whole, its training images too, which "
                             f"{', '.join(trained)} trained on: leave out --folder to score "
                             f"its held-out split")
        return 0, []
    skip = max(held_out_start(root, cfg.get("limit"), cfg.get("valid_images", 500))
               for cfg in trained.values())
    return skip, list(trained)
