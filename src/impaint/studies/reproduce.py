"""`impaint reproduce`: every experiment of the method's original presentation, one command.

Writes into DIR: the training curve of the model, the four inpainting figures (box 0.75,
random 0.5, random 0.3, fully masked), the latent-space figures (interpolation between two
faces' Z, principal directions of Z over the split), the evaluation table, and REPORT.md
embedding them all. The same 8 images, chosen by seed, appear in every inpainting figure.
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from ..data.masks import BoxMask, FullMask, RandomMask, mask_batch
from ..evaluation.images import scored_images
from ..evaluation.metrics import psnr
from ..model import inpaint, load_model, shipped_weights_path
from ..model.checkpoint import PAIRS, SHIPPED
from ..plots import image_grid, masked_for_display, training_curve

FIGURES = {  # file stem -> (title, mask generator)
    "box_075": ("Rectangular mask, hole ratio 0.75", BoxMask(0.75)),
    "random_050": ("Random mask, hole ratio 0.5", RandomMask(0.5)),
    "random_030": ("Random mask, hole ratio 0.3", RandomMask(0.3)),
    "full": ("Totally masked input: the learned average face", FullMask()),
}
LATENT_MASK = RandomMask(0.5)  # faces are encoded through this mask for the latent figures


def inpainting_figure(model, images: torch.Tensor, gen, title: str, out_png: Path,
                      seed: int) -> float:
    """Masked input / output / ground truth; returns the mean PSNR on the hole."""
    size = images.shape[-1]
    masks = mask_batch(gen, images.shape[0], size, size, torch.Generator().manual_seed(seed))
    out = inpaint(model, images, masks)
    shown = torch.stack([masked_for_display(i, m) for i, m in zip(images, masks)])
    image_grid([("masked\ninput", shown), ("output", out), ("ground\ntruth", images)],
               out_png, title)
    values = [psnr(o, i, 1 - m) for o, i, m in zip(out, images, masks)]
    return sum(values) / len(values)


@torch.no_grad()
def encode_through(model, images: torch.Tensor, seed: int) -> torch.Tensor:
    """Z of each image seen through the same seeded random 0.5 mask. -> (N, C_z, H, W)."""
    size = images.shape[-1]
    mask = LATENT_MASK(size, size, torch.Generator().manual_seed(seed))
    return model.encode(images, mask.expand(images.shape[0], 1, size, size))


@torch.no_grad()
def interpolation_figure(model, images: torch.Tensor, out_png: Path, seed: int,
                         steps: int = 8) -> None:
    """Decode (1 - t) Z_a + t Z_b for pairs of faces (a, b); one row per pair."""
    z = encode_through(model, images, seed)
    ts = torch.linspace(0, 1, steps)
    rows = []
    for a, b in [(0, 1), (2, 3), (4, 5)]:
        zs = torch.stack([(1 - t) * z[a] + t * z[b] for t in ts])
        rows.append((f"faces {a}→{b}", model.split(model.decode_grid(zs))[0].clamp(0, 1)))
    image_grid(rows, out_png, "Linear interpolation of latent maps Z (t = 0 … 1, left to right)")


@torch.no_grad()
def principal_directions_figure(model, images: torch.Tensor, out_png: Path, seed: int,
                                k: int = 4, steps: int = 7) -> torch.Tensor:
    """Move the mean Z along the top-k principal directions of Z over `images`, ±3 σ."""
    z = torch.cat([encode_through(model, images[i:i + 256], seed)
                   for i in range(0, images.shape[0], 256)])
    flat = z.flatten(1)  # (N, C_z·H·W)
    mean = flat.mean(0)
    with torch.random.fork_rng(devices=[]):  # a randomized SVD: seeded, as the run is
        torch.manual_seed(seed)
        _, s, v = torch.pca_lowrank(flat - mean, q=k, center=False)
    sigma = s / (flat.shape[0] - 1) ** 0.5  # std of the data along each direction
    rows = []
    for j in range(k):
        coeffs = torch.linspace(-3, 3, steps) * sigma[j]
        zs = (mean + coeffs[:, None] * v[:, j]).reshape(steps, *z.shape[1:])
        rows.append((f"PC {j + 1}", model.split(model.decode_grid(zs))[0].clamp(0, 1)))
    image_grid(rows, out_png, "Mean latent map moved along principal directions "
                              "(−3σ … +3σ, left to right)")
    return s ** 2 / ((flat - mean) ** 2).sum()  # explained variance ratios (one normalisation)


def check_log(log_csv, fieldnames: list[str] | None = None) -> list[str]:
    """A training log.csv's column names (read from the file if not given), or a one-line
    ValueError for a file that is not one."""
    if fieldnames is None:
        with open(log_csv) as f:
            fieldnames = csv.DictReader(f).fieldnames
    if not fieldnames or "step" not in fieldnames or "loss" not in fieldnames:
        raise ValueError(f"--log {log_csv} is not a training log.csv (no step and loss "
                         f"columns: {', '.join(fieldnames or ['none'])})")
    return fieldnames


def _deduplicated_log(log_csv: Path, out_csv: Path) -> Path:
    """A log whose resumed stretches repeat steps keeps the last row of each step."""
    rows: dict[int, dict] = {}
    with open(log_csv) as f:
        reader = csv.DictReader(f)
        fieldnames = check_log(log_csv, reader.fieldnames)
        for row in reader:
            rows[int(row["step"])] = row
    with open(out_csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames)
        w.writeheader()
        w.writerows(rows[s] for s in sorted(rows))
    return out_csv


def reproduce_command(data, out, checkpoint, split, seed, limit, log_csv) -> str:
    """The `impaint reproduce` line that repeats a run: every argument away from its default."""
    import shlex

    words = ["impaint", "reproduce", "--data", str(data), "--out", str(out)]
    for flag, value, default in [("--checkpoint", checkpoint, None), ("--split", split, "valid"),
                                 ("--seed", seed, 0), ("--limit", limit or 0, 500),
                                 ("--log", log_csv, None)]:
        if value != default:
            words += [flag, str(value)]
    return shlex.join(words)


def run_reproduce(data: str | Path, out: str | Path, checkpoint: str | Path | None = None,
                  split: str = "valid", seed: int = 0, limit: int | None = 500,
                  log_csv: str | Path | None = None, evaluate_table: bool = True) -> Path:
    """The seed's figures and tables into out/REPORT.md, which names the command that
    repeats them."""
    command = reproduce_command(data, out, checkpoint, split, seed, limit, log_csv)
    if log_csv and not Path(log_csv).is_file():  # given, it is meant: before the work
        raise ValueError(f"--log {log_csv} not found (a run's log.csv; leave --log out to "
                         f"use the one beside the checkpoint)")
    if log_csv:
        check_log(log_csv)
    model = load_model(checkpoint)
    size = model.image_size or 32
    name = str(checkpoint or "celeba32")
    dataset, _ = scored_images("reproduce", data, split, size, False, False, limit,
                               {name: model})
    if len(dataset.images) < 8:  # every figure shows the same 8
        raise ValueError(f"reproduce shows 8 images in every figure; {data} gives "
                         f"{len(dataset.images)}{' (--limit 8 or more)' if limit else ''}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    all_images = dataset.images.float() / 255.0
    pick = torch.randperm(all_images.shape[0], generator=torch.Generator().manual_seed(seed))[:8]
    images = all_images[pick]
    report = ["# impaint: the seed's experiments, reproduced\n",
              f"Model: `{checkpoint or shipped_weights_path().name}` "
              f"({model.checkpoint_state.get('parameters', '?')} parameters, trained "
              f"{model.checkpoint_state.get('step', '?')} steps). Data: `{data}`, split "
              f"`{split}`, {all_images.shape[0]} images, the same 8 (seed {seed}) in every "
              f"inpainting figure. Command: `{command}`.\n"]

    log_csv = Path(log_csv) if log_csv else _default_log(checkpoint)
    if log_csv and log_csv.exists():
        clean = _deduplicated_log(log_csv, out / "training_log.csv")
        training_curve(clean, out / "training_curve.png")
        report += ["## 1. Training curve\n", "![training curve](training_curve.png)\n"]
    else:
        report += ["## 1. Training curve\n", "No training log found for this checkpoint.\n"]

    for n, (stem, (title, gen)) in enumerate(FIGURES.items(), start=2):
        value = inpainting_figure(model, images, gen, title, out / f"{stem}.png", seed)
        report += [f"## {n}. {title}\n", f"![{title}]({stem}.png)\n",
                   f"Mean PSNR on the hole over these 8 images: {value:.2f} dB.\n"]

    interpolation_figure(model, images, out / "latent_interpolation.png", seed)
    ratios = principal_directions_figure(model, all_images, out / "latent_pca.png", seed)
    report += ["## 6. Exploring the latent space\n",
               "Faces are encoded through one fixed random mask (hole ratio 0.5, the same for "
               "all), so their latent maps differ only by the faces; decoding uses every "
               "pixel centre (no composition).\n",
               "![interpolation](latent_interpolation.png)\n",
               "![principal directions](latent_pca.png)\n",
               "Share of the latent variance along the first principal directions: "
               + ", ".join(f"PC{i + 1} {r:.1%}" for i, r in enumerate(ratios.tolist())) + ".\n"]

    if evaluate_table:
        from ..evaluation.evaluate import evaluate_for_report
        table = evaluate_for_report(dataset.images, checkpoint, out / "evaluation", seed)
        report += [f"## 7. Results on the {split} split\n", table + "\n"]
    (out / "REPORT.md").write_text("\n".join(report))
    return out / "REPORT.md"


# The log of each shipped model's (last) training run, beside its weights
SHIPPED_LOGS = {"celeba32": "training_log.csv", "general": "general_training_log_stage3.csv"}


def _default_log(checkpoint) -> Path | None:
    """A shipped model's training log lies beside its weights (`faces`: general's); a run's
    log.csv beside its checkpoint file. A name that is no file here has none."""
    name = "celeba32" if checkpoint is None else str(checkpoint)
    name = PAIRS.get(name, (name,))[0]
    if name in SHIPPED and (checkpoint is None or not Path(checkpoint).exists()):
        return shipped_weights_path(name).with_name(SHIPPED_LOGS[name])
    candidate = Path(checkpoint).with_name("log.csv")
    return candidate if Path(checkpoint).is_file() and candidate.exists() else None

