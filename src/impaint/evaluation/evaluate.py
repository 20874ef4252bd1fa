"""`impaint evaluate`: checkpoints and classical baselines on the same fixed, seeded masks
(protocol.py).

Metrics (metrics.py, per image, then mean and 95 % CI over images): PSNR on the hole,
PSNR and SSIM of the whole composed image, L1 on the hole. PSNR is capped at 100 dB.
Full masks leave nothing to propagate: every classical method is then reported as the mean
colour of the evaluated images (an oracle constant: the best any constant fill can do).
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .baselines import BASELINES, opencv_radius
from ..data.datasets import is_tensor_file
from ..data.masks import TABLE_MASKS, hole_ratio
from ..inference.pipeline import Pyramid, coarse_of, inpaint_pyramid, inpaint_with_std
from ..progress import bar as progress_bar
from ..precision import pick_device
from .calibration import calibration_table, file_stem
from .metrics import PSNR_CAP, l1, mean_ci95, psnr, ssim
from .protocol import STROKES_P, check_families, evaluation_masks, save_masks

MIN_SIZE = 16  # px: the smallest evaluation images (the masks' brush and box sizes round off)

METRICS = ("psnr_hole", "psnr_full", "ssim", "l1_hole")


@dataclass(frozen=True)
class Averaged:
    """A model or backend scored with test-time flips and re-fill rounds (`cfg.flips`,
    `cfg.rounds` of the pipeline's `Pyramid`): `--flips N`, `--rounds R`."""
    method: object
    cfg: Pyramid

    def label(self, name: str) -> str:
        """`name [8 flips]`, `name [8 rounds]`, `name [8 flips, 8 rounds]`."""
        parts = [f"{self.cfg.flips} flips"] * (self.cfg.flips > 1)
        parts += [f"{self.cfg.rounds} rounds"] * (self.cfg.rounds > 0)
        return f"{name} [{', '.join(parts)}]"


Fill = tuple[torch.Tensor, torch.Tensor | None]  # (filled, σ or None), (N, C, H, W) each


def _run_model(model, images, masks, device, bf16, cfg: Pyramid = Pyramid()) -> Fill:
    dev = torch.device(device)
    # Precision as asked, by this autocast (fp32 unless --bf16), not the product's per-machine
    # default (bf16=None): tables that do not depend on the CPU they were measured on.
    with torch.no_grad(), torch.autocast(dev.type, torch.bfloat16, enabled=bf16):
        out, sigma = inpaint_with_std(model, images.to(dev), masks.to(dev), cfg=cfg, bf16=False)
    if dev.type == "cuda":
        torch.cuda.synchronize()  # honest wall time: wait for the kernels
    return out.float().cpu(), None if sigma is None else sigma.float().cpu()


def _run_fill(fill, images, masks, cfg: Pyramid = Pyramid()) -> Fill:
    """A single-scale backend (inference/onnx_backend.py) through the multi-scale pipeline, in
    its own precision (what `impaint inpaint --backend` runs)."""
    out, sigma = inpaint_pyramid(fill, images, masks, cfg, coarse=coarse_of(fill))
    return out.float(), None if sigma is None else sigma.float()


def _unaveraged(method) -> tuple[object, Pyramid]:
    """A method and its pipeline settings: (model, cfg) for `Averaged(model, cfg)`, else
    (method, the defaults)."""
    return (method.method, method.cfg) if isinstance(method, Averaged) else (method, Pyramid())


def _run_method(method, images, masks, device, bf16, empty_fill) -> Fill:
    method, cfg = _unaveraged(method)
    if isinstance(method, torch.nn.Module):
        return _run_model(method, images, masks, device, bf16, cfg)
    if is_fill(method):
        return _run_fill(method, images, masks, cfg)
    return _run_baseline(method, images, masks, empty_fill), None


def is_fill(method) -> bool:
    return not isinstance(method, torch.nn.Module) and hasattr(method, "probabilistic")


def _run_baseline(fn, images, masks, empty_fill) -> torch.Tensor:
    outs = []
    for img, m in zip(images, masks):  # (3, H, W), (1, H, W)
        if not m.any():  # a full mask: see the module docstring
            outs.append(empty_fill.view(3, 1, 1).expand_as(img).clone())
            continue
        arr = fn(img.permute(1, 2, 0).numpy(), m[0].numpy())  # (H, W, 3)
        outs.append(torch.from_numpy(np.asarray(arr, np.float32)).permute(2, 0, 1))
    return torch.stack(outs)


@dataclass
class Results:
    rows: list[dict]  # one per method x family x label: means, CIs, hole ratio, time
    methods: list[str]
    config: dict  # seed, image count and size, mask and baseline settings
    # method -> wall seconds to inpaint one image with one mask (metrics not included),
    # averaged over every mask; a model's batch time is divided by its batch size.
    time_per_image: dict[str, float]
    # First images of each row, for the grids: (family, label) -> {"image", "mask", method}.
    samples: dict = field(default_factory=dict, repr=False)
    # method -> the Markdown table of its σ's calibration, on the fills scored above (methods
    # that predict σ, when `evaluate` was asked to calibrate).
    calibration: dict[str, str] = field(default_factory=dict)

    def row(self, method: str, family: str, label: str) -> dict:
        return next(r for r in self.rows if (r["method"], r["family"], r["label"])
                    == (method, family, label))

    def table(self, metric: str = "psnr_hole", digits: int = 2, best=max) -> str:
        """Markdown: rows = masks, columns = methods, the best (`best` of the means) of each
        row in bold."""
        keys = list(dict.fromkeys((r["family"], r["label"]) for r in self.rows))
        lines = ["| mask | hole | " + " | ".join(self.methods) + " |",
                 "|---|---|" + "---|" * len(self.methods)]
        for family, label in keys:
            cells = [self.row(m, family, label) for m in self.methods]
            means = [round(c[metric], digits) for c in cells]
            top = best((v for v in means if not math.isnan(v)), default=None)
            text = [f"{c[metric]:.{digits}f} ± {c[metric + '_ci']:.{digits}f}" for c in cells]
            text = [f"**{t}**" if v == top else t for t, v in zip(text, means)]
            name = f"{family} {label}" + (" ¹" if family == "full" else "")
            lines.append(f"| {name} | {cells[0]['hole_ratio']:.2f} | " + " | ".join(text) + " |")
        return "\n".join(lines)

    def markdown(self) -> str:
        c = self.config
        classical = [m for m in self.methods if m in BASELINES]
        notes = [f"Masks: random = pixels missing independently with probability p; box = one "
                 f"rectangle; strokes = StrokesMask(p={c['strokes_p']}, width): brush strokes "
                 f"until {c['strokes_p']} of the image is missing, overshooting by up to one "
                 f"segment. 'hole' is the measured mean hole ratio of each row."]
        if "full" in {r["family"] for r in self.rows}:
            notes.append(f"¹ Nothing is known: {', '.join(classical) or 'the classical methods'}"
                         f" have nothing to propagate and are all reported as the mean colour "
                         f"of the {c['images']} evaluated images (an oracle constant fill).")
        notes.append(f"OpenCV radius: {c['opencv_radius']} px. PSNR capped at {PSNR_CAP:g} dB. "
                     f"Seed {c['seed']}, {c['images']} images of {c['size']} px"
                     + (f" from {c['data']} ({c['split']})" if "data" in c else "") + ".")
        if "checkpoints" in c:
            notes.append("Checkpoints: " + "; ".join(f"{k} = {v}" for k, v in
                                                     c["checkpoints"].items()) + ".")
        times = " · ".join(f"{m} {1e3 * s:.2f} ms" for m, s in self.time_per_image.items())
        return "\n".join([
            f"### PSNR on the hole (dB), mean ± 95 % CI over {c['images']} images", "",
            self.table("psnr_hole"), "", "### SSIM of the composed image", "",
            self.table("ssim", 3), "", "### L1 on the hole (mean absolute error, 0-1 scale; "
            "lower is better)", "", self.table("l1_hole", 4, best=min), "",
            "### PSNR of the composed image (dB)", "", self.table("psnr_full"), "",
            f"Time per image ({c['device']}): {times}", "",
            "Bold: the best mean of each row; where the ± intervals overlap, the row does not "
            "tell the methods apart.", "", *notes, ""])

    def write(self, out: str | Path) -> list[Path]:
        """results.csv, results.json, results.md and one grid_<family>.png per family."""
        from ..plots import image_grid, masked_for_display

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "results.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(self.rows[0]))
            w.writeheader()
            w.writerows(self.rows)
        clean = [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()}
                 for r in self.rows]  # strict JSON has no NaN
        (out / "results.json").write_text(json.dumps(
            {"config": self.config, "time_per_image_s": self.time_per_image, "rows": clean},
            indent=1))
        (out / "results.md").write_text(self.markdown())
        written = [out / "results.csv", out / "results.json", out / "results.md"]
        for family in dict.fromkeys(f for f, _ in self.samples):
            rows = []  # per label: the masked input, then each method; the truth at the end
            for (fam, label), s in self.samples.items():
                if fam == family:
                    shown = torch.stack([masked_for_display(i, m)
                                         for i, m in zip(s["image"], s["mask"])])
                    rows += [(f"{family} {label}\ninput", shown)]
                    rows += [(m, s[m]) for m in self.methods]
                    truth = s["image"]
            rows.append(("ground\ntruth", truth))
            written.append(image_grid(rows, out / f"grid_{family}.png",
                                      title=f"{family} masks: input / each method"))
        for stale in set(out.glob("grid_*.png")) - set(written):  # an earlier run's, other
            if stale.stem[5:] in TABLE_MASKS:                    # families: not beside these
                stale.unlink()
        grids = [p for p in written if p.suffix == ".png"]
        if grids:
            with open(out / "results.md", "a") as f:
                f.write("\n### The first images of each family\n\n" + "\n".join(
                    f"![{p.stem[5:]}]({p.name})" for p in grids) + "\n")
        return written


