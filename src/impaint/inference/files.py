"""Inpainting files (`impaint inpaint`): an image and its mask file, or two folders of them,
filled through the multi-scale pipeline (`pipeline.py`, one image by `fill.py`) and written
back.

Mask *files* follow the common convention (LaMa, IOPaint, diffusers): white = hole, black =
known; `invert_mask=True` reads white = known. Inside the library 1 = known (see
model/network.py).
Decoding and writing the files themselves: `image_read.py`, `image_write.py`; what an output
keeps of its input (alpha, greyscale, colour profile): `image_original.py` (all three through
`image_files.py`). A folder goes on past a bad pair.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from ..model import load_model, sample_completions
from ..outputs import check_output, written_atomically
from ..plots import sigma_image
from ..progress import bar as progress_bar
# The names of fill.py and image_files.py that were once here stay importable from here.
from .fill import (INVERT_HINT, MAX_RENDER_PIXELS, MAX_SCALE_INPUT_PIXELS,  # noqa: F401
                   check_pair, check_scale, inpaint_image)
from .image_files import (INPUT_EXTENSIONS, InputError, Original, check_writable,  # noqa: F401
                          read_image, read_mask, read_original, to_pil, to_uint8, write_image)
from .pyramid import Pyramid


# The most pixels a sample (--samples) is drawn on: a sample is decoded whole, not in the
# pipeline's tiles, at some 1.6-1.9 KB a pixel (general's settings with latent_dim=8: 0.74 GB
# at 512x512, 1.98 GB at 1024x1024), so a 12-Mpx photo would have needed some 19 GB.
MAX_SAMPLE_PIXELS = 1024 * 1024
# Completions drawn for one image (or by `impaint sample`), each a file: a mistyped count
# (1000000) once spent half a minute and a GB listing the files it would write.
MAX_SAMPLES = 1000


def uncertainty_paths(path: str | Path) -> tuple[Path, Path]:
    """--uncertainty PATH -> (the σ map's image file, its raw values' .npy beside it): PATH
    itself if it names an image format, else PATH.png."""
    path = Path(path)
    if path.suffix.lower() not in Image.registered_extensions():  # "sigma", "sigma.npy"
        path = path.with_suffix(".png")
    return path, path.with_suffix(".npy")


def write_uncertainty(std: torch.Tensor, path: str | Path) -> list[Path]:
    """σ (3, H, W) -> a colour-mapped image of the per-pixel mean σ and the raw values (.npy)."""
    path, raw = uncertainty_paths(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = sigma_image(std).permute(1, 2, 0).numpy()
    with written_atomically(path) as tmp:  # as write_image: never a half-written file
        Image.fromarray((rgb * 255).round().astype(np.uint8)).save(
            tmp, format=Image.registered_extensions()[path.suffix.lower()])
    with written_atomically(raw) as tmp, open(tmp, "wb") as f:  # np.save would add .npy
        np.save(f, std.numpy().astype(np.float32))
    return [path, raw]


@dataclass
class BatchReport:
    """What a folder run did: every pair it could was written, whatever failed before it."""
    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)  # (image, one-line reason)
    skipped: list[Path] = field(default_factory=list)  # images with no mask of the same name
    subfolders: int = 0  # folders inside IMAGE: not read (a folder run reads one level)

    def summary(self) -> str:
        inside = (f"; {self.subfolders} folder{'s' * (self.subfolders != 1)} inside not read"
                  if self.subfolders else "")
        return (f"written {len(self.written)}, failed {len(self.failed)}, "
                f"skipped {len(self.skipped)} (no mask of the same name){inside}")


def _image_files(folder: Path) -> list[Path]:
    """A folder's image files, by name; not hidden ones (macOS's ._photo.jpg beside each
    photo copied from a Mac is no image), nor a GIF beside an image of its name (its
    animated preview, not a second picture to fill)."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in INPUT_EXTENSIONS
                   and not p.name.startswith(".") and p.is_file())
    stills = {p.stem for p in files if p.suffix.lower() != ".gif"}
    return [p for p in files if p.suffix.lower() != ".gif" or p.stem not in stills]


