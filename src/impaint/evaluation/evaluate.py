"""`impaint evaluate`: checkpoints and classical baselines on the same fixed, seeded masks
(protocol.py).

Metrics (metrics.py, per image, then mean and 95 % CI over images): PSNR on the hole,
PSNR and SSIM of the whole composed image, L1 on the hole. PSNR is capped at 100 dB.
Full masks leave nothing to propagate: every classical method is then reported as the mean
colour of the evaluated images (an oracle constant: the best any constant fill can do).

Layout: this module holds the entry points (`evaluate`, `evaluate_cli`,
`evaluate_for_report`) and the checkpoints they score; scoring.py runs and scores the methods,
results.py writes the tables, images.py chooses the images.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .baselines import BASELINES, opencv_radius
from ..data.decoded import is_tensor_file
from ..inference.pyramid import Pyramid
from ..precision import pick_device
from .calibration import calibration_table, file_stem
from .images import (  # noqa: F401  (the names not used here: re-exported, the old path)
    MIN_SIZE, check_limit, check_native_size, check_out_outside, check_size,
    evaluation_images, held_out_start, native_images, scored_images, trained_on)
from .protocol import STROKES_P, check_families, evaluation_masks, save_masks
from .results import Results
from .scoring import (  # noqa: F401  (the names not used here: re-exported, the old path)
    METRICS, Averaged, Fill, check_inputs, is_fill, model_of, rows, score, warm_up)


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
    check_inputs(dataset_images, methods, batch)
    device = str(pick_device(device))  # a bad one, or CUDA where there is none: one line
    # The models go to `device` in eval mode for the work, and back as they were after it
    # (a model evaluated between training steps goes on training where it was).
    models = [m for m in map(model_of, methods.values()) if m is not None]
    before = [(m, m.training, next(m.parameters(), torch.empty(0)).device) for m in models]
    try:
        return _evaluated(dataset_images, methods, seed, families, out, batch, device, bf16,
                          grid_images, write_masks, progress, calibrate, about)
    finally:
        for m, training, where in before:
            m.to(where).train(training)


def _evaluated(dataset_images, methods, seed, families, out, batch, device, bf16, grid_images,
               write_masks, progress, calibrate, about) -> Results:
    """`evaluate`'s work, on checked inputs."""
    n, size = dataset_images.shape[0], tuple(dataset_images.shape[-2:])  # (H, W)
    warm_up(methods, dataset_images[:1].float() / 255, device, bf16)
    masks = evaluation_masks(n, size, seed, families)
    images = dataset_images.float() / 255  # (N, 3, H, W)
    empty_fill = images.mean(dim=(0, 2, 3))  # (3,) mean colour, for classical full masks
    scores = score(images, masks, methods, empty_fill, batch=batch, device=device, bf16=bf16,
                   grid_images=grid_images, calibrate=calibrate, progress=progress)
    per_method = {m: sum(v for k, v in scores.seconds.items() if k[0] == m) / (n * len(masks))
                  for m in methods}
    config = {"seed": seed, "images": n,
              "size": size[0] if size[0] == size[1] else f"{size[1]}x{size[0]}",  # W x H
              "families": list(dict.fromkeys(f for f, _ in masks)), "strokes_p": STROKES_P,
              "device": device, "bf16": bf16, "opencv_radius": opencv_radius(*size),
              "full_mask_fill": [round(float(v), 6) for v in empty_fill],
              **(about or {})}
    results = Results(rows(scores, masks, n), list(methods), config, per_method,
                      scores.samples)
    earlier = earlier_methods(out)  # read before this run's results.json replaces it
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
    # The calibration files of an earlier run's methods not calibrated now: not beside these
    # results (as its other families' grids). Only those: a user's own files stay.
    for stem in {file_stem(m) for m in earlier} - {file_stem(m) for m in results.calibration}:
        for stale in (f"calibration_{stem}.json", f"reliability_{stem}.png"):
            (Path(out) / stale).unlink(missing_ok=True)
    return results


def earlier_methods(out) -> list[str]:
    """The methods an earlier run's results.json in `out` names (none if it has none)."""
    if out is None:
        return []
    try:
        return list(json.loads((Path(out) / "results.json").read_text())["time_per_image_s"])
    except (OSError, ValueError, KeyError):
        return []


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

    check_limit(args.limit)  # before the models load
    check_out_outside(args.out, args.data, args.split, args.folder)
    if args.grid_images < 0:
        raise ValueError(f"--grid-images must be 0 (none) or more, got {args.grid_images}")
    check_families(args.families)
    check_native_size(args.native, args.size)
    check_size(args.size, args.native)  # before the models load
    if args.checkpoint and len(set(args.checkpoint)) < len(args.checkpoint):  # as scales
        raise ValueError("--checkpoint names the same checkpoint twice")
    if args.batch < 1:  # else said by evaluate(), after the images are decoded
        raise ValueError(f"--batch must be at least 1, got {args.batch}")
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
    size = args.size if args.size is not None else (sizes[0] if sizes else 32)  # checked
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