def _check_inputs(dataset_images: torch.Tensor, methods: dict, batch: int) -> None:
    if dataset_images.dtype != torch.uint8 or dataset_images.ndim != 4 or \
            dataset_images.shape[1] != 3:
        raise ValueError(f"expected (N, 3, H, W) uint8 images, got "
                         f"{tuple(dataset_images.shape)} {dataset_images.dtype}")
    if dataset_images.shape[0] == 0:
        raise ValueError("no images to evaluate")
    if not methods:
        raise ValueError("no methods to evaluate")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    for name, m in methods.items():
        inner = _unaveraged(m)[0]
        if not (isinstance(inner, torch.nn.Module) or is_fill(inner) or callable(m)):
            raise ValueError(f"method {name!r} is neither a model nor a function")


def _warm_up(methods: dict, image: torch.Tensor, device: str, bf16: bool) -> None:
    """One pass of each model or backend on `image` (1, 3, H, W), so that its first timed
    batch runs in the steady state (allocations, kernel choice) like the rest."""
    for m in methods.values():
        inner = _unaveraged(m)[0]
        if isinstance(inner, torch.nn.Module):
            inner.to(device).eval()
        if isinstance(inner, torch.nn.Module) or is_fill(inner):
            _run_method(m, image, torch.ones(1, 1, *image.shape[-2:]), device, bf16, None)