def _pairs(image_dir: Path, mask_dir: Path
           ) -> tuple[list[tuple[Path, Path]], list[Path], list[tuple[Path, str]]]:
    """Images and masks matched by file stem (photo.jpg <-> photo.png); the images with no
    mask; and the images that cannot be paired unambiguously, with the reason: two masks of
    one name, or an earlier image of the same stem (both would write OUT/stem.png)."""
    if not mask_dir.is_dir():
        raise InputError(f"IMAGE is a folder, so --mask must be a folder too: {mask_dir}")
    if mask_dir.resolve() == image_dir.resolve():
        raise InputError(f"--mask {mask_dir} is the image folder: each image would be its own "
                         "mask; give the folder of masks")
    masks: dict[str, list[Path]] = {}
    for p in _image_files(mask_dir):
        masks.setdefault(p.stem, []).append(p)
    images = _image_files(image_dir)
    pairs, clashes, first_of = [], [], {}
    for p in images:
        if p.stem not in masks:
            continue
        if p.stem in first_of:
            clashes.append((p, f"{first_of[p.stem].name} has the same name and writes "
                               f"{p.stem}.png: rename one"))
        elif len(masks[p.stem]) > 1:
            clashes.append((p, "more than one mask of that name: " +
                               ", ".join(m.name for m in masks[p.stem])))
        else:
            pairs.append((p, masks[p.stem][0]))
        first_of.setdefault(p.stem, p)
    if not images:
        raise InputError(f"no images in {image_dir} (" +
                         ", ".join(sorted(INPUT_EXTENSIONS)) + ")")
    if not pairs and not clashes:
        raise InputError(f"no image in {image_dir} has a mask of the same name in {mask_dir}")
    return pairs, [p for p in images if p.stem not in masks], clashes


def check_folder_output(image_dir: Path, mask_dir: Path, out_dir: str | Path,
                        uncertainty=None, samples: int = 0) -> None:
    """A folder run's arguments, before any work (the model's load too): one line for
    --uncertainty or --samples (one image's), or an -o where the results cannot be written
    or would overwrite the images or masks."""
    if uncertainty or samples:
        raise InputError("--uncertainty and --samples work on one image at a time, not folders")
    path = Path(out_dir)
    if path.is_file() or (path.suffix.lower() in INPUT_EXTENSIONS and not path.is_dir()):
        raise InputError(f"-o {out_dir} {'is' if path.is_file() else 'names'} a file, but "
                         "IMAGE is a folder: -o names the folder to write the results into")
    out_dir = check_output(out_dir, "folder")  # "" (an unset variable) is no "."
    for folder, what in ((image_dir, "image"), (mask_dir, "mask")):
        if out_dir.resolve() == folder.resolve():
            raise InputError(f"-o {out_dir} is the {what} folder: the results would overwrite "
                             f"the {what}s; give another folder")


def inpaint_folder(model, image_dir: Path, mask_dir: Path, out_dir: Path, scale: int = 1,
                   invert_mask: bool = False, progress: bool = True,
                   on_failure: Callable[[Path, str], None] | None = None,
                   cfg: Pyramid | None = None) -> BatchReport:
    """Every image of `image_dir` with a mask of the same name -> OUT/stem.png. A pair that
    fails (unreadable file, wrong mask, unwritable output) is recorded, and passed to
    `on_failure` as it happens; the run goes on with the next pair. `cfg`: as
    `inpaint_image`'s (None: each image's own `auto_averaged`)."""
    check_scale(scale)  # each image's own size is checked as it is read
    check_folder_output(image_dir, mask_dir, out_dir)
    pairs, skipped, clashes = _pairs(image_dir, mask_dir)
    report = BatchReport(skipped=skipped, subfolders=sum(
        p.is_dir() and not p.name.startswith(".") for p in image_dir.iterdir()))
    for img_path, reason in clashes:
        report.failed.append((img_path, reason))
        if on_failure:
            on_failure(img_path, reason)
    for img_path, mask_path in progress_bar(pairs, desc="inpainting", disable=not progress):
        try:
            result = inpaint_image(model, read_image(img_path),
                                   read_mask(mask_path, invert_mask), scale, name=img_path.name,
                                   cfg=cfg)
            report.written.append(write_image(result, out_dir / (img_path.stem + ".png"),
                                              read_original(img_path)))
        except (InputError, OSError, RuntimeError) as e:  # RuntimeError: torch, e.g. memory
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            report.failed.append((img_path, reason))
            if on_failure:
                on_failure(img_path, reason)
    return report


