"""The tables `evaluate` makes (Results): Markdown per metric, and results.csv, results.json,
results.md and the grids written into its output folder."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .baselines import BASELINES
from ..data.masks import TABLE_MASKS
from .metrics import PSNR_CAP


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
        for r in self.rows:
            if (r["method"], r["family"], r["label"]) == (method, family, label):
                return r
        raise KeyError(f"no row for {method} on {family} {label}: methods "
                       f"{', '.join(self.methods)}; masks "
                       f"{', '.join(sorted({r['family'] + ' ' + r['label'] for r in self.rows}))}")

    def __repr__(self) -> str:  # a notebook shows this: not every row's every number
        masks = len(self.rows) // max(1, len(self.methods))
        return (f"Results({len(self.methods)} methods x {masks} masks on "
                f"{self.config.get('images')} images: {', '.join(self.methods)}; .table() for "
                f"PSNR on the hole, .rows for all)")

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
