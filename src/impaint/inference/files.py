"""Inpainting files: read an image and a mask file, fill the holes, write the result.

Mask *files* follow the common convention (LaMa, IOPaint, diffusers): white = hole, black =
known; `invert_mask=True` reads white = known. Inside the library 1 = known (see model.py).

Any size goes through the multi-scale pipeline (`pipeline.py`). What the model does not fill,
the output keeps from the input file (`Original`): its transparency, and its greyscale, at 16
bits where the file had them (a scan of an old photo comes back as the same kind of file).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm import tqdm

from ..data import IMAGE_EXTENSIONS
from ..model import ImplicitInpainter, load_model, sample_completions
from .pipeline import coarse_of, counted, inpaint_pyramid, inpaint_with_std
from ..plots import sigma_image


class InputError(ValueError):
    """A bad input file (missing, not an image, wrong size, unusable mask)."""


# Pillow's modes for greyscale files, and those with 16 bits per sample (PNG, TIFF).
GREY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N"}
WIDE_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N"}


HEIF_SUFFIXES = {".heic", ".heif"}  # iPhones' photos: read with the optional pillow-heif
INPUT_EXTENSIONS = IMAGE_EXTENSIONS | HEIF_SUFFIXES


@functools.cache
def heif_support() -> bool:
    """Whether HEIC/HEIF files can be read: pillow-heif (`pip install 'impaint[heic]'`) is
    installed, and its Pillow plugin is now registered."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    return True


def _decode(source: str | Path | BinaryIO, kind: str,
            read: Callable[[Image.Image], np.ndarray]) -> np.ndarray:
    """An image file (a path, or an open binary file such as an upload) -> `read`'s array of
    it, turned upright by its EXIF orientation, as browsers and image editors show it (a mask
    painted over the shown photo then fits it)."""
    if isinstance(source, (str, Path)) and not Path(source).is_file():
        raise InputError(f"{kind} not found: {source}")
    name = source if isinstance(source, (str, Path)) else getattr(source, "name", kind)
    if not heif_support() and Path(str(name)).suffix.lower() in HEIF_SUFFIXES:
        raise InputError(f"{name} is HEIC/HEIF: reading it needs pillow-heif "
                         "(pip install 'impaint[heic]')")
    try:
        with Image.open(source) as im:
            if im.mode == "F":  # 32-bit float TIFFs: no range to read them in
                raise InputError(f"not a supported {kind}: {name} (32-bit floating point; "
                                 "save it with 8 or 16 bits)")
            return read(ImageOps.exif_transpose(im))
    except (UnidentifiedImageError, OSError, SyntaxError,  # SyntaxError: a broken PNG chunk
            Image.DecompressionBombError) as e:
        raise InputError(f"not a readable {'mask ' if kind == 'mask' else ''}image: {name} "
                         f"({type(e).__name__})")


def _unit(im: Image.Image) -> np.ndarray:
    """-> (H, W, 3) float32 in [0, 1]. 16-bit greyscale is read at its 16 bits (Pillow's own
    conversion clips it at 255: a 16-bit scan would read as white)."""
    if im.mode in WIDE_MODES:
        grey = np.asarray(im).astype(np.float32).clip(0, 65535) / 65535
        return np.repeat(grey[..., None], 3, axis=-1)
    return np.asarray(im.convert("RGB")).astype(np.float32) / 255.0


def read_image(source: str | Path | BinaryIO) -> torch.Tensor:
    """-> (3, H, W) float in [0, 1]."""
    return torch.from_numpy(_decode(source, "image", _unit)).permute(2, 0, 1).contiguous()


@dataclass(frozen=True)
class Original:
    """What an output keeps of its input file beyond the colour the model fills: a cut-out
    stays cut out, a greyscale scan comes back greyscale (without the colour cast a model
    trained on colour photos may give its fill), at 16 bits if it had them, and a photo keeps
    its colour profile (a phone's Display P3 photo would otherwise show duller as sRGB)."""
    alpha: np.ndarray | None = None  # (H, W) uint8, upright as `read_image`; None: opaque
    grey: bool = False
    bits: int = 8  # 16: 16-bit greyscale
    icc: bytes | None = None  # the embedded ICC profile, as the file had it

    def fit(self, suffix: str) -> "Original":
        """What a file format (by its suffix) can hold of it."""
        suffix = suffix.lower()
        return replace(self, alpha=self.alpha if suffix in ALPHA_SUFFIXES else None,
                       bits=self.bits if suffix in WIDE_SUFFIXES and self.alpha is None else 8)


