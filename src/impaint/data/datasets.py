"""Image data sets: CelebA in its official layout, and any folder of images.

Both decode every image once into one uint8 tensor (N, 3, size, size), cached on disk under a
hash of the inputs: decoding ~160k JPEGs costs minutes on 2 cores, reading the cache a second.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from safetensors import safe_open
from safetensors.torch import load_file

from ..model.checkpoint import write_safetensors
from ..progress import bar as progress_bar

SPLITS = {"train": 0, "valid": 1, "test": 2}
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
CELEBA_WIDTH = 178  # the original aligned CelebA width; the default crop is 140 of it
# Bump when preprocessing changes, so old caches are not reused (2: upright by EXIF; 3: float
# images skipped, which were decoded black).
CACHE_VERSION = 3


class DataError(ValueError):
    """A problem with the user's data, reported as one line by the CLI."""


def default_cache_dir() -> Path:
    return Path(os.environ.get("IMPAINT_CACHE", Path.home() / ".cache" / "impaint"))


WIDE_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N"}  # Pillow's 16-bit greyscale modes


def rgb(im: Image.Image) -> Image.Image:
    """Any image Pillow opens -> 8-bit RGB. 16-bit greyscale is scaled to 8 bits first:
    Pillow's own conversion clips it at 255, and a 16-bit scan would read as white. A float
    one is refused (ValueError), as `impaint inpaint` refuses it: Pillow clipped a [0, 1]
    one to black."""
    if im.mode == "F":  # 32-bit float: no range to read it in (0-1 and 0-255 both occur)
        raise ValueError("32-bit floating point; save it with 8 or 16 bits")
    if im.mode in WIDE_MODES:
        im = Image.fromarray((np.asarray(im).clip(0, 65535) / 257).round().astype(np.uint8))
    return im.convert("RGB")


def load_square(path: Path, size: int, crop_fraction: float | None = None) -> np.ndarray:
    """Decode an image, centre-crop a square and resize it to size x size. -> (H, W, 3) uint8.

    `crop_fraction` is the square's side as a fraction of the image width (CelebA: 140/178);
    None takes the largest centred square. Proportional, so half-size copies give the same view.
    """
    return _square(path, size, crop_fraction)[0]


def _square(path: Path, size: int, crop_fraction: float | None) -> tuple[np.ndarray, float]:
    """load_square, and the side in pixels of the square it cropped (below `size`: enlarged)."""
    with Image.open(path) as im:
        im.draft("RGB", (size * 2, size * 2))  # JPEG: let the decoder downscale by 2^k, cheaply
        im = rgb(ImageOps.exif_transpose(im))  # upright, as impaint inpaint reads a photo
        w, h = im.size
        side = min(w, h) if crop_fraction is None else min(w, h, crop_fraction * w)
        left, top = (w - side) / 2, (h - side) / 2
        # PIL's resize filters widen with the scale factor: it antialiases when shrinking.
        im = im.resize((size, size), Image.Resampling.LANCZOS, box=(left, top, left + side,
                                                                    top + side))
        return np.asarray(im, dtype=np.uint8), side


def _load_or_none(args) -> tuple[np.ndarray | None, str]:
    """(the square, or None; why it is None, or "WxH" when it was enlarged, else "")."""
    path, size, crop_fraction = args
    try:
        square, side = _square(path, size, crop_fraction)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        # PIL's "cannot identify image file '/long/path'": the path is said once, before it
        reason = str(e).split(" '")[0] if isinstance(e, UnidentifiedImageError) else str(e)
        return None, reason or type(e).__name__
    return square, (f"{side:.0f} px" if side < size else "")


def _inputs_hash(files: list[Path], **params) -> str:
    h = hashlib.sha256(json.dumps({"v": CACHE_VERSION, **params}, sort_keys=True).encode())
    for f in files:
        st = f.stat()
        h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def quiet() -> bool:
    """IMPAINT_QUIET=1 (`--quiet`, for this process and the ones it starts): no progress bars
    where the data is decoded, deep under the commands that pass no flag down to here."""
    return os.environ.get("IMPAINT_QUIET", "") not in ("", "0")


