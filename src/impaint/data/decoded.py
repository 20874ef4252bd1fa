"""Decoded images: uint8 (N, 3, size, size) tensors, held in memory as a data set
(`ImageTensorDataset`), decoded from image files once and cached on disk (`decode_all`), or
read from a safetensors file of them (a decode cache, a crop set: `tensor_file_dataset`).

The cache lies under a hash of the inputs: decoding ~160k JPEGs costs minutes on 2 cores,
reading the cache a second. Where the files come from (CelebA, folders, splits) is
datasets.py; how one file is read, image.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from ..model.checkpoint import write_safetensors
from ..notes import note
from ..progress import bar as progress_bar
from .image import load_or_none

# Bump when preprocessing changes, so old caches are not reused (2: upright by EXIF; 3: float
# images skipped, which were decoded black).
CACHE_VERSION = 3
# Bytes of decode caches kept, the most recently used first: a cache of changed files or of an
# older CACHE_VERSION is never read again, and all of CelebA's splits are 10 GiB at 128 px.
CACHE_BUDGET = 16 * 2**30
# A cache used this recently is kept whatever the budget: a run reads (or writes) its train
# split before its valid one, and runs beside it (DDP ranks, ablate) use theirs meanwhile.
CACHE_IN_USE_S = 24 * 3600
# decode_all's names (NAME-SIZEpx-16 hex digits): nothing else in the folder is touched.
CACHE_GLOB = "*-*px-" + "[0-9a-f]" * 16 + ".safetensors"


class DataError(ValueError):
    """A problem with the user's data, reported as one line by the CLI."""


def default_cache_dir() -> Path:
    return Path(os.environ.get("IMPAINT_CACHE", Path.home() / ".cache" / "impaint"))


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
        note(f"skipped {count} unreadable image(s), e.g. {example}")
    if enlarged:  # a 10-px icon trained on at 32 px is mostly blur
        note(f"{enlarged} image(s) smaller than {size} px were enlarged to it (blurry), "
             f"e.g. {small}")


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
    with contextlib.suppress(OSError):  # its time is its last use (prune_decoded), if writable
        os.utime(cache)
    return images


def prune_decoded(cache_dir: Path) -> None:
    """Delete the decode caches least recently used past CACHE_BUDGET bytes, but none used
    in the last CACHE_IN_USE_S seconds (the one just written among them): a deleted one is
    decoded again if it is asked for."""
    in_use = time.time_ns() - CACHE_IN_USE_S * 10**9
    caches = []
    for cache in cache_dir.glob(CACHE_GLOB):
        with contextlib.suppress(OSError):  # gone meanwhile: another run pruned it
            st = cache.stat()
            caches.append((st.st_mtime_ns, st.st_size, cache))
    total = 0
    for used, size, cache in sorted(caches, reverse=True):
        total += size
        if total > CACHE_BUDGET and used < in_use:
            with contextlib.suppress(OSError):  # pruning is tidying: never a failed run
                cache.unlink()