def sample_path(output: Path, i: int) -> Path:
    """Where --samples writes the i-th completion (1 ... K): OUTPUT's stem + _i."""
    return output.with_name(f"{output.stem}_{i}{output.suffix}")


def write_samples(model, image: torch.Tensor, mask: torch.Tensor, output: Path, k: int,
                  seed: int = 0, original: Original = Original(), name: str = "image"
                  ) -> list[Path]:
    """K completions of one image: OUTPUT's stem + _1 … _K, each of the input's kind."""

    check_pair(image, mask, name)
    h, w = image.shape[-2:]
    if h * w > MAX_SAMPLE_PIXELS:  # before the work, not a process killed for memory
        raise InputError(f"{w}×{h} is {h * w / 1e6:.1f} Mpx; --samples draws on at most "
                         f"{MAX_SAMPLE_PIXELS / 1e6:.1f} Mpx (1024×1024), as a sample is "
                         "decoded whole: crop or downscale it first")
    device = next(model.parameters()).device
    samples = sample_completions(model, image[None].to(device), mask[None].to(device), k, seed)
    return [write_image(s[0].cpu(), sample_path(output, i + 1),
                        original) for i, s in enumerate(samples)]


def inpaint_paths(image: str | Path, mask: str | Path, output: str | Path,
                  checkpoint: str | Path | None = "general", scale: int = 1,
                  invert_mask: bool = False, progress: bool = True,
                  uncertainty: str | Path | None = None, samples: int = 0,
                  seed: int = 0, backend: str = "torch", flips: int | None = None,
                  rounds: int | None = None) -> list[Path]:
    """One image (or a folder of them) and its mask(s) -> the written output file(s), as
    `impaint inpaint` (its default model too: `general`; None: `celeba32`).

    `uncertainty` (single images, probabilistic checkpoints): where to write the σ map.
    `backend`: see `load_model_or_backend`. `flips`, `rounds`: test-time flips and re-fill
    rounds (`Pyramid.flips`, `Pyramid.rounds`); neither given: each image's `auto_averaged`
    (one given: the other's default, 1 or 0)."""
    if not str(output).strip():  # an unset variable: not ".", the current folder
        check_output(output, "folder" if Path(image).is_dir() else "file")
    image, mask, output = Path(image), Path(mask), Path(output)
    cfg = averaging(flips, rounds)  # checked: one line before any work
    if not image.exists():
        raise InputError(f"image not found: {image}")
    if image.is_file():
        check_outputs(image, mask, output, uncertainty, samples, scale, cfg)  # first
    else:
        check_folder_output(image, mask, output, uncertainty, samples)
    model = load_model_or_backend(checkpoint, backend, scale, samples)
    if image.is_file():
        pair = read_image(image), read_mask(mask, invert_mask)
        original = read_original(image)
        if samples:
            return write_samples(model, *pair, output, samples, seed, original, image.name)
        if uncertainty:
            result, std = inpaint_image(model, *pair, scale, return_std=True,
                                        progress=progress, name=image.name, cfg=cfg)
            return [write_image(result, output, original), *write_uncertainty(std, uncertainty)]
        return [write_image(inpaint_image(model, *pair, scale, progress=progress,
                                          name=image.name, cfg=cfg), output, original)]
    report = inpaint_folder(model, image, mask, output, scale, invert_mask, progress, cfg=cfg)
    if report.failed:
        raise InputError(f"{len(report.failed)} of {len(report.failed) + len(report.written)} "
                         f"pairs failed (the others were written): " +
                         "; ".join(f"{p.name}: {why}" for p, why in report.failed))
    return report.written