ALPHA_SUFFIXES = {".png", ".webp", ".tif", ".tiff"}  # formats that keep transparency
WIDE_SUFFIXES = {".png", ".tif", ".tiff"}  # and 16-bit greyscale


def read_original(source: str | Path | BinaryIO) -> Original:
    """The input's `Original` (read after `read_image`, which has already turned an
    unreadable file into its one-line error)."""
    if not isinstance(source, (str, Path)):
        source.seek(0)
    with Image.open(source) as im:
        alpha = None
        if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
            alpha = np.asarray(ImageOps.exif_transpose(im).convert("RGBA"))[..., 3]
            alpha = None if (alpha == 255).all() else alpha
        return Original(alpha, im.mode in GREY_MODES, 16 if im.mode in WIDE_MODES else 8,
                        im.info.get("icc_profile") or None)


def read_mask(source: str | Path | BinaryIO, invert: bool = False) -> torch.Tensor:
    """Mask file (white = hole, unless `invert`) -> (1, H, W) float, 1 = known.

    A mask with transparency is read by its alpha instead: painted (opaque) = hole, whatever
    the paint's colour. Painting tools export strokes on a transparent layer that way, and
    their red or black strokes would otherwise read as "no hole"."""
    def grey_alpha(im: Image.Image) -> np.ndarray:  # -> (H, W, 2) uint8
        if im.mode in WIDE_MODES:  # 16 bits: to 8 (Pillow's conversion clips at 255)
            im = Image.fromarray((np.asarray(im).clip(0, 65535) / 257).round().astype(np.uint8))
        return np.asarray(im.convert("LA"))

    grey, alpha = np.moveaxis(_decode(source, "mask", grey_alpha), -1, 0)
    # >= 128: anti-aliased or JPEG masks still work
    white = alpha >= 128 if (alpha < 255).any() else grey >= 128
    known = white if invert else ~white
    return torch.from_numpy(known.astype(np.float32))[None]


def check_pair(image: torch.Tensor, mask: torch.Tensor, name: str = "image",
               allow_full: bool = False) -> None:
    if image.shape[-2:] != mask.shape[-2:]:
        raise InputError(f"mask size {tuple(mask.shape[-2:][::-1])} differs from {name} size "
                         f"{tuple(image.shape[-2:][::-1])} (width, height)")
    if not torch.isfinite(image).all():
        raise InputError(f"{name} contains NaN or infinite values")
    if bool(mask.all()):
        raise InputError(f"the mask of {name} has no hole: nothing to inpaint "
                         "(mask files are white = hole; --invert-mask for white = known)")
    if not allow_full and not bool(mask.any()):
        raise InputError(f"the mask of {name} hides every pixel: nothing to inpaint from "
                         "(is it inverted? --invert-mask reads white = known)")


# The most pixels an output at --scale K may have: rendering holds a few float copies of the
# output (a 2048-px image at x4, 67 Mpx, through the CLI: 4.5 GB and 114 s on the 2-core CPU);
# beyond, the process would be killed for memory with no word.
MAX_RENDER_PIXELS = 8192 * 8192


def check_scale(size: tuple[int, int], scale: int) -> None:
    """A one-line error for a --scale that is not a positive integer or whose output would
    not fit in memory."""
    if scale < 1:
        raise InputError(f"--scale must be a positive integer, got {scale}")
    h, w = size
    if scale > 1 and h * w * scale ** 2 > MAX_RENDER_PIXELS:
        raise InputError(f"{w}×{h} at --scale {scale} would be {w * scale}×{h * scale} "
                         f"({h * w * scale ** 2 / 1e6:.0f} Mpx); --scale renders at most "
                         f"{MAX_RENDER_PIXELS / 1e6:.0f} Mpx: a smaller scale, or a crop")


