"""`impaint ablate`: does each part of the seed's design earn its place?

Every variant is a set of config overrides on the seed configuration (no code forks) and is
trained with the same data, steps, batch, optimiser and seed, at the same parameter budget
(±10 %), then evaluated on the valid split with the evaluation harness (same masks). Each
finished variant leaves DIR/<name>/row.json, so an interrupted study resumes where it stopped.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np
import torch

from .timing import _timeit, train_step_fn
from .variants import DEFAULT_STEPS, SEED_BASE, VARIANTS
from ..data import has_splits
from ..evaluation.evaluate import evaluate
from ..evaluation.images import evaluation_images, held_out_start
from ..model import (ModelConfig, build_model, count_parameters, inpaint, load_model,
                     read_checkpoint)
from ..precision import native_bf16
from ..train import (TrainConfig, TrainingStopped, apply_overrides, config_from_dict,
                     config_to_dict, train)

SUMMARY_COLUMNS = [("random", "random"), ("box", "box"), ("strokes", "strokes"),
                   ("full", "full")]


def variant_config(name: str, data: str, out: Path, steps: int, batch: int, seed: int,
                   size: int) -> TrainConfig:
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}; choose from {list(VARIANTS)}")
    cfg = TrainConfig(data=str(data), out=str(out / name), steps=steps, batch=batch, seed=seed,
                      size=size, valid_every=max(1, steps // 4))
    return apply_overrides(cfg, SEED_BASE + VARIANTS[name][1])


def check_budget(names) -> dict[str, int]:
    """Parameters of every variant; all within ±10 % of the seed's."""
    counts = {n: count_parameters(build_model(variant_config(
        n, "", Path("."), 1, 1, 0, 32).model)) for n in names}
    base = count_parameters(build_model(variant_config("seed", "", Path("."), 1, 1, 0, 32).model))
    for n, c in counts.items():
        if abs(c - base) / base > 0.10:
            raise ValueError(f"variant {n} has {c:,} parameters, outside ±10 % of {base:,}")
    return counts


@torch.no_grad()
def inference_speed(model, size: int, batch: int = 64, repeats: int = 5) -> float:
    img, mask = torch.rand(batch, 3, size, size), torch.ones(batch, 1, size, size)
    mask[..., size // 4:size // 2, :] = 0
    model.eval()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=native_bf16()):
        model(img, mask)  # warm-up in the precision timed (bf16 kernels are made on first use)
        t = time.perf_counter()
        for _ in range(repeats):
            model(img, mask)
    return batch * repeats / (time.perf_counter() - t)


def cpu_training_speed(model, size: int, batch: int = 64) -> float:
    """Images/s of one AdamW step (bf16 where the CPU has it) of the model on this CPU (masks
    and any discriminator not counted), so variants trained elsewhere compare on one footing."""
    import copy
    step = train_step_fn(copy.deepcopy(model).train(), batch, size, fast=True)
    return batch / _timeit(step, repeats=2, warmup=1)


def study_settings(data: str, steps: int, batch: int, seed: int, size: int,
                   valid_images: int) -> dict:
    """What a variant's row depends on: a row.json written with other settings is stale."""
    return {"data": str(Path(data).resolve()), "steps": steps, "batch": batch, "seed": seed,
            "size": size, "valid_images": valid_images}


def earlier_run_problem(name: str, out: Path, settings: dict) -> str | None:
    """Why the run already in DIR/<name> cannot go on into this study (one line), or None.
    A checkpoint trained with another batch, seed or size, on other data, or for more steps
    than asked would be labelled with settings it was not trained with; fewer steps resume."""
    ckpt = out / name / "last.safetensors"
    if not ckpt.exists():
        return None
    state = read_checkpoint(ckpt)[1]
    saved = state.get("train_config", {})
    differ = [f"{k} {saved.get(k)}" for k in ("batch", "seed", "size")
              if saved.get(k) != settings[k]]
    # another variant's checkpoint, copied or renamed here, would be scored under this name
    own = variant_config(name, settings["data"], out, settings["steps"], settings["batch"],
                         settings["seed"], settings["size"])
    varied = {item.split("=")[0] for _, overrides in VARIANTS.values() for item in overrides
              if not item.startswith("model.")}  # the training settings the variants change
    theirs = config_from_dict({**config_to_dict(own), **saved})  # JSON lists: tuples again
    if ModelConfig.from_dict(state["model_config"]) != own.model or any(
            getattr(theirs, k) != getattr(own, k) for k in varied):
        differ.append("another variant's settings")
    # Weights trained on another machine (the GPU) name a folder this one does not have.
    data = Path(saved.get("data", ""))
    if data.exists() and str(data.resolve()) != settings["data"]:
        differ.append(f"data {data}")
    if state.get("step", 0) > settings["steps"]:
        differ.append(f"{state['step']:,} steps")
    if not differ:
        return None
    asked = ", ".join(f"{k} {settings[k]}" for k in ("batch", "seed", "size", "steps"))
    return (f"{out / name} holds a run trained with {', '.join(differ)} (this study: {asked}): "
            f"give the same settings to go on with it, or another --out")