def decode_all(files: list[Path], size: int, crop_fraction: float | None, desc: str,
               cache_dir: Path | None = None, workers: int | None = None,
               limit: int | None = None) -> torch.Tensor:
    """Decode `files` into (N, 3, size, size) uint8, skipping unreadable ones; cached. With
    `limit`: the first `limit` readable ones, the same images as the whole set's first
    `limit` (from its cache, where there is one), decoding only as many files as that takes
    (`--limit 8` on 2,000 images at 256 px once decoded and cached all of them: 393 MB)."""
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    limit = limit or None  # 0: all, as every command's --limit
    stem = f"{desc.replace(' ', '_')}-{size}px-"
    key = _inputs_hash(files, size=size, crop=crop_fraction)
    whole = _read_cache(cache_dir / f"{stem}{key}.safetensors", size)
    if whole is not None:
        return whole[:limit]
    if limit and limit < len(files):  # a cache of its own, for this limit (the files hashed)
        key = hashlib.sha256(f"{key}/limit={limit}".encode()).hexdigest()[:16]
        cached = _read_cache(cache_dir / f"{stem}{key}.safetensors", size)
        if cached is not None:
            return cached
    else:
        limit = None
    cache = cache_dir / f"{stem}{key}.safetensors"
    decoded, end = [], limit or len(files)
    while True:  # past unreadable files, until `limit` are read or the files end
        decoded += _decoded(files[len(decoded):end], size, crop_fraction, desc, workers)
        read = sum(d is not None for d, _ in decoded)
        if limit is None or read >= limit or end == len(files):
            break
        end = min(len(files), end + limit - read)
    skipped = [f"{f} ({why})" for f, (d, why) in zip(files, decoded) if d is None]
    small = [f"{f} ({side})" for f, (d, side) in zip(files, decoded) if d is not None and side]
    notes = {"skipped": str(len(skipped)), "skipped_example": skipped[0] if skipped else "",
             "enlarged": str(len(small)), "enlarged_example": small[0] if small else ""}
    warn_skipped(len(skipped), notes["skipped_example"], len(small), notes["enlarged_example"],
                 size)
    kept = [d for d, _ in decoded if d is not None]
    if not kept:
        raise DataError(f"none of the {len(decoded)} image(s) for {desc} could be read")
    images = torch.from_numpy(np.stack(kept)).permute(0, 3, 1, 2).contiguous()
    cache_dir.mkdir(parents=True, exist_ok=True)
    # atomic: never a half-written cache
    write_safetensors(cache, {"images": images}, notes)
    prune_decoded(cache_dir)
    return images


def _decoded(files: list[Path], size: int, crop_fraction: float | None, desc: str,
             workers: int | None) -> list[tuple]:
    """`load_or_none` of each file (its (H, W, 3) pixels or None, and a note), in processes
    when there are many."""
    jobs = [(f, size, crop_fraction) for f in files]
    workers = workers or min(os.cpu_count() or 1, 4)
    if len(files) < 256 or workers == 1:
        return [load_or_none(j) for j in progress_bar(jobs, desc=f"decoding {desc}",
                                                      leave=False, disable=quiet())]
    with ProcessPoolExecutor(workers) as pool:
        return list(progress_bar(pool.map(load_or_none, jobs, chunksize=64), total=len(jobs),
                                 desc=f"decoding {desc}", disable=quiet()))


class ImageTensorDataset(torch.utils.data.Dataset):
    """Decoded images held in memory as uint8; items are float (3, size, size) in [0, 1]."""

    def __init__(self, images: torch.Tensor):
        self.images = images  # (N, 3, S, S) uint8

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i].float() / 255.0


def is_tensor_file(root: str | Path) -> bool:
    """Whether `root` is a safetensors file of decoded images (a decode cache, a crop set)."""
    return Path(root).suffix == ".safetensors" and Path(root).is_file()


@contextlib.contextmanager
def tensor_file(path: str | Path):
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
    if key not in keys and any(k.startswith("model.") for k in keys):
        raise DataError(f"{path} is a model checkpoint, not a set of images: --data names "
                        "images (a folder, CelebA, or a .safetensors file `impaint crops` wrote)")
    if key not in keys:
        shown = ", ".join(keys[:8]) + (f", … ({len(keys)} in all)" if len(keys) > 8 else "")
        raise DataError(f"{path} holds no {split!r} images (it has: {shown})")
    return key


def tensor_file_count(path: str | Path, split: str) -> int:
    """How many images `tensor_file_dataset(path, split, ...)` holds, from the header alone."""
    with tensor_file(path) as f:
        return f.get_slice(_split_key(f, path, split)).get_shape()[0]


def tensor_file_dataset(path: str | Path, split: str, size: int,
                        limit: int | None = None) -> ImageTensorDataset:
    """Images already decoded into a safetensors file: one uint8 (N, 3, size, size) tensor per
    split name (`train`, `valid`, ...), or one named `images` (a decode cache) for any split.
    The way to move a prepared data set to another machine without its JPEGs."""
    # Read only the split asked for: train and valid are opened one after the other.
    with tensor_file(path) as f:
        key = _split_key(f, path, split)
        images = f.get_tensor(key)
    if images.dtype != torch.uint8 or images.ndim != 4 or tuple(images.shape[1:]) != (3, size,
                                                                                      size):
        raise DataError(f"{path}: {key} is {images.dtype} {tuple(images.shape)}, expected uint8 "
                        f"(N, 3, {size}, {size})")
    return ImageTensorDataset(images[:limit])