@dataclass
class _Scores:
    """What the batches leave, keyed by (method, family, label)."""
    values: dict  # -> {metric: [one value per image]}
    seconds: dict  # -> wall seconds of the method's fills
    samples: dict  # (family, label) -> {"image", "mask", method: the first outputs}
    kept: dict  # -> [(filled, σ)] batches, for the calibration


def _score(images: torch.Tensor, masks: dict, methods: dict, empty_fill: torch.Tensor, *,
           batch: int, device: str, bf16: bool, grid_images: int, calibrate: bool,
           progress: bool) -> _Scores:
    """Every method on every image x mask, batch by batch: the metrics of each fill, its time,
    the first outputs for the grids. images: (N, 3, H, W) in [0, 1]; empty_fill: (3,), what
    a classical method gives a full mask."""
    n = images.shape[0]
    values = {(m, *k): {name: [] for name in METRICS} for m in methods for k in masks}
    seconds = {key: 0.0 for key in values}
    samples = {k: {"image": images[:grid_images], "mask": masks[k][:grid_images]}
               for k in masks} if grid_images > 0 else {}
    kept: dict = {}
    bar = progress_bar(total=n, desc="evaluating", unit="img", disable=not progress)
    for start in range(0, n, batch):
        img = images[start:start + batch]
        for key, all_masks in masks.items():
            mk = all_masks[start:start + batch]
            for name, method in methods.items():
                t0 = time.perf_counter()
                outp, sigma = _run_method(method, img, mk, device, bf16, empty_fill)
                seconds[(name, *key)] += time.perf_counter() - t0
                if calibrate and sigma is not None:
                    kept.setdefault((name, *key), []).append((outp, sigma))
                s = values[(name, *key)]
                for o, t, m in zip(outp, img, mk):
                    s["psnr_hole"].append(psnr(o, t, 1 - m))
                    s["psnr_full"].append(psnr(o, t))
                    s["ssim"].append(ssim(o, t))
                    s["l1_hole"].append(l1(o, t, 1 - m))
                if start < grid_images:  # keep the first outputs for the grids
                    prev = samples[key].get(name)
                    keep = outp[:grid_images - start]
                    samples[key][name] = keep if prev is None else torch.cat([prev, keep])
        bar.update(img.shape[0])
    bar.close()
    return _Scores(values, seconds, samples, kept)