def run_variant(name: str, data: str, out: Path, steps: int, batch: int, seed: int,
                size: int, valid_images: torch.Tensor) -> dict:
    settings = study_settings(data, steps, batch, seed, size, valid_images.shape[0])
    row_path = out / name / "row.json"
    if row_path.exists():  # finished in an earlier run with the same settings: the study resumes
        row = json.loads(row_path.read_text())
        if row.get("settings") == settings:
            return row
    cfg = variant_config(name, data, out, steps, batch, seed, size)
    ckpt = out / name / "last.safetensors"
    # A checkpoint already at `steps` (a finished run, or weights trained elsewhere and copied
    # here without optimizer state) is evaluated as it is; a shorter one resumes, validating
    # as often as it was set up to (a study asked for more steps would validate less often).
    done = 0
    if ckpt.exists():
        state = read_checkpoint(ckpt)[1]
        done, cfg.valid_every = state["step"], state["train_config"]["valid_every"]
    if done < steps:
        train(cfg, resume=done > 0, progress=True)
    model = load_model(ckpt)
    train_seconds = model.checkpoint_state.get("elapsed_seconds", float("nan"))
    log_path = out / name / "log.csv"  # none beside weights copied in from elsewhere
    log = []
    if log_path.exists():
        with open(log_path) as f:
            log = list(csv.DictReader(f))
    results = evaluate(valid_images, {name: model}, seed, out=None, grid_images=0,
                       progress=False)
    row = {"variant": name, "what": VARIANTS[name][0], "parameters": count_parameters(model),
           "steps": steps, "settings": settings,
           "train_images_per_s": float(log[-1]["images_per_s"]) if log else float("nan"),
           "cpu_train_images_per_s": cpu_training_speed(model, size),
           "train_seconds": train_seconds, "infer_images_per_s": inference_speed(model, size),
           "psnr_hole": {f"{r['family']} {r['label']}": r["psnr_hole"] for r in results.rows},
           "ssim": float(np.mean([r["ssim"] for r in results.rows]))}
    row_path.write_text(json.dumps(row, indent=1))
    return row


def ablation_markdown(rows: list[dict], steps: int, images: int) -> str:
    keys = list(rows[0]["psnr_hole"])
    head = ("| variant | " + " | ".join(keys) + " | mean | SSIM | params | train img/s ¹ | "
            "infer img/s ¹ |")
    lines = [f"# Ablation: {steps} steps per variant, valid PSNR on the hole (dB), "
             f"{images} images", "", head, "|" + "---|" * (len(keys) + 6)]
    for r in rows:
        v = [r["psnr_hole"][k] for k in keys]
        name = f"**{r['variant']}** (seed)" if r["variant"] == "seed" else r["variant"]
        lines.append(f"| {name} | " + " | ".join(f"{x:.2f}" for x in v) +
                     f" | {np.mean(v):.2f} | {r['ssim']:.3f} | {r['parameters']:,} | "
                     f"{r.get('cpu_train_images_per_s', r['train_images_per_s']):.0f} | "
                     f"{r['infer_images_per_s']:.0f} |")
    lines += ["", "¹ Measured on the machine that wrote this table, on its CPU: one AdamW step "
              f"({'bf16' if native_bf16() else 'fp32: this CPU has no native bf16'}) "
              "at batch 64 (mask drawing and the adversarial variant's discriminator not "
              "counted), and inference at batch 64.",
              "", "## What this shows", "", what_this_shows(rows), "",
              "Variants: " + "; ".join(f"`{r['variant']}`: {r['what']}" for r in rows) + "."]
    return "\n".join(lines) + "\n"