def averaging(flips: int | None, rounds: int | None) -> Pyramid | None:
    """The pipeline's settings for `--flips`, `--rounds`: None (auto) if neither is given."""
    if flips is None and rounds is None:
        return None
    return Pyramid(flips=1 if flips is None else flips, rounds=rounds or 0)


def check_outputs(image: Path, mask: Path, output: Path, uncertainty, samples: int,
                  scale: int, cfg: Pyramid | None = None) -> None:
    """One image's arguments, before any work: one line for what cannot go together, and
    for an output that cannot be written or would overwrite the input or the other output."""
    if mask.is_dir():
        raise InputError(f"--mask {mask} is a folder, but the image is one file: give its "
                         "mask file (or a folder of images)")
    if not 0 <= samples <= MAX_SAMPLES:
        raise InputError(f"--samples K draws K completions (0, the default: one fill; at most "
                         f"{MAX_SAMPLES:,}), got {samples:,}")
    if samples and (scale != 1 or uncertainty):
        raise InputError("--samples draws completions at x1, without σ: leave out --scale "
                         "and --uncertainty")
    if samples and cfg is not None and cfg.averaged:  # auto: the samples are not averaged
        option = "--flips" if cfg.flips > 1 else "--rounds"
        raise InputError(f"--samples draws completions from the model's latent, {option} "
                         "averages the one mean fill: choose one of them")
    check_writable(output)
    # what each written file is asked by: under --samples, OUT_1 ... OUT_K, not OUT itself
    written = [sample_path(output, i) for i in range(1, samples + 1)] if samples else [output]
    outputs = {path.resolve(): ("--samples would write" if samples else "-o", path)
               for path in written}
    if uncertainty:
        if Path(uncertainty).is_dir() or str(uncertainty).endswith(("/", os.sep)):
            raise InputError(f"--uncertainty {uncertainty} is a folder: give the σ map's file "
                             f"name ({Path(uncertainty) / 'sigma.png'}; its .npy goes beside it)")
        sigma_map, raw = uncertainty_paths(uncertainty)
        check_writable(sigma_map)
        for path in (sigma_map, raw):
            if path.resolve() in outputs:
                raise InputError(f"--uncertainty {uncertainty} would write {path}, which -o "
                                 "writes too: give them different names")
            outputs[path.resolve()] = ("--uncertainty", path)
    if image.is_file() and image.resolve() == mask.resolve():
        raise InputError(f"--mask {mask} is the image itself: give the mask file (white = "
                         "hole)")
    for source, what in ((image, "input image"), (mask, "mask")):
        if source.resolve() in outputs:
            flag, path = outputs[source.resolve()]
            raise InputError(f"{flag} {path} is the {what}: the output would overwrite it; "
                             "give another name")


def load_model_or_backend(checkpoint, backend: str = "torch", scale: int = 1, samples: int = 0):
    """What runs the fill: a single-scale backend (`onnx_backend.load_backend`: "auto" is
    the faster one here, `resolve_backend`) for plain x1 fills; the PyTorch model for
    --scale > 1 and --samples, which only it can render."""
    from .onnx_backend import load_backend, resolve_backend

    if scale == 1 and not samples:
        return load_backend(backend, checkpoint)
    if resolve_backend(backend) != "torch" and backend != "auto":  # auto: PyTorch, then
        raise InputError("--scale and --samples need the PyTorch model: use --backend torch")
    return load_model(checkpoint)