def _rows(scores: _Scores, masks: dict, n: int) -> list[dict]:
    """One row per (method, family, label): each metric's mean and 95 % CI, the hole ratio,
    the time per image."""
    rows = []
    for (name, family, label), s in scores.values.items():
        row = {"method": name, "family": family, "label": label, "images": n,
               "hole_ratio": float(np.mean([hole_ratio(m) for m in masks[family, label]]))}
        for metric, values in s.items():
            row[metric], row[metric + "_ci"] = mean_ci95(values)
        row["seconds_per_image"] = scores.seconds[(name, family, label)] / n
        rows.append(row)
    return rows


def evaluate(dataset_images: torch.Tensor, methods: dict, seed: int = 0, families=None,
             out: str | Path | None = None, *, batch: int = 32, device: str = "cpu",
             bf16: bool = False, grid_images: int = 6, write_masks: bool = False,
             progress: bool = True, calibrate: bool = False, about: dict | None = None
             ) -> Results:
    """Run every method on every image x mask; write the outputs to `out` if given. `about`:
    what the caller knows of the run (data, split, checkpoints), kept in its config.
    `calibrate`: also the calibration of each method's σ on the fills scored (`Results.
    calibration`; its files into `out`), keeping those fills and σ in memory until the end.

    dataset_images: (N, 3, H, W) uint8. methods: name -> an ImplicitInpainter (run batched,
    under torch.no_grad), a single-scale backend (`onnx_backend.load_backend`; batched),
    either as `Averaged(model, cfg)`, or a baseline function `fn(image, mask)` (baselines.py).
    """
    _check_inputs(dataset_images, methods, batch)
    n, size = dataset_images.shape[0], tuple(dataset_images.shape[-2:])  # (H, W)
    _warm_up(methods, dataset_images[:1].float() / 255, device, bf16)
    masks = evaluation_masks(n, size, seed, families)
    images = dataset_images.float() / 255  # (N, 3, H, W)
    empty_fill = images.mean(dim=(0, 2, 3))  # (3,) mean colour, for classical full masks
    scores = _score(images, masks, methods, empty_fill, batch=batch, device=device, bf16=bf16,
                    grid_images=grid_images, calibrate=calibrate, progress=progress)
    per_method = {m: sum(v for k, v in scores.seconds.items() if k[0] == m) / (n * len(masks))
                  for m in methods}
    config = {"seed": seed, "images": n,
              "size": size[0] if size[0] == size[1] else f"{size[1]}x{size[0]}",  # W x H
              "families": list(dict.fromkeys(f for f, _ in masks)), "strokes_p": STROKES_P,
              "device": device, "bf16": bf16, "opencv_radius": opencv_radius(*size),
              "full_mask_fill": [round(float(v), 6) for v in empty_fill],
              **(about or {})}
    results = Results(_rows(scores, masks, n), list(methods), config, per_method,
                      scores.samples)
    if out is not None:
        results.write(out)
        if write_masks:
            save_masks(masks, out)
    kept = scores.kept
    for name in dict.fromkeys(k[0] for k in kept):  # is the predicted σ honest?
        fills = {key: (torch.cat([o for o, _ in kept[(name, *key)]]),
                       torch.cat([s for _, s in kept[(name, *key)]]), masks[key])
                 for key in masks if (name, *key) in kept}
        results.calibration[name] = calibration_table(fills, images, out, name)
    return results