def inpaint_image(model: ImplicitInpainter, image: torch.Tensor, mask: torch.Tensor,
                  scale: int = 1, allow_full: bool = False, return_std: bool = False,
                  progress: bool = False):
    """(3, H, W), (1, H, W) -> (3, H*scale, W*scale); known pixels kept exactly at scale 1.

    With `return_std`, returns (image, σ (3, H*scale, W*scale)) for a probabilistic model.
    `model` may also be a single-scale backend (`onnx_backend.load_backend`), at scale 1.
    `progress`: a bar of the model's passes (and, at --scale, the render's chunks), shown when
    the work takes over a second (a 12-Mpx photo takes seconds)."""
    check_pair(image, mask, allow_full=allow_full)
    check_scale(image.shape[-2:], scale)
    is_model = isinstance(model, torch.nn.Module)
    if return_std and not (model.cfg.probabilistic if is_model else model.probabilistic):
        raise InputError("this checkpoint predicts no uncertainty (train one with "
                         "--set model.probabilistic=true)")
    if not is_model and scale != 1:
        raise InputError(f"the {model.name} backend renders at x1 only: use --backend torch")
    with tqdm(desc="inpainting", unit=" steps", delay=1.0, leave=False,
              disable=not progress) as bar:
        tick = bar.update if progress else None
        if is_model:
            device = next(model.parameters()).device
            out, std = inpaint_with_std(model, image[None].to(device), mask[None].to(device),
                                        scale, on_pass=tick)
        else:
            out, std = inpaint_pyramid(counted(model, tick), image[None], mask[None],
                                       coarse=counted(coarse_of(model), tick))
    return (out[0].cpu(), std[0].cpu()) if return_std else out[0].cpu()


def write_uncertainty(std: torch.Tensor, path: str | Path) -> list[Path]:
    """σ (3, H, W) -> a colour-mapped PNG of the per-pixel mean σ and the raw values (.npy)."""

    path = Path(path).with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = sigma_image(std).permute(1, 2, 0).numpy()
    Image.fromarray((rgb * 255).round().astype(np.uint8)).save(path)
    raw = path.with_suffix(".npy")
    np.save(raw, std.numpy().astype(np.float32))
    return [path, raw]


def to_pil(image: torch.Tensor, original: Original = Original()) -> Image.Image:
    """(3, H, W) float in [0, 1] -> an image of the input's kind (`original`): RGB, RGBA,
    L, LA or 16-bit L. At --scale K (H = K·h) each alpha value covers its K x K block, as
    the known pixels do. A known pixel of a grey file (R = G = B) keeps its exact value."""
    if original.grey:
        grey = image.mean(0, keepdim=True)  # (1, H, W)
        if original.bits == 16:
            return Image.fromarray((grey[0].clamp(0, 1).numpy() * 65535.0 + 0.5)
                                   .astype(np.uint16))
        pixels = to_uint8(grey)[..., 0]  # (H, W)
    else:
        pixels = to_uint8(image)  # (H, W, 3)
    if original.alpha is None:
        return Image.fromarray(pixels)
    k = pixels.shape[0] // original.alpha.shape[0]
    return Image.fromarray(np.dstack([pixels, original.alpha.repeat(k, 0).repeat(k, 1)]))


def write_image(image: torch.Tensor, path: str | Path, original: Original = Original()) -> Path:
    """(3, H, W) float in [0, 1] -> an image file (format from the suffix), of the input's
    kind as far as the format holds it (JPEG: no alpha, no 16 bits)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    original = original.fit(path.suffix)
    to_pil(image, original).save(path, **profile(original))
    return path


def profile(original: Original) -> dict:
    """Pillow's `save` arguments that embed the input's colour profile, if it had one."""
    return {} if original.icc is None else {"icc_profile": original.icc}


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) float in [0, 1] -> (H, W, 3) uint8; a pixel read from an 8-bit file comes
    back to its own value exactly."""
    scaled = image.clamp(0, 1).mul_(255.0).add_(0.5)  # one float copy (a 67-Mpx render: 0.8 GB)
    return np.ascontiguousarray(scaled.permute(1, 2, 0).numpy().astype(np.uint8))


@dataclass
class BatchReport:
    """What a folder run did: every pair it could was written, whatever failed before it."""
    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)  # (image, one-line reason)
    skipped: list[Path] = field(default_factory=list)  # images with no mask of the same name

    def summary(self) -> str:
        return (f"written {len(self.written)}, failed {len(self.failed)}, "
                f"skipped {len(self.skipped)} (no mask of the same name)")


def _pairs(image_dir: Path, mask_dir: Path
           ) -> tuple[list[tuple[Path, Path]], list[Path], list[tuple[Path, str]]]:
    """Images and masks matched by file stem (photo.jpg <-> photo.png); the images with no
    mask; and the images that cannot be paired unambiguously, with the reason: two masks of
    one name, or an earlier image of the same stem (both would write OUT/stem.png)."""
    if not mask_dir.is_dir():
        raise InputError(f"IMAGE is a folder, so --mask must be a folder too: {mask_dir}")
    masks: dict[str, list[Path]] = {}
    for p in sorted(mask_dir.iterdir()):
        if p.suffix.lower() in INPUT_EXTENSIONS:
            masks.setdefault(p.stem, []).append(p)
    images = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in INPUT_EXTENSIONS)
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
    if not pairs and not clashes:
        raise InputError(f"no image in {image_dir} has a mask of the same name in {mask_dir}")
    return pairs, [p for p in images if p.stem not in masks], clashes


