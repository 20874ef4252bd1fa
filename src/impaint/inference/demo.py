"""`impaint demo`: the shipped model on faces that scikit-image installs, every mask family.

No data, no network, no training: the astronaut's face from `skimage.data.astronaut()` and
faces from `skimage.data.lfw_subset()` (greyscale), cropped and resized to the model's size.
Filled as `impaint inpaint` fills them: averaged as much as about a second allows
(`averaged.auto_averaged`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data.masks import BoxMask, FullMask, RandomMask, StrokesMask, mask_batch
from ..evaluation.baselines import BASELINES
from ..evaluation.metrics import psnr
from ..model import load_model
from .averaged import auto_averaged
from .pipeline import inpaint_with_std
from ..plots import image_grid, masked_for_display, sigma_image
from ..progress import bar as progress_bar, redrawn

DEMO_MASKS = {  # one row block per family in the grid
    "random 0.5": RandomMask(0.5),
    "box 0.5": BoxMask(0.5),
    "strokes medium": StrokesMask(0.4, "medium"),
    "full": FullMask(),
}
# The astronaut's face, framed like a CelebA crop (eyes near mid-height, chin near the bottom).
ASTRONAUT_FACE_BOX = (155, 35, 295, 175)  # left, top, right, bottom in the 512-px image


def _to_tensor(arr: np.ndarray, size: int) -> torch.Tensor:
    """(H, W[, 3]) float or uint8 -> (3, size, size) float in [0, 1], antialiased resize."""
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0, 1) * 255).round().astype(np.uint8)
    im = Image.fromarray(arr).convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
    return torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1)


def bundled_faces(size: int = 32, n_lfw: int = 5) -> torch.Tensor:
    """(1 + n_lfw, 3, size, size): the astronaut, then LFW faces (greyscale, as shipped)."""
    from skimage import data

    faces = [_to_tensor(np.asarray(Image.fromarray(data.astronaut()).crop(ASTRONAUT_FACE_BOX)),
                        size)]
    lfw = data.lfw_subset()[:100]  # (200, 25, 25) in [0, 1]: 100 faces, then 100 non-faces
    faces += [_to_tensor(lfw[i], size) for i in np.linspace(0, 99, n_lfw).astype(int)]
    return torch.stack(faces)


LARGE_MASKS = {"box 0.25": BoxMask(0.25), "strokes thick": StrokesMask(0.4, "thick")}


def large_photos() -> dict[str, torch.Tensor]:
    """Pictures scikit-image installs, at their own size: name -> (1, 3, H, W)."""
    from skimage import data

    return {name: torch.from_numpy(getattr(data, name)()).permute(2, 0, 1)[None].float() / 255
            for name in ("astronaut", "coffee")}  # 512x512 (a face), 600x400 (a photo)


# Telea's time grows ~17x per doubling of the side (its radius, 3/32 of the short side, grows
# with it): ~8 s at 512 px, hours on a 12-Mpx photo. A larger picture's Telea runs on a copy
# at most this size, its fill carried up (the bundled pictures, 512 and 600 px, at their own).
TELEA_MAX_SIDE = 640


def telea_at_most(image: torch.Tensor, mask: torch.Tensor, side: int = TELEA_MAX_SIDE
                  ) -> tuple[torch.Tensor, int | None]:
    """OpenCV Telea's fill of (3, H, W) `image` where `mask` (1, H, W) is 0, known pixels
    exact -> (filled, None), or, over `side` px, run on a copy whose long side is `side` and
    its fill upsampled -> (filled, that long side)."""
    import torch.nn.functional as F

    def telea(img, known):
        return torch.from_numpy(BASELINES["telea"](img.permute(1, 2, 0).numpy(),
                                                   known[0].numpy())).permute(2, 0, 1).float()

    h, w = image.shape[-2:]
    if max(h, w) <= side:
        return telea(image, mask), None
    size = (max(1, round(h * side / max(h, w))), max(1, round(w * side / max(h, w))))
    small = F.interpolate(image[None], size=size, mode="area")[0]
    # a small pixel is known only where all it covers is: the hole does not shrink
    known = (F.interpolate(mask[None], size=size, mode="area")[0] > 0.999).float()
    up = F.interpolate(telea(small, known)[None], size=(h, w), mode="bicubic",
                       align_corners=False)[0].clamp(0, 1)
    return image * mask + up * (1 - mask), max(size)


def run_large_demo(out: str | Path = "impaint-demo", checkpoint: str | Path | None = "general",
                   seed: int = 0, image: str | Path | None = None) -> Path:
    """Large pictures at their own size (or the user's `image`) through the multi-scale
    pipeline, against OpenCV Telea: large.png (masked / impaint / Telea / truth, one row per
    picture and mask)."""
    from .image_read import read_image

    model = load_model(checkpoint)
    # read_image: upright, and a one-line InputError for a missing or non-image file
    photos = {Path(image).name: read_image(image)[None]} if image else large_photos()
    rows = []
    # Most of the time (half a minute here) is OpenCV Telea's, whose radius grows with the side.
    bar = progress_bar(total=len(photos) * len(LARGE_MASKS), desc="impaint, then Telea",
                       unit="fill", leave=False, disable=not redrawn())  # as fill.py's
    for name, photo in photos.items():
        h, w = photo.shape[-2:]
        for label, gen in LARGE_MASKS.items():
            mask = gen(h, w, torch.Generator().manual_seed(seed))[None, None]
            ours = inpaint_with_std(model, photo, mask, cfg=auto_averaged((h, w)))[0]
            telea, at = telea_at_most(photo[0], mask[0])
            p_ours, p_telea = (psnr(x, photo[0], 1 - mask[0]) for x in (ours[0], telea))
            where = f" (run at {at} px: {TELEA_MAX_SIDE} at most)" if at else ""
            bar.write(f"{name} {label}: impaint {p_ours:.2f} dB, Telea {p_telea:.2f} dB (hole)"
                      f"{where}", file=sys.stdout)
            rows.append((f"{name}\n{label}\n{p_ours:.1f} / {p_telea:.1f} dB", torch.stack(
                [masked_for_display(photo[0], mask[0]), ours[0], telea.float(), photo[0]])))
            bar.update()
    bar.close()
    Path(out).mkdir(parents=True, exist_ok=True)
    return image_grid(rows, Path(out) / "large.png", cell=3.0,
                      title="masked / impaint (multi-scale) / OpenCV Telea / truth; "
                            "PSNR on the hole: impaint / Telea")


def run_demo(out: str | Path = "impaint-demo", checkpoint: str | Path | None = None,
             seed: int = 0) -> list[Path]:
    """Inpaint the bundled faces with every demo mask family; write demo.png and psnr.md
    into `out`."""
    model = load_model(checkpoint)
    size = model.image_size or 32
    faces = bundled_faces(size)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows, table = [], ["| mask | impaint PSNR (hole) | OpenCV Telea PSNR (hole) |",
                       "|---|---|---|"]
    for name, gen in DEMO_MASKS.items():
        masks = mask_batch(gen, faces.shape[0], size, size, torch.Generator().manual_seed(seed))
        ours, std = inpaint_with_std(model, faces, masks, cfg=auto_averaged((size, size)))
        telea = torch.stack([
            torch.from_numpy(BASELINES["telea"](f.permute(1, 2, 0).numpy(), m[0].numpy()))
            .permute(2, 0, 1).float() for f, m in zip(faces, masks)])
        holes = 1 - masks
        p_ours = np.mean([psnr(o, f, h) for o, f, h in zip(ours, faces, holes)])
        p_telea = np.mean([psnr(t, f, h) for t, f, h in zip(telea, faces, holes)])
        table.append(f"| {name} | {p_ours:.2f} dB | {p_telea:.2f} dB |")
        rows += [(f"{name}\ninput", torch.stack([masked_for_display(f, m)
                                                 for f, m in zip(faces, masks)])),
                 ("impaint", ours)]
        if std is not None:  # a probabilistic model: where is the fill a guess?
            top = float(std.mean(1).max())
            rows.append(("impaint σ", torch.stack([sigma_image(s, top) for s in std])))
        rows.append(("Telea", telea))
    rows.append(("ground\ntruth", faces))
    grid = image_grid(rows, out / "demo.png",
                      title="impaint demo: masked input / impaint (and its σ) / OpenCV Telea")
    note = ("\nFaces: skimage.data.astronaut() (crop) and skimage.data.lfw_subset() "
            "(greyscale). Full masks: Telea has nothing to propagate. Six faces are an "
            "anecdote: the README's tables, on 500 CelebA valid faces, are the measure.\n")
    (out / "psnr.md").write_text("\n".join(table) + "\n" + note)
    print("\n".join(table))
    return [grid, out / "psnr.md"]