def checkpoint_names(paths) -> dict:
    """Method name -> checkpoint path (None: the shipped default, named plain `impaint`)."""
    named = {}
    given = list(dict.fromkeys(map(Path, paths))) if paths else [None]
    stems = [p.stem for p in given if p is not None]
    for path in given:
        # two best.safetensors from different runs: each named with its run folder
        name = ("impaint" if path is None else f"impaint:{path.stem}" if stems.count(path.stem)
                == 1 else f"impaint:{path.parent.name}/{path.stem}")
        named[f"impaint:{path}" if name in named else name] = path
    return named


def _checkpoint_methods(paths, backend: str | None = None) -> dict:
    """Checkpoints by name; none given means the shipped model, named plain `impaint`. With
    `backend`, each one also through it, as `<name> [<backend>]`. An exported graph is scored
    as it is: an OpenVINO one (.xml) in OpenVINO, an ONNX one in `backend` or onnxruntime."""
    from ..inference.onnx_backend import load_backend
    from ..model import load_model

    named = checkpoint_names(paths)
    kinds = {name: Path(str(path)).suffix.lower() for name, path in named.items()}
    graphs = {name for name, kind in kinds.items() if kind in (".xml", ".onnx")}
    # a graph (`impaint export`) runs as itself, through the pipeline
    models = {name: load_backend("openvino" if kinds[name] == ".xml" else
                                 backend or "onnxruntime", path)
              if name in graphs else load_model(path) for name, path in named.items()}
    if backend:
        models.update({f"{name} [{backend}]": load_backend(backend, path)
                       for name, path in named.items() if name not in graphs})
    return models


def native_images(root, split: str, folder: bool, limit: int | None, skip: int = 0):
    """The first `limit` images of a CelebA split or a folder (after its first `skip`), as
    they are on disk (no crop, no resize) -> ImageTensorDataset (N, 3, H, W); they must all
    have one size."""
    from PIL import Image, ImageOps

    from ..data import ImageTensorDataset, has_splits
    from ..data.datasets import DataError, folder_files, rgb, split_files

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


def evaluation_images(root, split: str, size: int, folder: bool, native: bool,
                      limit: int | None, skip: int = 0):
    """The images `evaluate` and `scales` score: at their own size (`native`), else
    square-cropped and resized to `size`; a CelebA split, or a folder (`folder`, or no
    partition file), less its first `skip` images (those a checkpoint trained on)."""
    from ..data import ImageFolder, ImageTensorDataset, has_splits, open_dataset

    check_limit(limit)
    limit = limit or None  # 0: all, as every command's --limit
    if not native and size < MIN_SIZE:
        raise ValueError(f"--size must be at least {MIN_SIZE} px, got {size}")
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
    from ..data.datasets import folder_files, tensor_file_count

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


DEFAULT_NOTE = ("celeba32, the shipped model for aligned 32-px faces (--checkpoint general for "
                "photos, faces for faces larger than 32 px)")


def _chosen_methods(args, settings: Pyramid) -> dict:
    """Name -> method: the checkpoints (each also averaged, with --flips / --rounds) and the
    baselines, or those `--methods` names."""
    models = _checkpoint_methods(args.checkpoint, args.backend)
    if settings.averaged:
        models.update({Averaged(model, settings).label(name): Averaged(model, settings)
                       for name, model in models.items()})
    available = {**models, **BASELINES}
    chosen = args.methods or list(available)
    for name in chosen:
        if name not in available:
            raise ValueError(f"unknown method {name!r}; choose from {list(available)}")
    if args.methods and settings.averaged:  # a chosen checkpoint: averaged too
        chosen = [n for name in chosen for n in (name, Averaged(None, settings).label(name))
                  if n in available]
    return {name: available[name] for name in dict.fromkeys(chosen)}


def _models(methods: dict, probabilistic: bool = False, stochastic: bool = False) -> dict:
    """The PyTorch models among `methods`: those that predict σ, or have a stochastic latent."""
    return {k: m for k, m in methods.items() if isinstance(m, torch.nn.Module)
            and (not probabilistic or m.cfg.probabilistic)
            and (not stochastic or m.latent is not None)}


def _append_table(out, table: str, image: str | None = None, alt: str = "") -> None:
    """Print a table and add it to out/results.md, with `image` (a file in `out`) if written."""
    print(table)
    shown = image and (Path(out) / image).exists()
    with open(Path(out) / "results.md", "a") as f:
        f.write("\n" + table + (f"\n![{alt}]({image})\n" if shown else ""))