def inpaint_folder(model, image_dir: Path, mask_dir: Path, out_dir: Path, scale: int = 1,
                   invert_mask: bool = False, progress: bool = True,
                   on_failure: Callable[[Path, str], None] | None = None) -> BatchReport:
    """Every image of `image_dir` with a mask of the same name -> OUT/stem.png. A pair that
    fails (unreadable file, wrong mask, unwritable output) is recorded, and passed to
    `on_failure` as it happens; the run goes on with the next pair."""
    check_scale((1, 1), scale)
    pairs, skipped, clashes = _pairs(image_dir, mask_dir)
    report = BatchReport(skipped=skipped)
    for img_path, reason in clashes:
        report.failed.append((img_path, reason))
        if on_failure:
            on_failure(img_path, reason)
    for img_path, mask_path in tqdm(pairs, desc="inpainting", disable=not progress):
        try:
            result = inpaint_image(model, read_image(img_path),
                                   read_mask(mask_path, invert_mask), scale)
            report.written.append(write_image(result, out_dir / (img_path.stem + ".png"),
                                              read_original(img_path)))
        except (InputError, OSError, RuntimeError) as e:  # RuntimeError: torch, e.g. memory
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            report.failed.append((img_path, reason))
            if on_failure:
                on_failure(img_path, reason)
    return report


def check_writable(path: Path) -> None:
    """A one-line error, before any work, for an output the image writer cannot make: an
    unknown format, or a folder that cannot be created."""
    if path.suffix.lower() not in Image.registered_extensions():
        raise InputError(f"cannot write {path.name}: name the output .png, .jpg, .webp or "
                         ".tif (PNG is lossless: known pixels exact)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror or type(e).__name__}")


def write_samples(model, image: torch.Tensor, mask: torch.Tensor, output: Path, k: int,
                  seed: int = 0) -> list[Path]:
    """K completions of one image: OUTPUT's stem + _1 … _K."""

    check_pair(image, mask)
    device = next(model.parameters()).device
    samples = sample_completions(model, image[None].to(device), mask[None].to(device), k, seed)
    return [write_image(s[0].cpu(), output.with_name(f"{output.stem}_{i + 1}{output.suffix}"))
            for i, s in enumerate(samples)]


def inpaint_paths(image: str | Path, mask: str | Path, output: str | Path,
                  checkpoint: str | Path | None = None, scale: int = 1,
                  invert_mask: bool = False, progress: bool = True,
                  uncertainty: str | Path | None = None, samples: int = 0,
                  seed: int = 0, backend: str = "torch") -> list[Path]:
    """One image (or a folder of them) and its mask(s) -> the written output file(s).

    `uncertainty` (single images, probabilistic checkpoints): where to write the σ map.
    `backend`: see `load_model_or_backend`."""
    image, mask, output = Path(image), Path(mask), Path(output)
    if not image.exists():
        raise InputError(f"image not found: {image}")
    if image.is_file():
        check_writable(output)  # before the work, not after it
    model = load_model_or_backend(checkpoint, backend, scale, samples)
    if image.is_file():
        pair = read_image(image), read_mask(mask, invert_mask)
        if samples:
            return write_samples(model, *pair, output, samples, seed)
        if uncertainty:
            result, std = inpaint_image(model, *pair, scale, return_std=True,
                                        progress=progress)
            return [write_image(result, output, read_original(image)),
                    *write_uncertainty(std, uncertainty)]
        return [write_image(inpaint_image(model, *pair, scale, progress=progress), output,
                            read_original(image))]
    if uncertainty or samples:
        raise InputError("--uncertainty and --samples work on one image at a time, not folders")
    report = inpaint_folder(model, image, mask, output, scale, invert_mask, progress)
    if report.failed:
        raise InputError(f"{len(report.failed)} of {len(report.failed) + len(report.written)} "
                         f"pairs failed (the others were written): " +
                         "; ".join(f"{p.name}: {why}" for p, why in report.failed))
    return report.written


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