def what_this_shows(rows: list[dict]) -> str:
    """Sentences read off the numbers: each variant's mean change against the seed."""
    by = {r["variant"]: r for r in rows}
    if "seed" not in by:
        return "The seed configuration was not run, so nothing is compared."
    base = np.mean(list(by["seed"]["psnr_hole"].values()))
    deltas = {n: np.mean(list(r["psnr_hole"].values())) - base for n, r in by.items()
              if n != "seed"}
    if not deltas:
        return f"Only the seed was run: mean hole PSNR {base:.2f} dB."
    best = max(deltas, key=deltas.get)
    worst = min(deltas, key=deltas.get)
    if len(deltas) == 1:
        parts = [f"Against the seed's mean hole PSNR of {base:.2f} dB, `{best}` changes it by "
                 f"{deltas[best]:+.2f} dB."]
    else:
        parts = [f"Against the seed's mean hole PSNR of {base:.2f} dB, the best variant is "
                 f"`{best}` ({deltas[best]:+.2f} dB) and the worst `{worst}` "
                 f"({deltas[worst]:+.2f} dB)."]
    if "conv_decoder" in deltas:
        d = deltas["conv_decoder"]
        parts.append("The plain convolutional decoder " + (
            f"beats the implicit MLP decoder by {d:.2f} dB at this budget: on fixed grids the "
            "coordinate decoder does not earn its place by PSNR alone." if d > 0.05 else
            f"trails the implicit MLP decoder by {-d:.2f} dB." if d < -0.05 else
            "matches the implicit MLP decoder within 0.05 dB."))
    if "no_coords" in deltas:
        d = deltas["no_coords"]
        parts.append(f"Removing the coordinate input changes the mean by {d:+.2f} dB.")
    if "unet_gated" in deltas:
        parts.append(f"The gated-convolution U-Net changes the mean by "
                     f"{deltas['unet_gated']:+.2f} dB (box 0.75: "
                     f"{_delta(by, 'unet_gated', 'box 0.75'):+.2f} dB).")
    if "adversarial" in deltas:
        d = deltas["adversarial"]
        parts.append(f"The adversarial loss {'costs' if d < 0 else 'gains'} {abs(d):.2f} dB of "
                     "mean PSNR (PSNR rewards the blurred average; look at the grid for "
                     "sharpness).")
    if "tv_0" in deltas and "tv_10x" in deltas:
        parts.append(f"TV weight 0 / 10x: {deltas['tv_0']:+.2f} / {deltas['tv_10x']:+.2f} dB.")
    for family in ("random", "box", "strokes"):
        name = f"masks_{family}"
        if name in by:
            own = [k for k in by[name]["psnr_hole"] if k.startswith(family)]
            other = [k for k in by[name]["psnr_hole"] if not k.startswith((family, "full"))]
            parts.append(f"Trained on {family} masks only: {_mean_delta(by, name, own):+.2f} dB "
                         f"on {family}, {_mean_delta(by, name, other):+.2f} dB on the other "
                         "families.")
    return " ".join(parts)


def _delta(by: dict, name: str, key: str) -> float:
    return by[name]["psnr_hole"][key] - by["seed"]["psnr_hole"][key]


def _mean_delta(by: dict, name: str, keys: list[str]) -> float:
    return float(np.mean([_delta(by, name, k) for k in keys]))


def variants_grid(names: list[str], out: Path, size: int, seed: int = 0) -> Path:
    """The same faces and masks (box 0.5, strokes medium) filled by every variant. The faces
    are the ones scikit-image ships (as in `impaint demo`), so the figure can be published."""
    from ..evaluation.protocol import evaluation_masks
    from ..inference.demo import bundled_faces
    from ..plots import image_grid, masked_for_display

    images = bundled_faces(size)
    masks = evaluation_masks(images.shape[0], size, seed, ["box", "strokes"])
    models = {name: load_model(out / name / "last.safetensors") for name in names}
    rows = []
    for key in [("box", "0.5"), ("strokes", "medium")]:
        m = masks[key]
        rows.append((f"{' '.join(key)}\ninput", torch.stack(
            [masked_for_display(i, k) for i, k in zip(images, m)])))
        with torch.no_grad():
            rows += [(name, inpaint(model, images, m)) for name, model in models.items()]
    rows.append(("ground\ntruth", images))
    return image_grid(rows, out / "variants.png", title="every variant on the same masks")


def run_ablation(data: str, out: str | Path, steps: int = DEFAULT_STEPS, batch: int = 64,
                 only: list[str] | None = None, seed: int = 0, size: int = 32,
                 valid_limit: int | None = 500) -> Path:
    out = Path(out)
    names = list(only or VARIANTS)
    if steps < 1:
        raise ValueError(f"--steps must be at least 1, got {steps}")
    check_budget(names)
    skip = 0 if has_splits(data) else held_out_start(data)  # what the variants train on
    if skip:
        print(f"impaint ablate: {data} is a plain folder: the variants train on its first "
              f"{skip:,} images and are scored on the ones held out after them")
    valid = evaluation_images(data, "valid", size, False, False, valid_limit, skip).images
    # Every variant is checked before any trains: a clash found an hour in wastes the hour.
    settings = study_settings(data, steps, batch, seed, size, valid.shape[0])
    for problem in filter(None, (earlier_run_problem(n, out, settings) for n in names)):
        raise ValueError(problem)
    rows = []
    for n in names:
        try:
            rows.append(run_variant(n, data, out, steps, batch, seed, size, valid))
        except TrainingStopped as e:  # saved at a whole step; the study has no --resume
            raise TrainingStopped(e.where, "the same impaint ablate command goes on from "
                                  "there (finished variants are kept)") from None
    # --only: the table keeps the study's other variants finished here with these settings
    done = {row["variant"]: row for row in rows} | {
        n: row for n in VARIANTS if n not in names and (p := out / n / "row.json").exists()
        and (row := json.loads(p.read_text())).get("settings") == settings}
    rows = [done[n] for n in VARIANTS if n in done]
    variants_grid([row["variant"] for row in rows], out, size, seed)
    (out / "ABLATION.md").write_text(ablation_markdown(rows, steps, valid.shape[0]) +
                                     "\n![every variant on the same masks](variants.png)\n")
    return out / "ABLATION.md"