def evaluate_cli(args) -> Results:
    from ..data import has_splits

    if Path(args.out).exists() and not Path(args.out).is_dir():  # before the work, not after
        raise ValueError(f"-o {args.out} is a file: -o names the folder to write the results "
                         "into")
    check_limit(args.limit)  # before the models load
    check_out_outside(args.out, args.data, args.split, args.folder)
    if args.grid_images < 0:
        raise ValueError(f"--grid-images must be 0 (none) or more, got {args.grid_images}")
    check_families(args.families)
    check_native_size(args.native, args.size)
    if args.samples < 0:
        raise ValueError(f"--samples must be 0 (none) or a number of samples, got {args.samples}")
    device = str(pick_device(args.device))  # a bad one, or CUDA where there is none: one line
    settings = Pyramid(flips=args.flips or 1, rounds=args.rounds)  # checked before the work
    methods = _chosen_methods(args, settings)
    if args.loglik and not _models(methods, probabilistic=True):  # before, not after, the work
        raise ValueError("--loglik needs a probabilistic checkpoint")
    if args.samples and not _models(methods, stochastic=True):  # else silently no table
        raise ValueError("--samples needs a checkpoint with a stochastic latent (train one "
                         "with --set model.latent_dim=8)")
    sizes = [m.image_size for m in methods.values() if getattr(m, "image_size", None)]
    # Any size: models run through the multi-scale pipeline (inference/pipeline.py).
    size = args.size if args.size is not None else (sizes[0] if sizes else 32)  # 0: refused
    if size < MIN_SIZE:
        raise ValueError(f"--size must be at least {MIN_SIZE} px, got {size}")
    data, skip = scored_images("evaluate", args.data, args.split, size, args.folder,
                               args.native, args.limit, methods)
    checkpoints = {name: str(path) if path else DEFAULT_NOTE
                   for name, path in checkpoint_names(args.checkpoint).items() if name in methods}
    if not args.checkpoint and "impaint" in methods:  # the default is a 32-px face model
        print(f"impaint evaluate: impaint = {DEFAULT_NOTE}")
    plain = args.folder or not has_splits(args.data)
    kind = "a file of decoded images" if is_tensor_file(args.data) else "a plain folder"
    split = (f"{kind}, the images after the first {skip:,}, held out of training"
             if plain and skip else kind if plain else args.split)
    about = {"data": str(args.data), "split": split, "checkpoints": checkpoints}
    results = evaluate(data.images, methods, args.seed, args.families, args.out,
                       batch=args.batch, device=device, bf16=args.bf16,
                       grid_images=args.grid_images, write_masks=args.save_masks,
                       progress=not args.quiet, calibrate=True, about=about)
    print(results.markdown())
    for name, table in results.calibration.items():  # σ of the fills scored (averaged too)
        _append_table(args.out, table, f"reliability_{file_stem(name)}.png",
                      f"reliability of {name}")
    images = data.images.float() / 255
    if args.samples:  # diversity against fidelity, on two hole families
        from .diversity import diversity_report
        for name, model in _models(methods, stochastic=True).items():
            _append_table(args.out, diversity_report(model, images, args.samples, args.seed,
                                                     Path(args.out), name))
    if args.loglik:
        from .loglik import loglik_per_image, loglik_table
        source = f"images of {args.data}" if plain else f"{args.split} images"
        for name, model in _models(methods, probabilistic=True).items():
            values = loglik_per_image(model, images, args.seed)
            _append_table(args.out, loglik_table(name, values, tuple(data.images.shape[1:]),
                                                 source))
    print(f"wrote {Path(args.out) / 'results.md'}, results.csv, results.json"
          f"{' and grid_*.png' if args.grid_images else ''}")
    return results


def evaluate_for_report(images: torch.Tensor, checkpoint, out: str | Path, seed: int = 0) -> str:
    """The full comparison (a checkpoint, or the shipped model, vs. every baseline) as
    Markdown, with all outputs written to `out`; used by `impaint reproduce`."""
    methods = {**_checkpoint_methods([checkpoint] if checkpoint else []), **BASELINES}
    results = evaluate(images, methods, seed, out=out, progress=True)
    return results.markdown()