def warn_skipped(count: int, example: str, enlarged: int = 0, small: str = "",
                 size: int = 0) -> None:
    """Told on every decode, the cached ones too: a run on the cache has the same images."""
    if count:
        print(f"warning: skipped {count} unreadable image(s), e.g. {example}")
    if enlarged:  # a 10-px icon trained on at 32 px is mostly blur
        print(f"warning: {enlarged} image(s) smaller than {size} px were enlarged to it "
              f"(blurry), e.g. {small}")


def _read_cache(cache: Path, size: int) -> torch.Tensor | None:
    """A decode cache's images, its notes warned again (a run on the cache skips the same
    files); None if there is none, or one a full disk or a crash left unreadable (decoded
    again and replaced, rather than a traceback)."""
    if not cache.exists():
        return None
    try:
        with safe_open(cache, "pt") as f:
            meta = f.metadata() or {}
        images = load_file(cache)["images"]
    except Exception:  # safetensors raises its own error types for corrupt files
        return None
    warn_skipped(int(meta.get("skipped", 0)), meta.get("skipped_example", ""),
                 int(meta.get("enlarged", 0)), meta.get("enlarged_example", ""), size)
    return images


def decode_all(files: list[Path], size: int, crop_fraction: float | None, desc: str,
               cache_dir: Path | None = None, workers: int | None = None) -> torch.Tensor:
    """Decode `files` into (N, 3, size, size) uint8, skipping unreadable ones; cached."""
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    key = _inputs_hash(files, size=size, crop=crop_fraction)
    cache = cache_dir / f"{desc.replace(' ', '_')}-{size}px-{key}.safetensors"
    cached = _read_cache(cache, size)
    if cached is not None:
        return cached
    jobs = [(f, size, crop_fraction) for f in files]
    workers = workers or min(os.cpu_count() or 1, 4)
    if len(files) < 256 or workers == 1:
        decoded = [_load_or_none(j) for j in progress_bar(jobs, desc=f"decoding {desc}",
                                                          leave=False, disable=quiet())]
    else:
        with ProcessPoolExecutor(workers) as pool:
            decoded = list(progress_bar(pool.map(_load_or_none, jobs, chunksize=64),
                                        total=len(jobs), desc=f"decoding {desc}",
                                        disable=quiet()))
    skipped = [f"{f} ({why})" for f, (d, why) in zip(files, decoded) if d is None]
    small = [f"{f} ({side})" for f, (d, side) in zip(files, decoded) if d is not None and side]
    notes = {"skipped": str(len(skipped)), "skipped_example": skipped[0] if skipped else "",
             "enlarged": str(len(small)), "enlarged_example": small[0] if small else ""}
    warn_skipped(len(skipped), notes["skipped_example"], len(small), notes["enlarged_example"],
                 size)
    kept = [d for d, _ in decoded if d is not None]
    if not kept:
        raise DataError(f"none of the {len(files)} image(s) for {desc} could be read")
    images = torch.from_numpy(np.stack(kept)).permute(0, 3, 1, 2).contiguous()
    cache_dir.mkdir(parents=True, exist_ok=True)
    # atomic: never a half-written cache
    write_safetensors(cache, {"images": images}, notes)
    return images


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


class ImageTensorDataset(torch.utils.data.Dataset):
    """Decoded images held in memory as uint8; items are float (3, size, size) in [0, 1]."""

    def __init__(self, images: torch.Tensor):
        self.images = images  # (N, 3, S, S) uint8

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i].float() / 255.0


class CelebA(ImageTensorDataset):
    def __init__(self, root: str | Path, split: str = "train", size: int = 32,
                 crop: int = 140, cache_dir: Path | None = None, limit: int | None = None):
        # The whole split is decoded and cached once; `limit` only slices it, so every
        # limit shares one cache file and the first images stay the same.
        files = celeba_files(root, split)
        images = decode_all(files, size, crop / CELEBA_WIDTH, f"celeba {split}", cache_dir)
        super().__init__(images[:limit])


