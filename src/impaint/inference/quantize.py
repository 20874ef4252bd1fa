"""int8 graphs for OpenVINO: the exported graph quantized after training, with accuracy control.

NNCF (OpenVINO's compression library) calibrates int8 convolutions on the user's images with
training-like masks, then puts back into bf16/fp32 the layers that cost the most PSNR until the
worst of a few mask rows, on held-out images of the same folder, is within `max_drop` dB of the
fp32 graph. The decoder's matmuls stay in floating point: quantizing them cost the most quality
for the least speed. On the shipped `celeba32`, calibrated on CelebA's train split, every row
of the 32-px table stayed within 0.03 dB and it ran faster than OpenCV Telea (docs/speed.md).
How many layers the control puts back, and so the speed, varies with the held-out set: with
256 held-out images and 5 rows it kept 4 of 18 int8 (no faster than bf16), with 341 images
and the tables' 11 rows 9 of 18.

Needs the images to calibrate on (a CelebA root or any folder: nothing ships with impaint) and
`pip install 'impaint[int8]'`. The output is OpenVINO's IR: `NAME.xml` and `NAME.bin`, run with
`--backend openvino --checkpoint NAME.xml`.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import torch

from ..data import DataError, open_dataset
from ..data.masks import TABLE_MASKS, MixtureMask, mask_batch
from ..evaluation.metrics import psnr
from ..model.checkpoint import paired
from ..outputs import temporary_name
from .onnx_backend import require
from .onnx_export import BackendError, cached_export

MAX_DROP = 0.05  # dB on the worst validation row: the 32-px table moved at most 0.05 dB
MIN_IMAGES = 48  # fewer cannot both calibrate and hold some out
# The rows the quantized graph must keep: those of the results tables, bar the full mask
VALIDATION_MASKS = {f"{family} {label}": gen for family, rows in TABLE_MASKS.items()
                    if family != "full" for label, gen in rows.items()}


def nncf_available() -> bool:
    return importlib.util.find_spec("nncf") is not None


def _row_psnrs(run, images: torch.Tensor, rows: list[tuple[str, np.ndarray]]) -> np.ndarray:
    """Mean hole PSNR of each validation row; `run(feeds)` returns the graph's outputs."""
    out = []
    for _, feeds in rows:
        filled = torch.from_numpy(np.asarray(run(feeds)[0]))
        masks = torch.from_numpy(feeds["mask"])
        out.append(np.mean([psnr(f, t, 1 - m) for f, t, m in zip(filled, images, masks)]))
    return np.array(out)


def quantize_int8(checkpoint, calibration: str | Path, out: str | Path, images: int = 1024,
                  max_drop: float = MAX_DROP) -> tuple[Path, float]:
    """Write the int8 graph of `checkpoint` (None = the shipped model) to `out` (.xml, plus its
    .bin), calibrated on the first `images` images of `calibration` (two thirds calibrate,
    one third validates). -> (the .xml path, the worst validation row's drop in dB)."""
    require("openvino")
    if not nncf_available():
        raise BackendError("int8 quantization needs NNCF: pip install 'impaint[int8]'")
    out = Path(out)
    if out.suffix != ".xml":
        raise BackendError(f"an int8 graph is OpenVINO IR: name it NAME.xml, not {out.name}")
    from ..model import load_model

    if pair := paired(checkpoint):  # "faces": the graph is its fine model's, as fp32's is
        checkpoint = pair[0]
    size = (getattr(load_model(checkpoint), "checkpoint_state", {}).get("image_size") or 32)
    data = open_dataset(calibration, "train", size, limit=images).images.float() / 255
    if data.shape[0] < MIN_IMAGES:
        raise DataError(f"{calibration} has {data.shape[0]} images; int8 calibration needs at "
                        f"least {MIN_IMAGES}")
    import logging

    import nncf
    import openvino as ov

    nncf.set_log_level(logging.WARNING)  # its per-step INFO lines; the caller prints a summary
    n_cal = data.shape[0] * 2 // 3
    cal, val = data[:n_cal], data[n_cal:]
    gen = torch.Generator().manual_seed(0)
    cal_masks = mask_batch(MixtureMask(), n_cal, size, size, gen)
    batches = [{"image": cal[i:i + 16].numpy(), "mask": cal_masks[i:i + 16].numpy()}
               for i in range(0, n_cal, 16)]
    rows = [(name, {"image": val.numpy(),
                    "mask": mask_batch(m, val.shape[0], size, size, gen).numpy()})
            for name, m in VALIDATION_MASKS.items()]

    core = ov.Core()
    model = core.read_model(str(cached_export(checkpoint)))
    fp32 = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    reference = dict(zip((name for name, _ in rows), _row_psnrs(fp32, val, rows)))

    def validate(compiled, data_rows) -> float:
        # 100 = the fp32 graph; the drop is that of the worst row, in dB. NNCF ranks layers
        # on a subset of the rows: each row is compared with its own reference, by name.
        data_rows = list(data_rows)
        psnrs = _row_psnrs(compiled, val, data_rows)
        return 100.0 + float(min(v - reference[name] for (name, _), v in zip(data_rows, psnrs)))

    quantized = nncf.quantize_with_accuracy_control(
        model, nncf.Dataset(batches), nncf.Dataset(rows), validation_fn=validate,
        max_drop=max_drop, drop_type=nncf.DropType.ABSOLUTE,
        # subset_size counts the Dataset's items, batches of 16: every calibration image
        preset=nncf.QuantizationPreset.MIXED, subset_size=len(batches),
        ignored_scope=nncf.IgnoredScope(types=["MatMul"]))
    drop = 100.0 - validate(core.compile_model(quantized, "CPU"), rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(out.with_suffix(""), ".tmp.xml")  # then renamed: no half graph
    try:
        ov.save_model(quantized, tmp, compress_to_fp16=False)
        # The old .xml goes first: a kill between the renames leaves no graph, never an old
        # .xml beside a new .bin.
        out.unlink(missing_ok=True)
        os.replace(tmp.with_suffix(".bin"), out.with_suffix(".bin"))
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        tmp.with_suffix(".bin").unlink(missing_ok=True)
        raise
    return out, drop