class ImageFolder(ImageTensorDataset):
    """Any folder of images, searched recursively; each centre-cropped to a square."""

    def __init__(self, root: str | Path, size: int = 32, cache_dir: Path | None = None,
                 limit: int | None = None):
        images = decode_all(folder_files(root), size, None, "folder", cache_dir)
        super().__init__(images[:limit])


def is_tensor_file(root: str | Path) -> bool:
    """Whether `root` is a safetensors file of decoded images (a decode cache, a crop set)."""
    return Path(root).suffix == ".safetensors" and Path(root).is_file()


@contextlib.contextmanager
def _tensor_file(path: str | Path):
    """safe_open(path) for reading decoded images; a corrupt file is one DataError line
    (safetensors raises its own error types)."""
    try:
        with safe_open(path, "pt") as f:
            yield f
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"cannot read image tensors from {path}: {e}") from None


def _split_key(f, path: str | Path, split: str) -> str:
    """The tensor of the opened decoded-images file `f` that holds `split`: its own, or a
    decode cache's `images`, which serves any split."""
    keys = list(f.keys())
    key = split if split in keys else "images"
    if key not in keys:
        raise DataError(f"{path} holds no {split!r} images (it has: {', '.join(keys)})")
    return key


def tensor_file_count(path: str | Path, split: str) -> int:
    """How many images `tensor_file_dataset(path, split, ...)` holds, from the header alone."""
    with _tensor_file(path) as f:
        return f.get_slice(_split_key(f, path, split)).get_shape()[0]


def tensor_file_dataset(path: str | Path, split: str, size: int,
                        limit: int | None = None) -> ImageTensorDataset:
    """Images already decoded into a safetensors file: one uint8 (N, 3, size, size) tensor per
    split name (`train`, `valid`, ...), or one named `images` (a decode cache) for any split.
    The way to move a prepared data set to another machine without its JPEGs."""
    # Read only the split asked for: train and valid are opened one after the other.
    with _tensor_file(path) as f:
        key = _split_key(f, path, split)
        images = f.get_tensor(key)
    if images.dtype != torch.uint8 or images.ndim != 4 or tuple(images.shape[1:]) != (3, size,
                                                                                      size):
        raise DataError(f"{path}: {key} is {images.dtype} {tuple(images.shape)}, expected uint8 "
                        f"(N, 3, {size}, {size})")
    return ImageTensorDataset(images[:limit])


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
        with _tensor_file(root) as f:
            return "valid" in f.keys()
    return is_celeba(root) or has_split_folders(root)


def split_files(root: str | Path, split: str) -> list[Path]:
    """The image files of `split` in a CelebA root or a folder with split subfolders."""
    root = Path(root)
    if is_celeba(root) or not has_split_folders(root):
        return celeba_files(root, split)  # CelebA's list first, as open_dataset reads it
    if not (root / split).is_dir():
        raise DataError(f"{root} has no {split}/ folder (its splits: "
                        f"{', '.join(s for s in SPLITS if (root / s).is_dir())})")
    return folder_files(root / split)


def open_dataset(root: str | Path, split: str = "train", size: int = 32,
                 cache_dir: Path | None = None, limit: int | None = None) -> ImageTensorDataset:
    """CelebA if `root` has a partition file, decoded tensors if it is a .safetensors file,
    the `split` subfolder of a folder with train/ and valid/ ones, else an image folder."""
    if is_tensor_file(root):
        return tensor_file_dataset(root, split, size, limit)
    if is_celeba(root):
        return CelebA(root, split, size, cache_dir=cache_dir, limit=limit)
    if has_split_folders(root):
        split_files(root, split)  # a split with no folder: said here, in one line
        return ImageFolder(Path(root) / split, size, cache_dir=cache_dir, limit=limit)
    return ImageFolder(root, size, cache_dir=cache_dir, limit=limit)
